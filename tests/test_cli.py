"""The lucca-sync command line, run as a subprocess against FakeLucca over loopback."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from lucca_sync import Plan
from lucca_sync.cli._main import _fail
from lucca_sync.cli._progress import Progress
from lucca_sync.exceptions import APIConnectionError
from lucca_sync.testing import FakeLucca, generate_company

KEY_ENV = "LUCCA_SYNC_TEST_KEY"
CLIENT_ID_ENV = "LUCCA_SYNC_TEST_CLIENT_ID"
CLIENT_SECRET_ENV = "LUCCA_SYNC_TEST_CLIENT_SECRET"
COMMANDS = ("demo", "plan", "apply", "preview", "check", "history")


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    ours = (KEY_ENV, CLIENT_ID_ENV, CLIENT_SECRET_ENV)
    environment = {k: v for k, v in os.environ.items() if k not in ours}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "lucca_sync", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def publish_first(
    config: Path, env: dict[str, str]
) -> tuple[Plan, subprocess.CompletedProcess[str]]:
    """The first publication to the account, as an operator does it: plan, review, apply."""
    plan_file = config.parent / "first-plan.json"
    planned = run_cli("plan", "--config", str(config), "--json", str(plan_file), env=env)
    assert planned.returncode == 3, planned.stderr  # the first publication needs its digest
    assert "first publication to the Elevo account" in planned.stderr
    plan = Plan.from_json(plan_file.read_text(encoding="utf-8"))
    applied = run_cli(
        "apply", "--config", str(config), "--plan", str(plan_file),
        "--expect-digest", plan.digest, env=env,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    return plan, applied


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def fake() -> Iterator[FakeLucca]:
    with FakeLucca(generate_company(40, seed=3)) as server:
        yield server


@pytest.fixture
def config(tmp_path: Path, fake: FakeLucca) -> Path:
    (tmp_path / "drop").mkdir()
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
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def key(fake: FakeLucca) -> dict[str, str]:
    return {KEY_ENV: fake.api_key}


def edit(config: Path, old: str, new: str) -> None:
    text = config.read_text(encoding="utf-8")
    assert old in text
    config.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture
def oauth_config(config: Path, fake: FakeLucca) -> Path:
    """The same configuration, reading the Lucca API with an OAuth client."""
    edit(
        config,
        f'api_key_env = "{KEY_ENV}"',
        f'client_id_env = "{CLIENT_ID_ENV}"\nclient_secret_env = "{CLIENT_SECRET_ENV}"\n'
        f'token_url = "{fake.token_url}"',
    )
    return config


@pytest.fixture
def client(fake: FakeLucca) -> dict[str, str]:
    return {CLIENT_ID_ENV: fake.client_id, CLIENT_SECRET_ENV: fake.client_secret}


class TestHelpAndVersion:
    """Every command documents itself; --version names the installed version."""

    def test_help_lists_every_command_and_the_exit_codes(self) -> None:
        result = run_cli("--help")
        assert result.returncode == 0
        for command in COMMANDS:
            assert command in result.stdout
        assert "3  safety stop" in result.stdout

    @pytest.mark.parametrize("command", COMMANDS)
    def test_every_command_has_help(self, command: str) -> None:
        result = run_cli(command, "--help")
        assert result.returncode == 0
        assert result.stdout.startswith(f"usage: lucca-sync {command}")

    def test_version_is_the_package_version(self) -> None:
        result = run_cli("--version")
        assert result.returncode == 0
        assert result.stdout.strip() == f"lucca-sync {version('lucca-sync')}"

    def test_missing_command_is_a_usage_error(self) -> None:
        result = run_cli()
        assert result.returncode == 2
        assert "lucca-sync: error:" in last_line(result.stderr)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One demo run (with a JSON report) shared by the demo tests."""
    folder = tmp_path_factory.mktemp("demo")
    result = run_cli("--json", "demo", "--dir", "out", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder, json.loads(result.stdout)


class TestDemo:
    """The demo runs the whole pipeline offline, in an empty folder."""

    def test_demo_prints_counts_and_the_file_path(self, tmp_path: Path) -> None:
        result = run_cli("demo", "--size", "60", "--seed", "2", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        rows = csv_rows(tmp_path / "lucca-sync-demo" / "elevo-drop" / "users.csv")
        # The third run adds a hire and drops a leaver: the file has as many rows as the first
        # run created.
        assert f"Applied: {len(rows)} created" in result.stdout
        assert "Elevo file: lucca-sync-demo/elevo-drop/users.csv" in result.stdout
        assert "Nothing to write" in result.stdout
        assert "1 to create, 1 to update, 1 to suspend" in result.stdout

    def test_first_run_writes_the_elevo_file(self, demo: tuple[Path, dict[str, Any]]) -> None:
        folder, report = demo
        rows = csv_rows(folder / "out" / "elevo-drop" / "users.csv")
        first = report["runs"][0]
        # The file holds the users created by the first run plus the third run's hire, minus
        # the leaver it suspended.
        assert len(rows) == first["counts"]["creates"]
        assert first["written"] is True
        assert {"uniq_identifier", "email", "first_name"} <= set(rows[0])

    def test_second_run_plans_nothing_and_writes_nothing(
        self, demo: tuple[Path, dict[str, Any]]
    ) -> None:
        second = demo[1]["runs"][1]
        actions = ("creates", "updates", "suspensions", "reactivations", "excludes")
        assert all(second["counts"][kind] == 0 for kind in actions)
        assert second["written"] is False

    def test_third_run_applies_a_leaver_a_hire_and_a_title_change(
        self, demo: tuple[Path, dict[str, Any]]
    ) -> None:
        folder, report = demo
        third = report["runs"][2]
        counts = third["counts"]
        assert (counts["creates"], counts["updates"], counts["suspensions"]) == (1, 1, 1)
        assert counts["reactivations"] == counts["excludes"] == 0
        changes = report["changes"]
        rows = {
            row["uniq_identifier"]: row
            for row in csv_rows(folder / "out" / "elevo-drop" / "users.csv")
        }
        assert str(changes["hire"]) in rows
        assert str(changes["leaver"]) not in rows
        assert rows[str(changes["title_change"])]["job_title"] == "Responsable qualité"

    def test_malformed_record_is_reported_not_fatal(
        self, demo: tuple[Path, dict[str, Any]]
    ) -> None:
        first = demo[1]["runs"][0]
        assert first["counts"]["errors"] >= 1

    def test_demo_is_deterministic(self, tmp_path: Path, demo: tuple[Path, dict[str, Any]]) -> None:
        result = run_cli("--json", "demo", "--dir", "again", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        ours = (tmp_path / "again" / "elevo-drop" / "users.csv").read_bytes()
        assert ours == (demo[0] / "out" / "elevo-drop" / "users.csv").read_bytes()
        # The fake Lucca listens on another port each time; the plans must not notice. The
        # first plan names the account it publishes to for the first time (another folder).
        digests = [run["digest"] for run in json.loads(result.stdout)["runs"]]
        assert digests[1:] == [run["digest"] for run in demo[1]["runs"]][1:]

    def test_demo_refuses_a_folder_it_did_not_make(self, tmp_path: Path) -> None:
        (tmp_path / "mine").mkdir()
        (tmp_path / "mine" / "notes.txt").write_text("keep me", encoding="utf-8")
        result = run_cli("demo", "--dir", "mine", cwd=tmp_path)
        assert result.returncode == 2
        assert (tmp_path / "mine" / "notes.txt").read_text(encoding="utf-8") == "keep me"
        assert last_line(result.stderr).startswith("lucca-sync: error: --dir:")


class TestPlan:
    """plan reads Lucca and the target and prints the plan, writing nothing to the target."""

    def test_plan_prints_a_plan_and_writes_nothing(
        self, config: Path, key: dict[str, str], fake: FakeLucca
    ) -> None:
        result = run_cli("plan", "--config", str(config), env=key)
        assert result.returncode == 3, result.stderr  # a first publication: to review
        assert "first publication" in result.stdout
        assert "creates" in result.stdout
        assert "digest: " in result.stdout
        assert list((config.parent / "drop").iterdir()) == []
        assert any(r.path == "/api/v3/users" for r in fake.requests)

    def test_plan_json_writes_a_reviewable_plan_file(
        self, config: Path, key: dict[str, str]
    ) -> None:
        plan_file = config.parent / "plan.json"
        result = run_cli("plan", "--config", str(config), "--json", str(plan_file), env=key)
        assert result.returncode == 3, result.stderr  # a first publication: to review
        plan = Plan.from_json(plan_file.read_text(encoding="utf-8"))
        assert plan.creates
        assert f"digest: {plan.digest}" in result.stdout
        # The safety stop's message gives the exact apply command (on stderr).
        assert f"--expect-digest {plan.digest}" in result.stdout + result.stderr

    def test_global_json_prints_the_plan_as_json(self, config: Path, key: dict[str, str]) -> None:
        result = run_cli("--json", "plan", "--config", str(config), env=key)
        assert result.returncode == 3, result.stderr  # a first publication: to review
        plan = Plan.from_json(result.stdout)
        assert plan.creates

    def test_no_progress_when_stderr_is_not_a_terminal(
        self, config: Path, key: dict[str, str]
    ) -> None:
        result = run_cli("plan", "--config", str(config), env=key)
        assert "Reading Lucca" not in result.stderr


class TestApply:
    """apply carries out a reviewed plan exactly, or plans and applies."""

    def test_apply_without_plan_writes_the_file_then_nothing_is_left_to_do(
        self, config: Path, key: dict[str, str], fake: FakeLucca
    ) -> None:
        refused = run_cli("apply", "--config", str(config), env=key)
        assert refused.returncode == 3  # the first publication is reviewed, never automatic
        assert "first publication" in refused.stderr
        assert not (config.parent / "drop" / "users.csv").exists()
        publish_first(config, key)
        fake.update_user(int(str(fake.users[0]["id"])), jobTitle="Chief Reviewer")
        result = run_cli("apply", "--config", str(config), env=key)
        assert result.returncode == 0, result.stderr
        rows = csv_rows(config.parent / "drop" / "users.csv")
        assert rows
        again = run_cli("--json", "plan", "--config", str(config), env=key)
        assert Plan.from_json(again.stdout).is_empty

    def test_apply_reviewed_plan_with_its_digest(self, config: Path, key: dict[str, str]) -> None:
        plan_file = config.parent / "plan.json"
        run_cli("plan", "--config", str(config), "--json", str(plan_file), env=key)
        plan = Plan.from_json(plan_file.read_text(encoding="utf-8"))
        result = run_cli(
            "apply", "--config", str(config), "--plan", str(plan_file),
            "--expect-digest", plan.digest, env=key,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        rows = csv_rows(config.parent / "drop" / "users.csv")
        assert {row["uniq_identifier"] for row in rows} == {c.key for c in plan.creates}

    def test_a_digest_pasted_in_capitals_with_blanks_applies_the_reviewed_plan(
        self, config: Path, key: dict[str, str]
    ) -> None:
        plan_file = config.parent / "plan.json"
        run_cli("plan", "--config", str(config), "--json", str(plan_file), env=key)
        plan = Plan.from_json(plan_file.read_text(encoding="utf-8"))
        result = run_cli(
            "apply", "--config", str(config), "--plan", str(plan_file),
            "--expect-digest", f" {plan.digest.upper()}\n", env=key,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert len(csv_rows(config.parent / "drop" / "users.csv")) == len(plan.creates)

    def test_apply_refuses_a_plan_file_without_the_reviewed_digest(
        self, config: Path, key: dict[str, str], tmp_path: Path
    ) -> None:
        plan_file = tmp_path / "plan.json"
        planned = run_cli("plan", "--config", str(config), "--json", str(plan_file), env=key)
        assert planned.returncode == 3, planned.stderr  # a first publication: to review
        result = run_cli("apply", "--config", str(config), "--plan", str(plan_file), env=key)
        assert result.returncode == 2
        assert "--expect-digest" in last_line(result.stderr)
        assert not (config.parent / "drop" / "users.csv").exists()

    def test_apply_refuses_a_plan_whose_digest_differs(
        self, config: Path, key: dict[str, str]
    ) -> None:
        plan_file = config.parent / "plan.json"
        run_cli("plan", "--config", str(config), "--json", str(plan_file), env=key)
        result = run_cli(
            "apply", "--config", str(config), "--plan", str(plan_file),
            "--expect-digest", "0" * 64, env=key,
        )  # fmt: skip
        assert result.returncode == 1
        assert last_line(result.stderr).startswith("lucca-sync: error:")
        assert "digest" in last_line(result.stderr)
        assert not (config.parent / "drop" / "users.csv").exists()

    def test_a_replayed_plan_file_is_refused_and_says_how_to_plan_again(
        self, config: Path, key: dict[str, str], fake: FakeLucca
    ) -> None:
        publish_first(config, key)
        fake.update_user(int(str(fake.users[0]["id"])), jobTitle="Chief Reviewer")
        plan_file = config.parent / "plan.json"
        planned = run_cli("plan", "--config", str(config), "--json", str(plan_file), env=key)
        assert "only while the target is as it is now (generation 1)" in planned.stdout
        digest = Plan.from_json(plan_file.read_text(encoding="utf-8")).digest
        apply = ("apply", "--config", str(config), "--plan", str(plan_file))
        assert run_cli(*apply, "--expect-digest", digest, env=key).returncode == 0
        published = (config.parent / "drop" / "users.csv").read_bytes()
        replayed = run_cli(*apply, "--expect-digest", digest, env=key)
        assert replayed.returncode == 1
        line = last_line(replayed.stderr)
        assert "planned against generation 1, target is now at 2 — plan again" in line
        assert f"lucca-sync plan --config {config} --json {plan_file}" in line
        assert (config.parent / "drop" / "users.csv").read_bytes() == published

    def test_a_plan_file_older_than_the_configured_age_is_refused(
        self, config: Path, key: dict[str, str]
    ) -> None:
        edit(config, "[sink]", "[sync]\nplan_max_age_hours = 1\n\n[sink]")
        plan_file = config.parent / "plan.json"
        run_cli("plan", "--config", str(config), "--json", str(plan_file), env=key)
        data = json.loads(plan_file.read_text(encoding="utf-8"))
        made = datetime.fromisoformat(data["created_at"])
        # Two hours earlier the same day keeps the digest; the plan is older than allowed.
        data["created_at"] = (made - timedelta(hours=2)).isoformat()
        if datetime.fromisoformat(data["created_at"]).date() != made.date():
            pytest.skip("too close to midnight UTC to move the plan within its day")
        plan_file.write_text(json.dumps(data), encoding="utf-8")
        result = run_cli(
            "apply", "--config", str(config), "--plan", str(plan_file),
            "--expect-digest", data["digest"], env=key,
        )  # fmt: skip
        assert result.returncode == 1
        assert "more than the 60 min a plan stays valid" in last_line(result.stderr)
        assert not (config.parent / "drop" / "users.csv").exists()

    def test_expect_digest_without_plan_is_a_usage_error(
        self, config: Path, key: dict[str, str]
    ) -> None:
        result = run_cli("apply", "--config", str(config), "--expect-digest", "abc", env=key)
        assert result.returncode == 2
        assert "--expect-digest" in last_line(result.stderr)


class TestErrors:
    """Failures end with one clear line and the documented exit code."""

    def test_bad_config_exits_2_naming_the_key(self, config: Path, key: dict[str, str]) -> None:
        config.write_text(
            config.read_text(encoding="utf-8").replace("[sink]", "timeout = 'ten'\n[sink]"),
            encoding="utf-8",
        )
        result = run_cli("plan", "--config", str(config), env=key)
        assert result.returncode == 2
        assert last_line(result.stderr).startswith("lucca-sync: error: lucca.timeout:")
        assert "Traceback" not in result.stderr

    def test_several_problems_are_listed_before_the_last_line(self, config: Path) -> None:
        config.write_text(
            config.read_text(encoding="utf-8").replace("[sink]", "timout = 3\n[sink]\nport = 1"),
            encoding="utf-8",
        )
        result = run_cli("check", "--config", str(config))
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert any("lucca: unknown key 'timout'" in line for line in lines[:-1])
        assert any("sink: unknown key 'port'" in line for line in lines[:-1])
        assert lines[-1].startswith("lucca-sync: error: configuration file")
        assert sum(line.startswith("lucca-sync: error:") for line in lines) == 1

    def test_missing_environment_variable_exits_2_naming_it(self, config: Path) -> None:
        result = run_cli("plan", "--config", str(config))
        assert result.returncode == 2
        assert KEY_ENV in last_line(result.stderr)

    def test_missing_config_file_exits_2(self, tmp_path: Path) -> None:
        result = run_cli("plan", "--config", str(tmp_path / "nope.toml"))
        assert result.returncode == 2
        assert "nope.toml" in last_line(result.stderr)

    def test_wrong_key_exits_1_without_printing_the_key(self, config: Path) -> None:
        secret = "wrong-key-0123456789"
        result = run_cli("plan", "--config", str(config), env={KEY_ENV: secret})
        assert result.returncode == 1
        assert last_line(result.stderr).startswith("lucca-sync: error:")
        assert secret not in result.stderr + result.stdout
        assert "Traceback" not in result.stderr

    def test_debug_shows_the_traceback(self, config: Path) -> None:
        result = run_cli("--debug", "plan", "--config", str(config), env={KEY_ENV: "x" * 20})
        assert result.returncode == 1
        assert "Traceback" in result.stderr
        assert last_line(result.stderr).startswith("lucca-sync: error:")


class TestSafetyStop:
    """A plan that trips a safety limit exits 3 and writes nothing."""

    def test_mass_departure_is_stopped(
        self, config: Path, key: dict[str, str], fake: FakeLucca
    ) -> None:
        publish_first(config, key)
        csv_path = config.parent / "drop" / "users.csv"
        before = csv_path.read_bytes()
        yesterday = f"{fake.today - timedelta(days=1)}T00:00:00"
        for user in fake.users[1:]:
            fake.update_user(int(str(user["id"])), dtContractEnd=yesterday)

        planned = run_cli("plan", "--config", str(config), env=key)
        assert planned.returncode == 3
        assert "SAFETY" in planned.stdout
        assert last_line(planned.stderr).startswith("lucca-sync: error:")

        applied = run_cli("apply", "--config", str(config), env=key)
        assert applied.returncode == 3
        assert csv_path.read_bytes() == before

    def test_reviewed_plan_over_the_limit_is_applied_with_its_digest(
        self, config: Path, key: dict[str, str], fake: FakeLucca
    ) -> None:
        publish_first(config, key)
        yesterday = f"{fake.today - timedelta(days=1)}T00:00:00"
        for user in fake.users[1:]:
            fake.update_user(int(str(user["id"])), dtContractEnd=yesterday)
        plan_file = config.parent / "plan.json"
        assert (
            run_cli("plan", "--config", str(config), "--json", str(plan_file), env=key).returncode
            == 3
        )
        plan = Plan.from_json(plan_file.read_text(encoding="utf-8"))
        result = run_cli(
            "apply", "--config", str(config), "--plan", str(plan_file),
            "--expect-digest", plan.digest, env=key,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert len(csv_rows(config.parent / "drop" / "users.csv")) == 1


class TestPreview:
    """preview explains the rules and the mapping for one employee."""

    def test_preview_shows_rules_and_field_provenance(
        self, config: Path, key: dict[str, str], fake: FakeLucca
    ) -> None:
        employee_id = int(str(fake.users[0]["id"]))
        result = run_cli("preview", "--config", str(config), str(employee_id), env=key)
        assert result.returncode == 0, result.stderr
        assert f"Employee {employee_id}" in result.stdout
        assert "skip_flag('e_skip_elevo_sync'): keeps" in result.stdout
        assert "job_title" in result.stdout
        assert "<- job_title" in result.stdout

    def test_preview_json_gives_the_mapped_values(
        self, config: Path, key: dict[str, str], fake: FakeLucca
    ) -> None:
        user = fake.users[0]
        result = run_cli("--json", "preview", "--config", str(config), str(user["id"]), env=key)
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        fields = {field["key"]: field["value"] for field in data["fields"]}
        assert fields["first_name"] == user["firstName"]
        assert fields["uniq_identifier"] == str(user["id"])

    def test_preview_of_a_ticked_employee_shows_the_exclusion(
        self, config: Path, key: dict[str, str], fake: FakeLucca
    ) -> None:
        def is_ticked(user: dict[str, Any]) -> bool:
            flag = (user.get("extendedData") or {}).get("e_skip_elevo_sync")
            return isinstance(flag, dict) and flag.get("value") is True

        ticked = next(u for u in fake.users if is_ticked(u))
        result = run_cli("--json", "preview", "--config", str(config), str(ticked["id"]), env=key)
        data = json.loads(result.stdout)
        assert data["decision"]["rule"] == "skip_flag('e_skip_elevo_sync')"

    def test_preview_of_an_unknown_employee_exits_1(
        self, config: Path, key: dict[str, str]
    ) -> None:
        result = run_cli("preview", "--config", str(config), "999999", env=key)
        assert result.returncode == 1
        assert last_line(result.stderr).startswith("lucca-sync: error:")


class TestCheck:
    """check validates the file and, with a key, reports what the key can see."""

    def test_check_without_key_validates_only(self, config: Path, fake: FakeLucca) -> None:
        result = run_cli("check", "--config", str(config))
        assert result.returncode == 0, result.stderr
        assert "OK" in result.stdout
        assert "Lucca not contacted" in result.stdout
        assert fake.requests == []

    def test_check_reports_what_the_key_sees_in_one_request(
        self, config: Path, key: dict[str, str], fake: FakeLucca
    ) -> None:
        result = run_cli("--json", "check", "--config", str(config), env=key)
        assert result.returncode == 0, result.stderr
        seen = json.loads(result.stdout)["lucca"]
        assert seen["former"] > 0
        assert seen["upcoming"] > 0
        assert seen["flags"]["e_skip_elevo_sync"] > 0
        assert len(fake.requests) == 1

    def test_check_warns_when_former_employees_and_the_flag_are_invisible(
        self, config: Path, key: dict[str, str], fake: FakeLucca
    ) -> None:
        fake.see_former = False
        fake.see_extended = False
        result = run_cli("check", "--config", str(config), env=key)
        assert result.returncode == 0, result.stderr
        assert "former employees: none seen" in result.stdout
        assert "e_skip_elevo_sync: never present" in result.stdout


class TestProgress:
    """Progress shows pages, employees and an estimate under the request budget."""

    def test_progress_line_counts_pages_and_estimates_what_is_left(self) -> None:
        stream = io.StringIO()
        progress = Progress(
            stream, requests_per_minute=50, page_size=100, clock=iter(range(100)).__next__
        )
        progress.total = 1000
        progress.page_read(100)
        progress.page_read(100)
        assert progress.reading_line() == (
            "Reading Lucca: page 2, 200 employees of ~1000, 8 pages left "
            "(at most ~10 s at 50 requests/min)"
        )
        assert "page 2, 200 employees" in stream.getvalue()

    def test_disabled_progress_writes_nothing(self) -> None:
        progress = Progress(None)
        progress.page_read(10)
        progress.message("x")
        progress.clear()
        assert progress.pages == 1
        assert not progress.enabled

    def test_clear_erases_the_line(self) -> None:
        stream = io.StringIO()
        progress = Progress(stream, clock=iter(range(100)).__next__)
        progress.message("Publishing")
        progress.clear()
        assert stream.getvalue().endswith("\r" + " " * len("Publishing") + "\r")


def test_console_script_name_is_declared() -> None:
    """pyproject declares the lucca-sync console script on cli.main."""
    text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert 'lucca-sync = "lucca_sync.cli:main"' in text


class TestApplyWithEmployeeErrors:
    """Per-employee plan errors are shown by apply but do not fail the run."""

    def test_malformed_record_is_listed_and_the_others_are_applied(
        self, config: Path, key: dict[str, str], fake: FakeLucca
    ) -> None:
        broken = int(str(fake.users[-1]["id"]))
        fake.update_user(broken, dtContractStart="not a date")
        _, result = publish_first(config, key)
        assert f"ERROR {broken} [read]" in result.stdout
        keys = {row["uniq_identifier"] for row in csv_rows(config.parent / "drop" / "users.csv")}
        assert keys
        assert str(broken) not in keys


class TestOAuth:
    """The Lucca API's OAuth client configured in [lucca] drives plan, apply and check."""

    def test_plan_reads_the_lucca_api(
        self, oauth_config: Path, client: dict[str, str], fake: FakeLucca
    ) -> None:
        result = run_cli("--json", "plan", "--config", str(oauth_config), env=client)
        assert result.returncode == 3, result.stderr  # a first publication: to review
        plan = Plan.from_json(result.stdout)
        expected = {str(u["id"]) for u in fake.users} & {c.key for c in plan.creates}
        assert len(plan.creates) > 30
        assert {c.key for c in plan.creates} == expected
        paths = {r.path for r in fake.requests}
        assert "/lucca-api/employees" in paths
        assert "/api/v3/users" not in paths

    def test_apply_through_oauth_writes_the_file(
        self, oauth_config: Path, client: dict[str, str]
    ) -> None:
        publish_first(oauth_config, client)
        assert len(csv_rows(oauth_config.parent / "drop" / "users.csv")) > 30

    def test_missing_secret_variable_exits_2_naming_it(
        self, oauth_config: Path, fake: FakeLucca
    ) -> None:
        result = run_cli("plan", "--config", str(oauth_config), env={CLIENT_ID_ENV: fake.client_id})
        assert result.returncode == 2
        assert "lucca.client_secret_env" in last_line(result.stderr)
        assert CLIENT_SECRET_ENV in last_line(result.stderr)
        assert fake.requests == []

    def test_secret_is_never_printed_even_with_debug_logging(
        self, oauth_config: Path, client: dict[str, str], fake: FakeLucca
    ) -> None:
        result = run_cli("-vv", "--debug", "plan", "--config", str(oauth_config), env=client)
        assert result.returncode == 3, result.stderr  # a first publication: to review
        assert "lucca_sync.http" in result.stderr  # the DEBUG log was on
        assert fake.client_secret not in result.stdout + result.stderr

    def test_secret_is_never_printed_when_the_client_is_refused(
        self, oauth_config: Path, fake: FakeLucca
    ) -> None:
        env = {CLIENT_ID_ENV: "someone-else", CLIENT_SECRET_ENV: fake.client_secret}
        result = run_cli("-vv", "--debug", "plan", "--config", str(oauth_config), env=env)
        assert result.returncode == 1
        assert "Traceback" in result.stderr
        assert fake.client_secret not in result.stdout + result.stderr

    def test_check_sends_one_request_and_says_what_does_not_apply(
        self, oauth_config: Path, client: dict[str, str], fake: FakeLucca
    ) -> None:
        result = run_cli("check", "--config", str(oauth_config), env=client)
        assert result.returncode == 0, result.stderr
        reads = [r for r in fake.requests if r.path.startswith("/lucca-api/")]
        assert [r.path for r in reads] == ["/lucca-api/employees"]
        assert "former employees: visible" in result.stdout
        assert "future hires: visible" in result.stdout
        assert "Not applicable to the Lucca API:" in result.stdout
        assert "page_size 1000: the API sends at most 100" in result.stdout
        assert fake.client_secret not in result.stdout + result.stderr

    def test_check_json_counts_what_the_client_sees(
        self, oauth_config: Path, client: dict[str, str], fake: FakeLucca
    ) -> None:
        result = run_cli("--json", "check", "--config", str(oauth_config), env=client)
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["api"] == "lucca-api"
        assert data["lucca"]["employees"] == len(fake.users)
        assert data["lucca"]["former"] > 0
        assert data["lucca"]["requests"] == 1

    def test_check_without_the_secret_does_not_contact_lucca(
        self, oauth_config: Path, fake: FakeLucca
    ) -> None:
        result = run_cli("check", "--config", str(oauth_config))
        assert result.returncode == 0, result.stderr
        assert "Lucca not contacted" in result.stdout
        assert fake.requests == []


class TestCheckRefusesWhatPlanRefuses:
    """check exits 2 on a configuration that plan and apply would refuse."""

    def test_state_folder_inside_the_drop_folder(self, config: Path, key: dict[str, str]) -> None:
        edit(config, 'state_dir = "state"', 'state_dir = "drop/state"')
        result = run_cli("check", "--config", str(config), env=key)
        assert result.returncode == 2
        assert "drop folder" in last_line(result.stderr)
        assert "OK" not in result.stdout

    def test_plain_http_to_another_host(self, config: Path, fake: FakeLucca) -> None:
        edit(config, fake.url, "http://evil.example.com")
        result = run_cli("check", "--config", str(config))
        assert result.returncode == 2
        assert last_line(result.stderr).startswith("lucca-sync: error: lucca.url: plain http")

    def test_invalid_secret_from_the_environment(self, oauth_config: Path, fake: FakeLucca) -> None:
        env = {CLIENT_ID_ENV: fake.client_id, CLIENT_SECRET_ENV: "two words and more"}
        result = run_cli("check", "--config", str(oauth_config), env=env)
        assert result.returncode == 2
        assert CLIENT_SECRET_ENV in last_line(result.stderr)
        assert "two words" not in result.stderr + result.stdout
        assert fake.requests == []


class TestUnexpectedErrors:
    """An exception lucca_sync did not make is shown by type only, unless --debug."""

    def test_message_is_hidden_without_debug(self) -> None:
        stderr = io.StringIO()
        code = _fail(
            ValueError("Élodie Martin <elodie@example.com>"), debug=False, stderr=stderr, secrets=()
        )
        assert code == 1
        assert stderr.getvalue() == (
            "lucca-sync: error: unexpected ValueError "
            "(run again with --debug for the details and the traceback)\n"
        )

    def test_debug_shows_the_message_and_the_traceback(self) -> None:
        stderr = io.StringIO()
        try:
            raise ValueError("Élodie Martin")
        except ValueError as error:
            _fail(error, debug=True, stderr=stderr, secrets=())
        assert "Traceback" in stderr.getvalue()
        assert last_line(stderr.getvalue()) == (
            "lucca-sync: error: unexpected ValueError: Élodie Martin"
        )

    def test_lucca_sync_errors_keep_their_message(self) -> None:
        stderr = io.StringIO()
        error = APIConnectionError("no answer from Lucca; check the network", url="https://a.b")
        _fail(error, debug=False, stderr=stderr, secrets=())
        assert stderr.getvalue().endswith("error: no answer from Lucca; check the network\n")


class TestIncrementalMode:
    """[sync] mode reaches plan and apply: a second run in "auto" mode reads only changes."""

    def test_second_auto_apply_reads_few_pages(
        self, config: Path, key: dict[str, str], fake: FakeLucca
    ) -> None:
        edit(config, "[sink]", 'page_size = 5\n\n[sync]\nmode = "auto"\n\n[sink]')
        publish_first(config, key)
        first = len(fake.requests)
        assert first >= 8  # 40 employees, 5 per page: a full read
        user = fake.users[0]
        fake.update_user(int(str(user["id"])), jobTitle="Cheffe de projet")

        result = run_cli("--json", "apply", "--config", str(config), env=key)
        assert result.returncode == 0, result.stderr
        second = fake.requests[first:]
        assert len(second) < first / 2
        assert any("modifiedAt" in r.query for r in second)
        report = json.loads(result.stdout)
        assert report["plan"]["stats"]["mode"] == "incremental"
        rows = {r["uniq_identifier"]: r for r in csv_rows(config.parent / "drop" / "users.csv")}
        assert rows[str(user["id"])]["job_title"] == "Cheffe de projet"

    def test_full_mode_reads_everyone_again(
        self, config: Path, key: dict[str, str], fake: FakeLucca
    ) -> None:
        edit(config, "[sink]", "page_size = 5\n\n[sink]")
        publish_first(config, key)
        first = len(fake.requests)
        assert run_cli("apply", "--config", str(config), env=key).returncode == 0
        assert len(fake.requests) == 2 * first
