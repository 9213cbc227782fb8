"""The lucca-sync configuration file: structure, strictness, every problem at once."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import lucca_sync
from lucca_sync import ApiKey, ClientCredentials
from lucca_sync._lucca._redact import redact
from lucca_sync.cli._config import (
    DirectorySinkSection,
    MissingSecretError,
    SftpSinkSection,
    credential_from_env,
)
from lucca_sync.cli._config_load import config_from_dict, load_config, secrets_to_hide
from lucca_sync.exceptions import ConfigurationError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "lucca-sync.toml"


def minimal(**sections: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "lucca": {"url": "https://acme.ilucca.net"},
        "sink": {"type": "directory", "path": "drop", "state_dir": "state"},
    }
    data.update(sections)
    return data


def oauth(**keys: Any) -> dict[str, Any]:
    """A [lucca] table with the Lucca API's OAuth client."""
    table: dict[str, Any] = {
        "url": "https://acme.ilucca.net",
        "client_id_env": "ACME_CLIENT_ID",
        "client_secret_env": "ACME_CLIENT_SECRET",
    }
    table.update(keys)
    return {key: value for key, value in table.items() if value is not None}


OAUTH_ENV = {"ACME_CLIENT_ID": "acme-sync", "ACME_CLIENT_SECRET": "a-long-client-secret-123"}


def problems_of(data: dict[str, Any]) -> tuple[str, ...]:
    with pytest.raises(ConfigurationError) as caught:
        config_from_dict(data, path=Path("/etc/lucca-sync/lucca-sync.toml"))
    return caught.value.problems


class TestExampleFile:
    """The commented example in examples/ is a valid configuration."""

    def test_example_loads_with_its_rules_mapping_and_limits(self) -> None:
        config = load_config(EXAMPLE)
        assert config.lucca.base_url == "https://acme.ilucca.net"
        assert [lucca_sync.rules.rule_name(r) for r in config.rules] == [
            "skip_flag('e_skip_elevo_sync')"
        ]
        assert "custom_site" in config.mapping.fields
        assert config.safety.max_suspensions == 10
        assert isinstance(config.sink_section, DirectorySinkSection)

    def test_example_sink_paths_are_relative_to_the_file(self) -> None:
        config = load_config(EXAMPLE)
        assert isinstance(config.sink_section, DirectorySinkSection)
        assert config.resolve(config.sink_section.path) == EXAMPLE.parent / "elevo-drop"


class TestDefaults:
    """Absent sections and keys take the library's defaults."""

    def test_minimal_file_uses_default_rules_mapping_and_safety(self) -> None:
        config = config_from_dict(minimal(), path=Path("x.toml"))
        assert config.rules == lucca_sync.DEFAULT_RULES
        assert config.mapping == lucca_sync.FieldMapping.elevo_default()
        assert config.safety == lucca_sync.Safety()
        assert config.rules_section.on_excluded == "leave"
        assert config.sync.time_zone == "Europe/Paris"
        assert config.lucca.requests_per_minute == 50

    def test_subdomain_builds_the_tenant_url(self) -> None:
        data = minimal(lucca={"subdomain": "acme", "environment": "ilucca-test", "region": "ch"})
        config = config_from_dict(data, path=Path("x.toml"))
        assert config.lucca.base_url == "https://acme.ilucca-test.ch"

    def test_empty_rule_list_means_no_rule(self) -> None:
        config = config_from_dict(minimal(rules={"exclude": []}), path=Path("x.toml"))
        assert config.rules == ()


