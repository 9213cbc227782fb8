"""lucca-sync with ``[sink.encryption]``: check shows Elevo's key, a bad key stops a run."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gnupg import GnuPG
from lucca_sync.testing import FakeLucca
from test_cli import KEY_ENV, run_cli
from test_elevo_encryption import COMPANY, decrypt, sequoia_key


def write_config(tmp_path: Path, fake: FakeLucca, encryption: str) -> Path:
    (tmp_path / "drop").mkdir(exist_ok=True)
    path = tmp_path / "lucca-sync.toml"
    path.write_text(
        f"""
[lucca]
url = "{fake.url}"
api_key_env = "{KEY_ENV}"

[sink]
type = "directory"
path = "drop"
state_dir = "state"

[sink.encryption]
{encryption}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def fake() -> Iterator[FakeLucca]:
    with FakeLucca(COMPANY) as server:
        yield server


class TestCommandLine:
    """``[sink.encryption]`` in the configuration; check shows the key; a bad key stops a run."""

    def test_check_shows_the_fingerprint_user_id_and_expiry(
        self, tmp_path: Path, fake: FakeLucca
    ) -> None:
        key_file, secret = sequoia_key(tmp_path, "Elevo", days=100)
        config = write_config(tmp_path, fake, f'key_file = "{key_file.name}"')
        result = run_cli("check", "--config", str(config))
        assert result.returncode == 0, result.stderr
        fingerprint = secret.extract_certificate().fingerprint.upper()
        expires = (datetime.now(UTC) + timedelta(days=100)).date().isoformat()
        assert f"OpenPGP key {fingerprint} (Elevo <elevo@elevo.example>)" in result.stdout
        assert f"expires {expires}" in result.stdout
        assert "warning" not in result.stdout
        report = json.loads(run_cli("--json", "check", "--config", str(config)).stdout)
        assert report["encryption"]["fingerprint"] == fingerprint
        assert report["encryption"]["expires_soon"] is False

    def test_check_warns_30_days_before_the_key_expires(
        self, tmp_path: Path, fake: FakeLucca
    ) -> None:
        key_file, _ = sequoia_key(tmp_path, "Elevo", days=20)
        config = write_config(tmp_path, fake, f'key_file = "{key_file.name}"')
        result = run_cli("check", "--config", str(config))
        assert result.returncode == 0, result.stderr
        assert re.search(r"warning: Elevo's OpenPGP key expires in (19|20) day", result.stdout)

    def test_apply_delivers_only_the_encrypted_file(self, tmp_path: Path, fake: FakeLucca) -> None:
        key_file, secret = sequoia_key(tmp_path, "Elevo")
        config = write_config(tmp_path, fake, f'key_file = "{key_file}"\narmor = true')
        env = {KEY_ENV: fake.api_key}
        plan_file = tmp_path / "plan.json"
        # A first publication: planned for review, then applied by its digest.
        assert (
            run_cli("plan", "--config", str(config), "--json", str(plan_file), env=env).returncode
            == 3
        )
        digest = json.loads(plan_file.read_text(encoding="utf-8"))["digest"]
        result = run_cli(
            "apply",
            "--config",
            str(config),
            "--plan",
            str(plan_file),
            "--expect-digest",
            digest,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        assert [p.name for p in (tmp_path / "drop").iterdir()] == ["users.csv.asc"]
        data = (tmp_path / "drop" / "users.csv.asc").read_bytes()
        assert data.startswith(b"-----BEGIN PGP MESSAGE-----")
        assert decrypt(secret, data).startswith(b"uniq_identifier,")

    def test_a_bad_fingerprint_is_a_configuration_problem(
        self, tmp_path: Path, fake: FakeLucca
    ) -> None:
        config = write_config(tmp_path, fake, 'key_file = "elevo.asc"\nfingerprint = "xyz"')
        result = run_cli("check", "--config", str(config))
        assert result.returncode == 2
        assert "sink.encryption.fingerprint: expected the 40" in result.stderr

    @pytest.mark.gpg
    def test_a_revoked_key_stops_apply_before_lucca_is_read(
        self, gpg: GnuPG, tmp_path: Path, fake: FakeLucca
    ) -> None:
        fingerprint = gpg.generate("Revoked CLI <revoked-cli@elevo.example>")
        gpg.revoke(fingerprint)
        gpg.export(fingerprint, tmp_path / "elevo.asc")
        config = write_config(tmp_path, fake, 'key_file = "elevo.asc"')
        result = run_cli("apply", "--config", str(config), env={KEY_ENV: fake.api_key})
        assert result.returncode == 2
        assert f"{fingerprint} ({tmp_path / 'elevo.asc'}) is revoked" in result.stderr
        assert fake.requests == []
        assert list((tmp_path / "drop").iterdir()) == []
