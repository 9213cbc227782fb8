"""What lucca-sync prints for people and for log collectors, run as a real subprocess.

Safety stops told in commands, JSON run lines, plain network failures, closed pipes, private
plan files, and the hint for a misplaced rules table.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shlex
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lucca_sync.cli._config_load import config_from_dict
from lucca_sync.testing import FakeLucca, generate_company

KEY_ENV = "LUCCA_SYNC_TEST_KEY"
DOCS = Path(__file__).parent.parent / "docs"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LOCAL_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d lucca-sync: ")


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != KEY_ENV}
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


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as a JSON object (fails on any line that is not one)."""
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def fake() -> Iterator[FakeLucca]:
    with FakeLucca(generate_company(40, seed=3)) as server:
        yield server


@pytest.fixture
def key(fake: FakeLucca) -> dict[str, str]:
    return {KEY_ENV: fake.api_key}


def write_config(folder: Path, url: str) -> Path:
    (folder / "drop").mkdir(exist_ok=True)
    path = folder / "lucca-sync.toml"
    path.write_text(
        f'[lucca]\nurl = "{url}"\napi_key_env = "{KEY_ENV}"\n\n'
        '[sink]\ntype = "directory"\npath = "drop"\nstate_dir = "state"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def config(tmp_path: Path, fake: FakeLucca) -> Path:
    return write_config(tmp_path, fake.url)


def publish_first(
    config: Path, key: dict[str, str], *options: str
) -> subprocess.CompletedProcess[str]:
    """The first file to a new account, as an operator sends it: plan, review, apply by digest."""
    plan_file = config.parent / "first-plan.json"
    planned = run_cli("plan", "--config", str(config), "--json", str(plan_file), env=key)
    assert planned.returncode == 3, planned.stderr  # the first_publication stop
    digest = json.loads(plan_file.read_text(encoding="utf-8"))["digest"]
    applied = run_cli(
        *options, "apply", "--config", str(config), "--plan", str(plan_file),
        "--expect-digest", digest, env=key,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    return applied


def everyone_leaves(fake: FakeLucca) -> None:
    """All but one employee's contract ended yesterday: a mass departure."""
    yesterday = f"{fake.today - timedelta(days=1)}T00:00:00"
    for user in fake.users[1:]:
        fake.update_user(int(str(user["id"])), dtContractEnd=yesterday)


class TestSafetyStopSpeaksCli:
    """A safety stop tells a CLI user which lucca-sync commands to run, in a few short lines."""

    def test_apply_stop_names_the_commands_not_python(
        self, config: Path, key: dict[str, str], fake: FakeLucca
    ) -> None:
        publish_first(config, key)
        everyone_leaves(fake)
        result = run_cli("apply", "--config", str(config), env=key)
        assert result.returncode == 3
        digest = re.search(r"--expect-digest ([0-9a-f]{64})", result.stderr)
        assert digest is not None, result.stderr
        assert "Safety." not in result.stderr
        assert "expected_digest" not in result.stderr
        assert f"lucca-sync plan --config {config} --json plan.json" in result.stderr
        assert (
            f"lucca-sync apply --config {config} --plan plan.json --expect-digest "
            f"{digest.group(1)}" in result.stderr
        )
        prose = [line for line in result.stderr.splitlines() if "lucca-sync " not in line]
        assert all(len(line) <= 140 for line in prose)
        assert result.stderr.splitlines()[-1] == (
            "lucca-sync: error: safety stop: the plan trips 1 safety limit(s); nothing was written"
        )

    def test_no_reason_names_a_python_call(
        self, config: Path, key: dict[str, str], fake: FakeLucca
    ) -> None:
        publish_first(config, key)
        for user in list(fake.users):
            fake.remove_user(int(str(user["id"])))
        result = run_cli("apply", "--config", str(config), env=key)
        assert result.returncode == 3
        assert "the source returned no employee at all" in result.stderr
        assert "Safety(" not in result.stderr
        assert "allow_empty_source" in result.stderr

    def test_the_commands_it_gives_work_as_written(
        self, config: Path, key: dict[str, str], fake: FakeLucca, tmp_path: Path
    ) -> None:
        publish_first(config, key)
        everyone_leaves(fake)
        stopped = run_cli("apply", "--config", str(config), env=key)
        commands = [
            shlex.split(line.strip())[1:]
            for line in stopped.stderr.splitlines()
            if line.strip().startswith("lucca-sync ")
        ]
        assert [c[0] for c in commands] == ["plan", "apply"]
        assert run_cli(*commands[0], env=key, cwd=tmp_path).returncode == 3
        applied = run_cli(*commands[1], env=key, cwd=tmp_path)
        assert applied.returncode == 0, applied.stderr

    def test_plan_without_a_file_does_not_claim_one_was_written(
        self, config: Path, key: dict[str, str], fake: FakeLucca
    ) -> None:
        publish_first(config, key)
        everyone_leaves(fake)
        result = run_cli("plan", "--config", str(config), env=key)
        assert result.returncode == 3
        assert "PLAN.json" not in result.stdout + result.stderr
        assert "Plan written" not in result.stdout
        assert f"lucca-sync plan --config {config} --json plan.json" in result.stderr

    def test_plan_with_a_file_points_at_that_file(
        self, config: Path, key: dict[str, str], fake: FakeLucca, tmp_path: Path
    ) -> None:
        publish_first(config, key)
        everyone_leaves(fake)
        saved = tmp_path / "review.json"
        result = run_cli("plan", "--config", str(config), "--json", str(saved), env=key)
        assert result.returncode == 3
        assert f"The plan is in {saved}." in result.stderr
        assert f"--plan {saved} --expect-digest" in result.stderr
        assert "lucca-sync plan " not in result.stderr


class TestJsonLogLines:
    """--log-format json: every stderr line is a JSON object; each run ends with its outcome."""

    def run_line(self, result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
        lines = json_lines(result.stderr)
        assert lines, "no JSON line on stderr"
        assert all(ISO_UTC.match(line["time"]) for line in lines)
        assert [line["event"] for line in lines].count("run") == 1
        assert lines[-1]["event"] == "run"
        return lines[-1]

    def test_applied_then_no_op(self, config: Path, key: dict[str, str]) -> None:
        first = self.run_line(publish_first(config, key, "--log-format", "json"))
        assert first["outcome"] == "applied"
        assert first["exit_code"] == 0
        assert first["counts"]["creates"] > 0
        assert re.fullmatch(r"[0-9a-f]{64}", first["digest"])
        second = self.run_line(
            run_cli("apply", "--config", str(config), "--log-format", "json", env=key)
        )
        assert second["outcome"] == "no-op"
        assert sum(second["counts"][k] for k in ("creates", "updates", "suspensions")) == 0

    def test_safety_stop(self, config: Path, key: dict[str, str], fake: FakeLucca) -> None:
        publish_first(config, key)
        everyone_leaves(fake)
        result = run_cli("--log-format", "json", "apply", "--config", str(config), env=key)
        line = self.run_line(result)
        assert result.returncode == 3
        assert line["outcome"] == "safety-stop"
        assert line["exit_code"] == 3
        assert re.fullmatch(r"[0-9a-f]{64}", line["digest"])
        assert line["reasons"][0].startswith("the plan suspends 36 user(s)")

    def test_error_and_usage_error(self, config: Path, fake: FakeLucca) -> None:
        refused = run_cli(
            "--log-format", "json", "apply", "--config", str(config), env={KEY_ENV: "wrong"}
        )
        line = self.run_line(refused)
        assert (line["outcome"], line["exit_code"]) == ("error", 1)
        assert "401" in line["message"]
        usage = self.run_line(run_cli("--log-format", "json", "apply", "--bogus"))
        assert (usage["outcome"], usage["exit_code"], usage["command"]) == ("error", 2, None)

    def test_no_personal_data_in_the_run_line(
        self, config: Path, key: dict[str, str], fake: FakeLucca
    ) -> None:
        result = run_cli("--log-format", "json", "-v", "apply", "--config", str(config), env=key)
        for user in fake.users:
            for field in ("lastName", "mail"):
                assert str(user[field]) not in result.stderr

    def test_text_log_lines_carry_a_timestamp(self, config: Path, key: dict[str, str]) -> None:
        result = run_cli("-v", "plan", "--config", str(config), env=key)
        logged = [line for line in result.stderr.splitlines() if "INFO" in line]
        assert logged
        assert all(LOCAL_STAMP.match(line) for line in logged)

    def test_the_scheduling_recipe_works_as_written(
        self, config: Path, key: dict[str, str], fake: FakeLucca, tmp_path: Path
    ) -> None:
        page = (DOCS / "howto" / "schedule.md").read_text(encoding="utf-8")
        recipe = next(line for line in page.splitlines() if line.startswith("17 2 * * *"))
        command = recipe.split(None, 5)[5]
        # The recipe's secret and program, pointed at this test's fake Lucca and interpreter.
        (tmp_path / "secrets").mkdir()
        (tmp_path / "secrets" / "lucca").write_text(fake.api_key, encoding="utf-8")
        command = command.replace("/run/secrets/lucca", str(tmp_path / "secrets" / "lucca"))
        command = command.replace("cd /srv/lucca-sync", f"cd {shlex.quote(str(tmp_path))}")
        command = command.replace(".venv/bin/lucca-sync", f"{sys.executable} -m lucca_sync")
        assert "lucca-sync.toml" in command
        environment = {k: v for k, v in os.environ.items() if k != KEY_ENV}
        script = command.replace("LUCCA_API_KEY=", f"{KEY_ENV}=")
        publish_first(config, key)  # by hand and reviewed, before any schedule (see the page)
        fake.update_user(int(str(fake.users[0]["id"])), jobTitle="Night Shift Lead")
        for _ in range(2):
            subprocess.run(["sh", "-c", script], env=environment, check=False, timeout=60)
        lines = json_lines((tmp_path / "runs.jsonl").read_text(encoding="utf-8"))
        runs = [line for line in lines if line["event"] == "run"]
        assert [run["outcome"] for run in runs] == ["applied", "no-op"]


class TestNetworkFailures:
    """Unreachable Lucca fails at once, in plain words."""

    def test_refused_connection(self, tmp_path: Path) -> None:
        with FakeLucca() as stopped:
            url = stopped.url
        config = write_config(tmp_path, url)
        result = run_cli("-v", "plan", "--config", str(config), env={KEY_ENV: "unused-key-0123"})
        assert result.returncode == 1
        assert result.stderr.splitlines()[-1].startswith(
            "lucca-sync: error: cannot reach 127.0.0.1: connection refused; "
        )
        assert "Error" not in result.stderr
        assert "retrying" not in result.stderr
        assert result.stderr.count("GET /api/v3/users") == 1

    def test_name_not_resolved(self, tmp_path: Path) -> None:
        config = write_config(tmp_path, "https://acme.invalid")
        result = run_cli("plan", "--config", str(config), env={KEY_ENV: "unused-key-0123"})
        assert result.returncode == 1
        assert result.stderr.splitlines()[-1].startswith(
            "lucca-sync: error: cannot reach acme.invalid: name not resolved; "
        )
        assert "Error" not in result.stderr


class TestPipesAndFiles:
    """A closed pipe ends quietly; plan files are private."""

    def test_plan_piped_into_head_ends_quietly(self, tmp_path: Path) -> None:
        # A plan far longer than a pipe's buffer: head leaves while it is being written.
        with FakeLucca(generate_company(1500, seed=3)) as big:
            config = write_config(tmp_path, big.url)
            environment = {**os.environ, KEY_ENV: big.api_key}
            command = (
                f"{shlex.quote(sys.executable)} -m lucca_sync plan --show-values --config {config}"
            )
            result = subprocess.run(
                ["bash", "-c", f"set -o pipefail; {command} | head -2"],
                capture_output=True,
                text=True,
                env=environment,
                timeout=60,
                check=False,
            )
        assert len(result.stdout.splitlines()) == 2
        assert result.stderr == ""
        assert result.returncode == 141

    def test_plan_file_is_readable_by_its_owner_only(
        self, config: Path, key: dict[str, str], tmp_path: Path
    ) -> None:
        saved = tmp_path / "plan.json"
        saved.write_text("old", encoding="utf-8")
        saved.chmod(0o644)
        result = run_cli("plan", "--config", str(config), "--json", str(saved), env=key)
        assert result.returncode == 3, result.stderr  # a first publication, to review
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        assert json.loads(saved.read_text(encoding="utf-8"))["format"] == "lucca_sync.plan"


class TestRulesTableHint:
    """The exclusion rules' documented TOML loads, and [[rules]] is refused with the right form."""

    def test_misplaced_rules_array_gets_a_hint(self, config: Path) -> None:
        with config.open("a", encoding="utf-8") as handle:
            handle.write('\n[[rules]]\nrule = "skip_flag"\n')
        result = run_cli("check", "--config", str(config))
        assert result.returncode == 2
        assert "[[rules.exclude]]" in result.stderr.splitlines()[-1]

    def test_the_documented_rules_table_loads(self, tmp_path: Path) -> None:
        page = (DOCS / "howto" / "exclude.md").read_text(encoding="utf-8")
        blocks = re.findall(r"```toml\n(.*?)```", page, flags=re.DOTALL)
        rule_blocks = [b for b in blocks if "rules" in b and "entry-points" not in b]
        assert rule_blocks
        for block in rule_blocks:
            if "acme.contractors" in block:
                continue  # a plug-in's rule: not installed here
            data = tomllib.loads(block)
            data["lucca"] = {"url": "https://acme.ilucca.net"}
            data["sink"] = {"type": "directory", "path": "drop", "state_dir": "state"}
            loaded = config_from_dict(data, path=tmp_path / "lucca-sync.toml")
            assert len(loaded.rules) == len(data["rules"]["exclude"])


def run_on_terminal(*args: str, env: dict[str, str]) -> str:
    """Run lucca-sync with stderr on a pseudo-terminal (so progress is drawn); return stderr."""
    leader, follower = pty.openpty()
    environment = {**{k: v for k, v in os.environ.items() if k != KEY_ENV}, **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "lucca_sync", *args],
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env=environment,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=60) == 0
    return b"".join(chunks).decode("utf-8")


class TestProgressAndLogLines:
    """On a terminal, a warning erases the progress line, and the estimate follows the pace."""

    def test_a_429_redraws_the_estimate_at_the_new_pace_below_the_warning(
        self, config: Path, key: dict[str, str], fake: FakeLucca
    ) -> None:
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace("[sink]", "page_size = 10\n\n[sink]"), encoding="utf-8")
        publish_first(config, key)
        seen: list[int] = []

        def second_request_is_refused(request: Any) -> None:
            seen.append(1)
            if len(seen) == 2:
                fake.fail_next(429, retry_after=0)

        fake.before_response = second_request_is_refused
        stderr = run_on_terminal("plan", "--config", str(config), env=key)
        lines = stderr.replace("\r\n", "\n").split("\n")
        warning = next(i for i, line in enumerate(lines) if "pacing down to 25" in line)
        # The warning starts on a clean line: the progress drawn before it on that line was
        # overwritten with blanks, and the warning starts after a carriage return.
        *drawn, blanks, logged = lines[warning].split("\r")
        assert LOCAL_STAMP.match(logged)
        assert not blanks.strip()
        assert len(blanks) >= max(map(len, drawn))
        assert "at 50 requests/min" in "\n".join([*lines[:warning], *drawn])
        assert "at 25 requests/min" in "\n".join(lines[warning + 1 :])


def tick(fake: FakeLucca, user_id: int, *, ticked: bool) -> None:
    """Tick (or untick) the employee's e_skip_elevo_sync check box in the fake Lucca."""
    user = next(u for u in fake.users if u["id"] == user_id)
    extended = dict(user.get("extendedData") or {})
    extended["e_skip_elevo_sync"] = {"value": ticked}
    fake.update_user(user_id, extendedData=extended)


class TestPlanListsChangesToExclusions:
    """plan shows who is newly excluded or no longer excluded, and only counts the others."""

    def test_only_the_changes_are_listed(
        self, config: Path, key: dict[str, str], fake: FakeLucca
    ) -> None:
        publish_first(config, key)
        steady = run_cli("plan", "--config", str(config), env=key)
        excluded_rows = [row for row in steady.stdout.splitlines() if row.startswith("excluded")]
        assert len(excluded_rows) == 1
        assert re.match(r"excluded   \d+ employee\(s\) kept out by rules", excluded_rows[0])

        someone = int(str(fake.users[5]["id"]))
        tick(fake, someone, ticked=True)
        ticked = run_cli("plan", "--config", str(config), env=key)
        newly = rf"^exclude\s+{someone}\s+newly excluded by skip_flag"
        assert re.search(newly, ticked.stdout, re.M)
        assert run_cli("apply", "--config", str(config), env=key).returncode == 0

        tick(fake, someone, ticked=False)
        back = run_cli("plan", "--config", str(config), env=key)
        assert re.search(rf"^update\s+{someone}\s+.*no longer excluded", back.stdout, re.M)

        listed = run_cli("plan", "--config", str(config), "--show-excluded", env=key)
        rows = [r for r in listed.stdout.splitlines() if r.startswith("excluded")]
        assert rows
        assert all(re.match(r"excluded   \d+  skip_flag", row) for row in rows)


class TestPreviewReportsMappingErrors:
    """preview says an employee whose mapping fails is not synchronised, and why."""

    def test_an_invalid_email_is_not_synchronised(
        self, config: Path, key: dict[str, str], fake: FakeLucca
    ) -> None:
        someone = int(str(fake.users[3]["id"]))
        fake.update_user(someone, mail="not an e-mail")
        result = run_cli("preview", "--config", str(config), str(someone), env=key)
        assert result.returncode == 0, result.stderr
        assert "Decision: synchronised" not in result.stdout
        assert "Decision: NOT synchronised" in result.stdout
        assert "email" in result.stdout.split("Decision: NOT synchronised", 1)[1].splitlines()[1]

    def test_no_email_nor_login_is_reported_too(
        self, config: Path, key: dict[str, str], fake: FakeLucca
    ) -> None:
        someone = int(str(fake.users[3]["id"]))
        fake.update_user(someone, mail=None, login=None)
        result = run_cli("--json", "preview", "--config", str(config), str(someone), env=key)
        data = json.loads(result.stdout)
        assert data["errors"], data
        assert data["decision"] is None
