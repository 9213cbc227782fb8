"""Security checks: secrets never leak, https is enforced, CSV formulas as documented."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import lucca_sync
from fake_clock import FakeClock
from lucca_sync import ApiKey, LuccaDirectory, plan, sync
from lucca_sync.elevo import ElevoSink
from lucca_sync.exceptions import ConfigurationError, LuccaSyncError
from lucca_sync.testing import FakeLucca, MemorySink, make_lucca_user

from ._support import TODAY, OnPage, company, directory, file_rows

KEY_ENV = "LUCCA_SYNC_RELIABILITY_KEY"
DOCS = Path(__file__).resolve().parents[2] / "docs"


def exception_texts(error: BaseException) -> str:
    """Every text an exception carries: str, repr, notes, and those of its causes."""
    texts: list[str] = []
    seen: BaseException | None = error
    while seen is not None:
        texts += [str(seen), repr(seen), *getattr(seen, "__notes__", [])]
        texts += [repr(arg) for arg in seen.args]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(texts)


class TestSecretsNeverLeak:
    """The API key (and a client secret) appear in no log line, repr, error, plan or report."""

    def test_key_absent_from_logs_errors_plans_and_reports(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)  # every level, urllib3's debug lines included
        clock = FakeClock()
        texts: list[str] = []
        users = company(30)
        with FakeLucca(users, today=TODAY) as fake:
            key = fake.api_key
            echo = {"Message": f"bad key {key}", "detail": f"lucca application={key}"}
            fake.fail_next(503, body=echo)
            fake.reset_next()
            fake.fail_next(429, retry_after=2)
            reader = directory(fake, clock, page_size=10)
            sink = MemorySink()
            report = sync(reader, sink, today=TODAY)
            texts += [report.to_json(), report.plan.to_json(), report.summary(), repr(report)]
            texts += [
                repr(reader),
                repr(reader.list_employees()),
                repr(ApiKey(key)),
                str(ApiKey(key)),
            ]
            for status in (401, 403, 400, 500):
                fake.fail_next(status, body=echo, times=10)
                with pytest.raises(LuccaSyncError) as raised:
                    plan(directory(fake, clock, retries=1), sink, today=TODAY)
                texts.append(exception_texts(raised.value))
                fake.clear_faults()
            fake.before_response = OnPage(fake, lambda f: f.fail_next(401, body=echo), offset=9)
            with pytest.raises(LuccaSyncError) as raised:
                sync(directory(fake, clock, page_size=10), sink, today=TODAY)
            texts.append(exception_texts(raised.value))
        texts += [record.getMessage() for record in caplog.records]
        texts += [caplog.text]
        assert len(caplog.records) > 20  # the run did log, at every level
        assert "lucca application=<redacted>" in "\n".join(texts)  # Lucca's message is kept ...
        assert all(key not in text for text in texts)  # ... with the key redacted

    def test_key_absent_from_construction_errors(self) -> None:
        secret = "s3cr3t-KEY-0123456789"
        with pytest.raises(ConfigurationError) as raised:
            LuccaDirectory("http://acme.ilucca.net", ApiKey(secret), page_size=0)
        assert secret not in exception_texts(raised.value)
        with pytest.raises(ConfigurationError) as bad_key:
            ApiKey(secret + "\n")
        assert secret not in exception_texts(bad_key.value)

    def test_client_secret_absent_from_reprs_when_available(self) -> None:
        credentials_type = getattr(lucca_sync, "ClientCredentials", None)
        if credentials_type is None:
            pytest.skip("lucca_sync.ClientCredentials is not available in this version")
        secret = "client-SECRET-0123456789abcdef"
        credentials = credentials_type("client-id-42", secret)
        reader = LuccaDirectory("https://acme.ilucca.net", credentials)
        texts = [repr(credentials), str(credentials), repr(reader)]
        with pytest.raises(ConfigurationError) as raised:
            LuccaDirectory("http://acme.ilucca.net", credentials)
        texts.append(exception_texts(raised.value))
        assert all(secret not in text for text in texts)

    def test_key_absent_from_cli_output(self, tmp_path: Path) -> None:
        with FakeLucca(company(20), today=TODAY) as fake:
            (tmp_path / "drop").mkdir()
            config = tmp_path / "lucca-sync.toml"
            config.write_text(
                f'[lucca]\nurl = "{fake.url}"\napi_key_env = "{KEY_ENV}"\nretries = 0\n'
                '[sink]\ntype = "directory"\npath = "drop"\nstate_dir = "state"\n',
                encoding="utf-8",
            )
            env = {**os.environ, KEY_ENV: fake.api_key}
            outputs = []
            for fault in (None, 401):
                if fault is not None:
                    fake.fail_next(fault, body={"Message": f"no {fake.api_key}"})
                done = subprocess.run(
                    [sys.executable, "-m", "lucca_sync", "-vv", "--debug", "apply",
                     "--config", str(config)],
                    capture_output=True, text=True, env=env, timeout=60, check=False,
                )  # fmt: skip
                outputs.append((done.returncode, done.stdout + done.stderr))
        assert outputs[0][0] == 0
        assert outputs[1][0] != 0
        assert "lucca_sync.http" in outputs[0][1]  # -vv logged the requests
        assert all(fake.api_key not in text for _, text in outputs)


class TestTransport:
    """The key only travels over https, except to loopback test servers."""

    @pytest.mark.parametrize(
        "url",
        [
            "http://acme.ilucca.net",
            "http://10.0.0.1",
            "http://127.0.0.1.nip.io",
            "http://localhost.acme.example",
            "ftp://acme.ilucca.net",
            "https://user:pass@acme.ilucca.net",
        ],
    )
    def test_off_loopback_http_is_refused(self, url: str) -> None:
        with pytest.raises(ConfigurationError):
            LuccaDirectory(url, ApiKey("k"))

    @pytest.mark.parametrize(
        "url",
        ["https://acme.ilucca.net", "http://127.0.0.1:8080", "http://localhost", "http://[::1]:80"],
    )
    def test_https_and_loopback_are_accepted(self, url: str) -> None:
        assert LuccaDirectory(url, ApiKey("k")).base_url == url


class TestSpreadsheetFormulas:
    """Values starting with =, +, -, @ are written unchanged, as the Elevo file reference says."""

    @pytest.mark.parametrize(
        "value", ["=1+1", "+33 6 12", "-Dupont", "@SUM(A1)", '=HYPERLINK("x")', "\t=1"]
    )
    def test_formula_like_values_are_written_as_they_are(self, value: str, tmp_path: Path) -> None:
        (tmp_path / "drop").mkdir()
        sink = ElevoSink.to_directory(tmp_path / "drop", state_dir=tmp_path / "state")
        user = make_lucca_user(
            id=7, mail="z@acme.example", jobTitle=value, dtContractStart="2020-01-06T00:00:00",
            dtContractEnd=None, manager=None,
        )  # fmt: skip
        with FakeLucca([user], today=TODAY) as fake:
            clock = FakeClock()
            assert sync(directory(fake, clock), sink, today=TODAY).ok
        assert file_rows(tmp_path / "drop" / "users.csv")["7"]["job_title"] == value

    def test_the_risk_is_documented_for_spreadsheet_users(self) -> None:
        page = (DOCS / "reference" / "elevo-file.md").read_text(encoding="utf-8")
        assert "## Values that look like formulas" in page
        assert "writes such values as they are" in " ".join(page.replace("**", "").split())
        assert "Excel" in page