class TestProblems:
    """Every problem names its key path and what was expected, all reported together."""

    def test_all_problems_of_all_sections_are_reported_at_once(self) -> None:
        problems = problems_of(
            {
                "lucca": {"url": "https://acme.ilucca.net", "timeout": "ten"},
                "rules": {"on_excluded": "delete"},
                "sink": {"type": "directory", "path": 3},
                "sync": {"time_zone": "Mars/Olympus"},
                "safety": {"max_suspension_ratio": 2.0},
            }
        )
        joined = "\n".join(problems)
        for path in (
            "lucca.timeout",
            "rules.on_excluded",
            "sink.path",
            "sync.time_zone",
            "safety",
        ):
            assert path in joined
        assert len(problems) == 5

    def test_unknown_key_is_an_error_with_a_suggestion(self) -> None:
        problems = problems_of(minimal(lucca={"url": "https://a.ilucca.net", "timout": 5}))
        assert problems == ("lucca: unknown key 'timout' (did you mean 'timeout'?)",)

    def test_unknown_section_is_an_error(self) -> None:
        problems = problems_of(minimal(lucas={}))
        assert problems[0].startswith("lucas: unknown section")

    def test_missing_required_sections_are_named(self) -> None:
        problems = problems_of({})
        assert any(p.startswith("lucca:") for p in problems)
        assert any(p.startswith("sink:") for p in problems)

    @pytest.mark.parametrize(
        ("section", "value", "path"),
        [
            ("lucca", {"url": "https://a.ilucca.net", "allow_secret_in_file": "no"},
             "lucca.allow_secret_in_file"),
            ("lucca", {"url": "https://a.ilucca.net", "page_size": 10.5}, "lucca.page_size"),
            ("lucca", {"url": "https://a.ilucca.net", "page_size": True}, "lucca.page_size"),
            ("lucca", {"url": 42}, "lucca.url"),
            ("sync", {"match_by": ["email", 3]}, "sync.match_by[1]"),
        ],
    )  # fmt: skip
    def test_values_of_the_wrong_type_are_refused(
        self, section: str, value: dict[str, Any], path: str
    ) -> None:
        problems = problems_of(minimal(**{section: value}))
        assert [p.split(":")[0] for p in problems] == [path]

    def test_page_size_over_lucca_maximum_is_refused(self) -> None:
        problems = problems_of(minimal(lucca={"url": "https://a.ilucca.net", "page_size": 2000}))
        assert problems[0].startswith("lucca.page_size: expected an integer from 1 to 1000")

    def test_url_and_subdomain_together_are_refused(self) -> None:
        problems = problems_of(minimal(lucca={"url": "https://a.ilucca.net", "subdomain": "a"}))
        assert problems == ("lucca: give either url or subdomain, not both",)

    def test_neither_url_nor_subdomain_is_refused(self) -> None:
        problems = problems_of(minimal(lucca={}))
        assert problems[0].startswith("lucca.url: required")

    def test_unknown_sink_type_is_named(self) -> None:
        problems = problems_of(minimal(sink={"type": "ftp"}))
        assert problems == ("sink.type: expected 'directory' or 'sftp', got 'ftp'",)

    def test_sftp_sink_requires_host_username_and_state(self) -> None:
        problems = problems_of(minimal(sink={"type": "sftp"}))
        assert sorted(p.split(":")[0] for p in problems) == [
            "sink.host",
            "sink.state_dir",
            "sink.username",
        ]

    def test_rule_problems_carry_their_path_in_the_file(self) -> None:
        problems = problems_of(
            minimal(rules={"exclude": [{"rule": "departed", "grace_days": "x"}]})
        )
        assert len(problems) == 1
        assert problems[0].startswith("rules.exclude[0].grace_days")

    def test_mapping_problems_carry_their_path_in_the_file(self) -> None:
        problems = problems_of(minimal(mapping={"fields": {"not_an_elevo_column": "first_name"}}))
        assert problems
        assert all(p.startswith("mapping.") for p in problems)
        assert "not_an_elevo_column" in problems[0]

    def test_safety_problems_carry_their_path_in_the_file(self) -> None:
        problems = problems_of(minimal(safety={"max_suspensions": -1}))
        assert len(problems) == 1
        assert problems[0].startswith("safety.max_suspensions")

    def test_unreadable_toml_is_a_configuration_error(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.toml"
        path.write_text("[lucca\nurl = 1\n", encoding="utf-8")
        with pytest.raises(ConfigurationError, match="not valid TOML"):
            load_config(path)

    def test_missing_file_is_a_configuration_error(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigurationError, match="cannot read configuration file"):
            load_config(tmp_path / "absent.toml")


class TestSecrets:
    """Credentials come from environment variables; a key in the file is refused by default."""

    def test_api_key_in_file_is_refused_without_echoing_it(self) -> None:
        problems = problems_of(
            minimal(lucca={"url": "https://a.ilucca.net", "api_key": "s3cr3t-v4lue"})
        )
        assert problems[0].startswith("lucca.api_key: an API key written in the configuration")
        assert not any("s3cr3t-v4lue" in p for p in problems)

    def test_api_key_in_file_is_refused_even_when_the_section_has_other_problems(self) -> None:
        lucca = {"url": "https://a.ilucca.net", "api_key": "s3cr3t-v4lue", "timeout": "x"}
        problems = problems_of(minimal(lucca=lucca))
        assert any(p.startswith("lucca.api_key") for p in problems)

    def test_api_key_in_file_is_used_when_explicitly_allowed(self) -> None:
        lucca = {
            "url": "https://a.ilucca.net",
            "api_key": "from-file",
            "allow_secret_in_file": True,
        }
        config = config_from_dict(minimal(lucca=lucca), path=Path("x.toml"))
        assert credential_from_env(config.lucca, {}) == "from-file"
        assert "from-file" not in repr(config)

    def test_key_is_read_from_the_named_environment_variable(self) -> None:
        lucca = {"url": "https://a.ilucca.net", "api_key_env": "ACME_KEY"}
        config = config_from_dict(minimal(lucca=lucca), path=Path("x.toml"))
        assert credential_from_env(config.lucca, {"ACME_KEY": " k-123 "}) == "k-123"

    def test_unset_environment_variable_names_the_variable(self) -> None:
        config = config_from_dict(minimal(), path=Path("x.toml"))
        with pytest.raises(ConfigurationError, match="LUCCA_API_KEY is not set"):
            credential_from_env(config.lucca, {"LUCCA_API_KEY": "  "})

    def test_secrets_to_hide_lists_the_configured_variables_values(self, tmp_path: Path) -> None:
        path = tmp_path / "c.toml"
        path.write_text('[lucca]\napi_key_env = "ACME_KEY"\n', encoding="utf-8")
        hidden = secrets_to_hide(path, {"ACME_KEY": "a-long-secret", "OTHER": "not-a-secret"})
        assert hidden == ["a-long-secret"]

    def test_a_short_secret_is_hidden_as_it_is_but_not_in_other_spellings(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "c.toml"
        path.write_text('[lucca]\napi_key_env = "ACME_KEY"\n', encoding="utf-8")
        hidden = secrets_to_hide(path, {"ACME_KEY": "k-42"})
        assert hidden == ["k-42"]
        shown = redact("refused key k-42 (K-42 in capitals is another word)", hidden, "***")
        assert shown == "refused key *** (K-42 in capitals is another word)"


class TestOAuthCredentials:
    """[lucca] takes the API key or the Lucca API's OAuth client, exactly one of the two."""

    def test_oauth_section_builds_a_directory_with_client_credentials(self) -> None:
        lucca = oauth(
            scopes=["employees.readonly"],
            token_url="https://login.example.net/connect/token",
            custom_fields=["e_skip_elevo_sync"],
        )
        config = config_from_dict(minimal(lucca=lucca), path=Path("x.toml"))
        credential = config.credential(OAUTH_ENV)
        assert isinstance(credential, ClientCredentials)
        assert credential.client_id == "acme-sync"
        assert credential.scopes == ("employees.readonly",)
        assert credential.token_url == "https://login.example.net/connect/token"
        directory = config.directory(OAUTH_ENV)
        assert directory.base_url == "https://acme.ilucca.net"
        assert config.lucca.uses_oauth
        assert config.lucca.employees_per_request == 100

    def test_no_credential_key_means_the_api_key_in_lucca_api_key(self) -> None:
        config = config_from_dict(minimal(), path=Path("x.toml"))
        credential = config.credential({"LUCCA_API_KEY": "k" * 20})
        assert isinstance(credential, ApiKey)
        assert not config.lucca.uses_oauth

    def test_both_kinds_are_refused_naming_the_keys(self) -> None:
        problems = problems_of(minimal(lucca=oauth(api_key_env="LUCCA_API_KEY")))
        assert len(problems) == 1
        for key in ("lucca.api_key_env", "lucca.client_id_env", "lucca.client_secret_env"):
            assert key in problems[0]

    @pytest.mark.parametrize("absent", ["client_id_env", "client_secret_env"])
    def test_incomplete_client_credentials_name_the_missing_key(self, absent: str) -> None:
        problems = problems_of(minimal(lucca=oauth(**{absent: None})))
        assert [p.split(":")[0] for p in problems] == [f"lucca.{absent}"]

    def test_oauth_options_without_a_client_are_incomplete(self) -> None:
        lucca = {"url": "https://acme.ilucca.net", "scopes": ["employees.readonly"]}
        problems = problems_of(minimal(lucca=lucca))
        assert sorted(p.split(":")[0] for p in problems) == [
            "lucca.client_id_env",
            "lucca.client_secret_env",
        ]

    def test_client_secret_in_file_is_refused_without_echoing_it(self) -> None:
        lucca = oauth(client_secret_env=None, client_secret="s3cr3t-in-the-file")
        problems = problems_of(minimal(lucca=lucca))
        assert [p.split(":")[0] for p in problems] == ["lucca.client_secret"]
        assert not any("s3cr3t-in-the-file" in p for p in problems)

    def test_client_secret_in_file_is_refused_even_in_a_broken_section(self) -> None:
        lucca = oauth(client_secret="s3cr3t-in-the-file", timeout="x")
        problems = problems_of(minimal(lucca=lucca))
        assert any(p.startswith("lucca.client_secret:") for p in problems)

    def test_client_secret_in_file_is_used_when_explicitly_allowed(self) -> None:
        lucca = oauth(
            client_secret_env=None, client_secret="from-the-file", allow_secret_in_file=True
        )
        config = config_from_dict(minimal(lucca=lucca), path=Path("x.toml"))
        credential = config.credential({"ACME_CLIENT_ID": "acme-sync"})
        assert isinstance(credential, ClientCredentials)
        assert "from-the-file" not in repr(config) + repr(credential)

    @pytest.mark.parametrize(
        ("keys", "path"),
        [
            ({"scopes": "employees.readonly"}, "lucca.scopes"),
            ({"scopes": ["employees readonly"]}, "lucca.scopes"),
            ({"token_url": "http://login.example.net/token"}, "lucca.token_url"),
            ({"custom_fields": "e_skip_elevo_sync"}, "lucca.custom_fields"),
            ({"custom_fields": [" "]}, "lucca.custom_fields"),
            ({"client_secret_env": "NOT A NAME"}, "lucca.client_secret_env"),
        ],
    )
    def test_invalid_oauth_values_name_their_key(self, keys: dict[str, Any], path: str) -> None:
        problems = problems_of(minimal(lucca=oauth(**keys)))
        assert [p.split(":")[0].split("[")[0] for p in problems] == [path]

    @pytest.mark.parametrize("variable", ["ACME_CLIENT_ID", "ACME_CLIENT_SECRET"])
    def test_unset_client_variable_is_a_missing_secret_naming_it(self, variable: str) -> None:
        config = config_from_dict(minimal(lucca=oauth()), path=Path("x.toml"))
        environ = {k: v for k, v in OAUTH_ENV.items() if k != variable}
        with pytest.raises(MissingSecretError) as caught:
            config.directory(environ)
        assert variable in caught.value.problems[0]

    def test_invalid_secret_from_the_environment_is_not_a_missing_secret(self) -> None:
        config = config_from_dict(minimal(lucca=oauth()), path=Path("x.toml"))
        environ = {**OAUTH_ENV, "ACME_CLIENT_SECRET": "two words"}
        with pytest.raises(ConfigurationError) as caught:
            config.directory(environ)
        assert not isinstance(caught.value, MissingSecretError)
        assert caught.value.problems[0].startswith("lucca.client_secret_env (ACME_CLIENT_SECRET)")
        assert "two words" not in str(caught.value)

    def test_secrets_to_hide_lists_the_client_secret(self, tmp_path: Path) -> None:
        path = tmp_path / "c.toml"
        path.write_text('[lucca]\nclient_secret_env = "ACME_CLIENT_SECRET"\n', encoding="utf-8")
        assert secrets_to_hide(path, OAUTH_ENV) == ["a-long-client-secret-123"]


class TestLuccaUrl:
    """The Lucca URL follows the reader's rules when the file is loaded, not at the first run."""

    @pytest.mark.parametrize(
        "url",
        ["http://evil.example.com", "ftp://acme.ilucca.net", "https://user:pw@acme.ilucca.net"],
    )
    def test_unsafe_or_malformed_url_is_refused(self, url: str) -> None:
        problems = problems_of(minimal(lucca={"url": url}))
        assert problems
        assert all(p.startswith("lucca.url:") for p in problems)
        assert "pw" not in "".join(problems)

    @pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost", "https://a.b"])
    def test_https_and_loopback_http_are_accepted(self, url: str) -> None:
        config = config_from_dict(minimal(lucca={"url": url}), path=Path("x.toml"))
        assert config.lucca.base_url == url


class TestSyncMode:
    """[sync] mode and full_every reach lucca_sync.plan."""

    def test_mode_and_full_every_are_plan_options(self) -> None:
        sync = {"mode": "auto", "full_every": 3}
        config = config_from_dict(minimal(sync=sync), path=Path("x.toml"))
        options = config.plan_options()
        assert (options["mode"], options["full_every"]) == ("auto", 3)

    def test_default_mode_is_full(self) -> None:
        config = config_from_dict(minimal(), path=Path("x.toml"))
        assert config.plan_options()["mode"] == "full"

    @pytest.mark.parametrize(
        ("sync", "path"),
        [
            ({"mode": "sometimes"}, "sync.mode"),
            ({"full_every": 0}, "sync.full_every"),
            ({"full_every": "7"}, "sync.full_every"),
        ],
    )
    def test_invalid_mode_values_name_their_key(self, sync: dict[str, Any], path: str) -> None:
        problems = problems_of(minimal(sync=sync))
        assert [p.split(":")[0] for p in problems] == [path]

    @pytest.mark.parametrize("mode", ["auto", "incremental"])
    def test_incremental_modes_are_refused_with_the_lucca_api(self, mode: str) -> None:
        problems = problems_of(minimal(lucca=oauth(), sync={"mode": mode}))
        assert [p.split(":")[0] for p in problems] == ["sync.mode"]
        assert "full" in problems[0]


class TestPlanMaxAge:
    """[sync] plan_max_age_hours is how old a plan apply still carries out."""

    def test_the_default_is_a_day(self) -> None:
        config = config_from_dict(minimal(), path=Path("x.toml"))
        assert config.apply_options() == {"max_age": timedelta(hours=24)}

    def test_hours_become_the_max_age_of_apply(self) -> None:
        config = config_from_dict(minimal(sync={"plan_max_age_hours": 2.5}), path=Path("x.toml"))
        assert config.apply_options() == {"max_age": timedelta(hours=2, minutes=30)}

    @pytest.mark.parametrize("hours", [0, -1, 24 * 400])
    def test_a_max_age_out_of_range_names_its_key(self, hours: float) -> None:
        problems = problems_of(minimal(sync={"plan_max_age_hours": hours}))
        assert [p.split(":")[0] for p in problems] == ["sync.plan_max_age_hours"]


class TestSinkSection:
    """The sink section becomes the Elevo sink it describes."""

    def test_directory_sink_writes_where_the_file_says(self, tmp_path: Path) -> None:
        config = config_from_dict(minimal(), path=tmp_path / "c.toml")
        sink = config.sink()
        assert sink.state_path.parent == tmp_path / "state"

    def test_sftp_section_keeps_its_options(self) -> None:
        sink = {
            "type": "sftp",
            "host": "sftp.example",
            "username": "acme",
            "state_dir": "state",
            "known_hosts": "kh",
        }
        config = config_from_dict(minimal(sink=sink), path=Path("/srv/c.toml"))
        section = config.sink_section
        assert isinstance(section, SftpSinkSection)
        assert section.remote_dir == "/uploads/users"
        assert config.resolve(section.known_hosts or "") == Path("/srv/kh")

    def test_unset_passphrase_variable_is_a_missing_secret(self, tmp_path: Path) -> None:
        sink = {
            "type": "sftp",
            "host": "sftp.example",
            "username": "acme",
            "state_dir": "state",
            "private_key_passphrase_env": "ACME_PASSPHRASE",
        }
        config = config_from_dict(minimal(sink=sink), path=tmp_path / "c.toml")
        with pytest.raises(MissingSecretError, match="ACME_PASSPHRASE"):
            config.sink({})
        # Validating the section does not need the secret.
        assert config.sink({}, secrets=False).state_path.parent == tmp_path / "state"

    @pytest.mark.parametrize("omit", [False, True])
    def test_omit_unidentified_reaches_the_sink(self, tmp_path: Path, omit: bool) -> None:
        """An export user Elevo cannot be told about blocks publishing unless let go."""
        (tmp_path / "drop").mkdir()
        (tmp_path / "export.csv").write_text("email\nold.hand@acme.example\n", encoding="utf-8")
        sink: dict[str, Any] = {"type": "directory", "path": "drop", "state_dir": "state"}
        sink |= {"adopt_from": "export.csv", "omit_unidentified": omit}
        built = config_from_dict(minimal(sink=sink), path=tmp_path / "c.toml").sink()
        built.begin()
        built.create("1", {"uniq_identifier": "1", "email": "ada@acme.example"})
        if omit:
            assert built.commit() == {}
            assert (tmp_path / "drop" / "users.csv").exists()
        else:
            with pytest.raises(lucca_sync.exceptions.SinkError, match="no uniq_identifier"):
                built.commit()
            assert not (tmp_path / "drop" / "users.csv").exists()

    def test_state_folder_inside_the_drop_folder_is_refused(self, tmp_path: Path) -> None:
        sink = {"type": "directory", "path": "drop", "state_dir": "drop/state"}
        config = config_from_dict(minimal(sink=sink), path=tmp_path / "c.toml")
        with pytest.raises(ConfigurationError, match="drop folder"):
            config.sink()


def test_example_file_is_valid_toml_with_only_known_sections() -> None:
    """The example documents every section the loader knows."""
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert set(data) == {"lucca", "rules", "mapping", "sink", "safety", "sync"}


def test_configuration_reference_shows_the_example_file_verbatim() -> None:
    """docs/reference/configuration.md includes examples/lucca-sync.toml as it is."""
    page = (ROOT / "docs" / "reference" / "configuration.md").read_text(encoding="utf-8")
    assert "```toml\n" + EXAMPLE.read_text(encoding="utf-8") + "```" in page
