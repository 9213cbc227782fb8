"""Security checks: secrets never leak, https is enforced, CSV formulas as documented."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

import lucca_sync
from fake_clock import FakeClock
from lucca_sync import ApiKey, LuccaDirectory, plan, sync
from lucca_sync.cli import main as cli_main
from lucca_sync.cli._config_load import looks_like_env_name
from lucca_sync.cli._logs import setup_logging
from lucca_sync.cli._progress import Progress
from lucca_sync.elevo import ElevoSink
from lucca_sync.exceptions import ConfigurationError, LuccaSyncError
from lucca_sync.testing import FakeLucca, MemorySink, make_lucca_user

from ._support import TODAY, OnPage, company, directory, employee_id, file_rows, run_sync

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
            plan_file = tmp_path / "plan.json"
            # The first publication is reviewed (plan, then apply by digest); then a nightly run.
            for command, fault in (("plan", None), ("apply-plan", None), ("apply", 401)):
                if fault is not None:
                    fake.fail_next(fault, body={"Message": f"no {fake.api_key}"})
                arguments = ["--config", str(config)]
                if command == "plan":
                    arguments = ["plan", *arguments, "--json", str(plan_file)]
                elif command == "apply-plan":
                    digest = json.loads(plan_file.read_text(encoding="utf-8"))["digest"]
                    arguments = ["apply", *arguments, "--plan", str(plan_file),
                                 "--expect-digest", digest]  # fmt: skip
                else:
                    arguments = ["apply", *arguments]
                done = subprocess.run(
                    [sys.executable, "-m", "lucca_sync", "-vv", "--debug", *arguments],
                    capture_output=True, text=True, env=env, timeout=60, check=False,
                )  # fmt: skip
                outputs.append((done.returncode, done.stdout + done.stderr))
        assert [code for code, _ in outputs[:2]] == [3, 0]  # 3: the first publication to review
        assert outputs[2][0] != 0
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
            assert run_sync(fake, sink, clock).ok
        assert file_rows(tmp_path / "drop" / "users.csv")["7"]["job_title"] == value

    def test_the_risk_is_documented_for_spreadsheet_users(self) -> None:
        page = (DOCS / "reference" / "elevo-file.md").read_text(encoding="utf-8")
        assert "## Values that look like formulas" in page
        assert "writes such values as they are" in " ".join(page.replace("**", "").split())
        assert "Excel" in page


#: A client secret with the characters form encoding changes (``+``, ``/``, ``=``).
ODD_SECRET = "Zx+9/kQ=Lm2+Pw8/Rt5=Uv"


def spellings(secret: str, client_id: str = "") -> list[str]:
    """The spellings a secret takes on the wire: as is, case-folded, percent- and
    form-encoded (either hex case), JSON-escaped, and base64 as in ``Authorization: Basic``."""
    encoded = quote(secret, safe="")
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return [
        secret,
        secret.upper(),
        secret.lower(),
        encoded,
        encoded.lower(),
        quote_plus(secret),
        quote(secret, safe="/"),
        secret.replace("/", "\\/"),
        basic,
        basic.rstrip("="),
        base64.b64encode(secret.encode()).decode(),
    ]


def echoes(secret: str, client_id: str = "") -> str:
    """An error text quoting the secret in every spelling of :func:`spellings`."""
    forms = spellings(secret, client_id)
    return (
        f"bad client_secret={forms[3]}&grant_type=client_credentials; KEY {forms[1]}; "
        f"key {forms[2]}; form {forms[5]} ({forms[4]}, {forms[6]}, {forms[7]}); "
        f"Authorization: Basic {forms[8]} / {forms[9]} / {forms[10]}; raw {secret}"
    )


def leaked(secret: str, texts: list[str], client_id: str = "") -> list[str]:
    """The spellings of ``secret`` found in any of ``texts``."""
    joined = "\n".join(texts)
    return [form for form in spellings(secret, client_id) if form in joined]


class TestSecretsInEverySpelling:
    """A secret echoed back encoded, case-folded or in base64 is still redacted everywhere."""

    def test_client_secret_echoed_by_the_token_endpoint(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        with FakeLucca(company(3), today=TODAY, client_secret=ODD_SECRET) as fake:
            texts = []
            for status in (400, 401, 500):
                fake.fail_next(
                    status,
                    body={
                        "error": "invalid_request",
                        "error_description": echoes(ODD_SECRET, fake.client_id),
                    },
                    path="/connect/token",
                    times=3,
                )
                credential = lucca_sync.ClientCredentials(
                    fake.client_id, ODD_SECRET, token_url=fake.token_url
                )
                with pytest.raises(LuccaSyncError) as raised:
                    LuccaDirectory(fake.url, credential, retries=0).get_employee(employee_id(1))
                texts.append(exception_texts(raised.value))
                fake.clear_faults()
        texts += [record.getMessage() for record in caplog.records] + [caplog.text]
        assert "<redacted>" in "\n".join(texts)  # the endpoint's words are kept, redacted
        assert leaked(ODD_SECRET, texts, fake.client_id) == []

    def test_api_key_echoed_in_other_spellings_by_lucca(self) -> None:
        clock = FakeClock()
        with FakeLucca(company(3), today=TODAY, api_key=ODD_SECRET) as fake:
            texts = []
            for status in (400, 401, 403, 503):
                fake.fail_next(status, body={"Message": echoes(ODD_SECRET)}, times=10)
                with pytest.raises(LuccaSyncError) as raised:
                    plan(directory(fake, clock, retries=1), MemorySink(), today=TODAY)
                texts.append(exception_texts(raised.value))
                fake.clear_faults()
        assert leaked(ODD_SECRET, texts) == []

    def test_cli_output_and_debug_logs_hide_every_spelling(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        (tmp_path / "drop").mkdir()
        with FakeLucca(company(3), today=TODAY, client_secret=ODD_SECRET) as fake:
            config = tmp_path / "lucca-sync.toml"
            config.write_text(
                f'[lucca]\nurl = "{fake.url}"\nclient_id_env = "ACME_CLIENT_ID"\n'
                f'client_secret_env = "ACME_CLIENT_SECRET"\ntoken_url = "{fake.token_url}"\n'
                "retries = 0\n"
                f'[sink]\ntype = "directory"\npath = "{tmp_path / "drop"}"\n'
                f'state_dir = "{tmp_path / "state"}"\n',
                encoding="utf-8",
            )
            monkeypatch.setenv("ACME_CLIENT_ID", fake.client_id)
            monkeypatch.setenv("ACME_CLIENT_SECRET", ODD_SECRET)
            echo = echoes(ODD_SECRET, fake.client_id)
            fake.fail_next(401, body={"error": "invalid_client", "error_description": echo},
                           path="/connect/token")  # fmt: skip
            code = cli_main(["-vv", "--debug", "plan", "--config", str(config)])
        output = capsys.readouterr()
        assert code != 0
        assert "Traceback" in output.err  # --debug printed the traceback ...
        assert leaked(ODD_SECRET, [output.out, output.err], fake.client_id) == []  # ... redacted

    def test_cli_log_lines_are_redacted_in_every_spelling(self) -> None:
        stream = io.StringIO()
        undo = setup_logging(
            verbose=2,
            quiet=False,
            stderr=stream,
            log_format="text",
            progress=Progress(None),
            secrets=[ODD_SECRET],
        )
        try:
            logging.getLogger("lucca_sync.http").debug("echo: %s", echoes(ODD_SECRET, "id-1"))
        finally:
            undo()
        assert "echo: " in stream.getvalue()
        assert leaked(ODD_SECRET, [stream.getvalue()], "id-1") == []


class TestSecretPastedAsAVariableName:
    """A *_env setting holding something that is no variable name is refused, never echoed."""

    #: Looks like a secret but passes the old "letters, digits and _" check.
    PASTED = "q7Rk2LmX9vT4wP8sN3jY"

    @pytest.mark.parametrize(
        "setting",
        [
            "lucca.api_key_env",
            "lucca.client_id_env",
            "lucca.client_secret_env",
            "sink.private_key_passphrase_env",
        ],
    )
    @pytest.mark.parametrize("command", ["plan", "check"])
    def test_refused_by_plan_and_check_without_echo(
        self, setting: str, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        section, key = setting.split(".")
        lucca = {"url": '"https://acme.ilucca.net"', "api_key_env": '"ACME_KEY"'}
        sink = {"type": '"directory"', "path": '"drop"', "state_dir": '"state"'}
        if key in {"client_id_env", "client_secret_env"}:
            del lucca["api_key_env"]
            lucca |= {"client_id_env": '"ACME_ID"', "client_secret_env": '"ACME_SECRET"'}
        if section == "sink":
            sink = {"type": '"sftp"', "host": '"sftp.elevo.example"', "username": '"acme"',
                    "private_key_path": '"id_ed25519"', "state_dir": '"state"'}  # fmt: skip
        (lucca if section == "lucca" else sink)[key] = f'"{self.PASTED}"'
        text = "".join(
            f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in table.items())
            for name, table in (("lucca", lucca), ("sink", sink))
        )
        (tmp_path / "drop").mkdir()
        config = tmp_path / "lucca-sync.toml"
        config.write_text(text, encoding="utf-8")
        code = cli_main([command, "--config", str(config)])
        output = capsys.readouterr()
        assert code == 2
        assert f"{setting}: expected the name of an environment variable" in output.err
        assert self.PASTED not in output.out + output.err

    @pytest.mark.parametrize(
        "name",
        ["LUCCA_API_KEY", "LUCCA_SYNC_TEST_CLIENT_SECRET", "K8S_TOKEN_V2", "lucca_key", "LuccaKey",
         "ELEVO_KEY_PASSPHRASE", "AWS_S3_KEY"],
    )  # fmt: skip
    def test_real_names_are_accepted(self, name: str) -> None:
        assert looks_like_env_name(name)

    @pytest.mark.parametrize(
        "value",
        [PASTED, "3fa85f64-5717-4562-b3fc-2c963f66afa6", "3fa85f6457174562b3fc2c963f66afa6",
         "fa85f6457174562b3fc2c963f66afa6e", "Zx+9/kQ=Lm2", "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
         "a" * 65],
    )  # fmt: skip
    def test_secrets_are_not_names(self, value: str) -> None:
        assert not looks_like_env_name(value)
