"""Elevo's users file: columns, encoding, RFC 4180 quoting, validation and adoption exports."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lucca_sync.elevo._csv import FileRow, accepts_field, check_record, read_export, render
from lucca_sync.exceptions import ConfigurationError, SinkError


def parse(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


VALID = {"uniq_identifier": "7", "email": "ada@acme.example", "first_name": "Ada"}


class TestLayout:
    """The header, column order, row order and bytes of the file are fixed."""

    def test_header_lists_identifiers_then_filled_columns_in_template_order(self) -> None:
        rows = [
            FileRow("1", {"department": "R&D", "email": "a@x.example", "first_name": "A"}),
            FileRow("2", {"custom_site": "Lyon", "registration_number": "0002"}),
        ]
        header = parse(render(rows))[0]
        assert header == [
            "uniq_identifier",
            "manager_uniq_identifier",
            "registration_number",
            "first_name",
            "email",
            "department",
            "custom_site",
        ]

    def test_custom_columns_are_sorted_after_the_fixed_ones(self) -> None:
        rows = [FileRow("1", {"custom_zone": "z", "custom_area": "a", "use_sso": "false"})]
        assert parse(render(rows))[0][-3:] == ["use_sso", "custom_area", "custom_zone"]

    def test_skip_column_appears_only_with_a_skip_row(self) -> None:
        without = parse(render([FileRow("1", {"email": "a@x.example"})]))[0]
        with_skip = parse(render([FileRow("1", {"email": "a@x.example"}), FileRow("2", skip=True)]))
        assert "skip" not in without
        assert with_skip[0][-1] == "skip"
        assert with_skip[2] == ["2", "", "", "true"]

    def test_rows_are_sorted_numerically_then_as_text(self) -> None:
        rows = [FileRow(key, {}) for key in ("10", "x-1", "2", "007")]
        assert [row[0] for row in parse(render(rows))[1:]] == ["2", "007", "10", "x-1"]

    def test_file_is_utf8_without_bom_with_crlf_line_ends(self) -> None:
        data = render([FileRow("1", {"first_name": "Zoé"})])
        assert not data.startswith(b"\xef\xbb\xbf")
        assert "Zoé".encode() in data
        assert data.count(b"\r\n") == 2
        assert data.replace(b"\r\n", b"").count(b"\n") == 0

    def test_none_is_written_as_an_empty_cell(self) -> None:
        data = render([FileRow("1", {"job_title": None, "first_name": "A"})])
        assert parse(data)[1] == ["1", "", "A", ""]

    def test_duplicate_identifier_is_refused_before_any_byte(self) -> None:
        with pytest.raises(SinkError, match="uniq_identifier '5'") as caught:
            render([FileRow("5", {}), FileRow("5", skip=True)])
        assert caught.value.key == "5"


class TestRoundTrip:
    """Any text survives csv.reader: commas, quotes, newlines, accents, formulas."""

    def test_awkward_values_round_trip(self) -> None:
        values = {
            "first_name": 'Zoé "Zaza", la grande',
            "last_name": "Dubois-Maréchal\r\nII",
            "job_title": "=SUM(A1:A2)",
            "department": "  R&D ; Lyon  ",
        }
        header, line = parse(render([FileRow("1", values)]))
        row = dict(zip(header, line, strict=True))
        for name, value in values.items():
            assert row[name] == value

    @given(
        st.lists(
            st.text(
                alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"])
            ),
            min_size=1,
        )
    )
    def test_any_text_round_trips(self, texts: list[str]) -> None:
        rows = [FileRow(str(number), {"job_title": text}) for number, text in enumerate(texts)]
        parsed = parse(render(rows))
        assert [line[2] for line in parsed[1:]] == texts


class TestAcceptsField:
    """Mappings may only target the columns of Elevo's SFTP users template."""

    @pytest.mark.parametrize(
        "name", ["uniq_identifier", "manager_uniq_identifier", "email", "use_sso", "custom_x_1"]
    )
    def test_template_columns_are_accepted(self, name: str) -> None:
        assert accepts_field(name)

    @pytest.mark.parametrize(
        "name", ["skip", "manager_email", "content_locale", "custom_", "custom_Site", "Email"]
    )
    def test_other_names_are_refused(self, name: str) -> None:
        assert not accepts_field(name)


class TestCheckRecord:
    """Values Elevo would reject are found before publishing, without quoting the value."""

    def test_valid_record_passes(self) -> None:
        fields = {**VALID, "work_start_date": "2024-02-29", "working_time_ratio": "80.5"}
        assert check_record("7", fields) is None

    @pytest.mark.parametrize(
        ("change", "column"),
        [
            ({"email": "ada.acme.example"}, "email"),
            ({"email": "ada@acme"}, "email"),
            ({"email": None, "username": "ada lovelace"}, "username"),
            ({"email": None, "username": None}, "username are both empty"),
            ({"work_start_date": "2024-02-30"}, "work_start_date"),
            ({"work_start_date": "01/02/2024"}, "work_start_date"),
            ({"working_time_ratio": "101"}, "working_time_ratio"),
            ({"working_time_ratio": "80%"}, "working_time_ratio"),
            ({"working_time_ratio": "nan"}, "working_time_ratio"),
            ({"manager_uniq_identifier": "7"}, "own uniq_identifier"),
            ({"job_title": "a\x00b"}, "NUL"),
            ({"job_title": "Chef \ud800"}, "job_title is not valid Unicode"),
        ],
    )
    def test_invalid_value_is_named_by_column(
        self, change: dict[str, str | None], column: str
    ) -> None:
        reason = check_record("7", {**VALID, **change})
        assert reason is not None
        assert column in reason
        for value in change.values():
            if value and len(value) > 4:
                assert value not in reason

    @pytest.mark.parametrize("key", ["", " 7", "7\n"])
    def test_identifier_must_be_clean_text(self, key: str) -> None:
        reason = check_record(key, VALID)
        assert reason is not None
        assert "uniq_identifier" in reason

    def test_username_alone_is_a_valid_login(self) -> None:
        assert check_record("7", {"username": "ada.love_1-x"}) is None


class TestReadExport:
    """An Elevo directory export seeds adoption; bad exports are refused with line numbers."""

    def test_spreadsheet_export_with_bom_and_semicolons_is_read(self, tmp_path: Path) -> None:
        export = tmp_path / "export.csv"
        export.write_text(
            "\ufeffEmail;First_Name;Registration_Number;Notes\n"
            "Ada@Acme.example;Ada;0001;x\n"
            "\n"
            "bob@acme.example;Bob;;y\n",
            encoding="utf-8",
        )
        rows = read_export(export)
        assert [row.fields for row in rows] == [
            {"email": "Ada@Acme.example", "first_name": "Ada", "registration_number": "0001"},
            {"email": "bob@acme.example", "first_name": "Bob", "registration_number": None},
        ]
        assert rows[1].line == 4

    def test_synthetic_keys_are_stable_and_hide_the_email(self, tmp_path: Path) -> None:
        export = tmp_path / "export.csv"
        export.write_text("email\nAda@Acme.example\n")
        again = tmp_path / "again.csv"
        again.write_text("email\nada@acme.EXAMPLE\n")
        key = read_export(export)[0].key
        assert key.startswith("export:")
        assert "ada" not in key.lower()
        assert read_export(again)[0].key == key

    def test_uniq_identifier_is_the_key_when_present(self, tmp_path: Path) -> None:
        export = tmp_path / "export.csv"
        export.write_text("uniq_identifier,email\n416,ada@acme.example\n")
        assert read_export(export)[0].key == "416"

    def test_duplicates_and_anonymous_rows_are_all_reported(self, tmp_path: Path) -> None:
        export = tmp_path / "export.csv"
        export.write_text(
            "uniq_identifier,email,username\n"
            "1,a@x.example,\n"
            "1,b@x.example,\n"
            "2,A@X.example,\n"
            ",,\n"
            "3,,\n"
            ",,\u00a0\n"
        )
        with pytest.raises(ConfigurationError) as caught:
            read_export(export)
        problems = caught.value.problems
        assert any(":3: same uniq_identifier as line 2" in p for p in problems)
        assert any(":4: same email as line 2" in p for p in problems)
        assert len(problems) == 2

    def test_export_without_login_columns_is_refused(self, tmp_path: Path) -> None:
        export = tmp_path / "export.csv"
        export.write_text("Prénom,Nom\nAda,Lovelace\n")
        with pytest.raises(ConfigurationError, match="import keys"):
            read_export(export)

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ('email,first_name\n"ada@acme.example,Ada\n', "not a readable CSV"),
            ("email,first_name\nada@acme.example," + "x" * 200_000 + "\n", "not a readable CSV"),
            ("email,email\nada@acme.example,bob@acme.example\n", "repeats the column"),
        ],
        ids=["unterminated-quote", "huge-field", "repeated-column"],
    )
    def test_malformed_export_is_a_configuration_error(
        self, tmp_path: Path, text: str, message: str
    ) -> None:
        export = tmp_path / "export.csv"
        export.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigurationError, match=message):
            read_export(export)

    def test_missing_export_is_a_configuration_error(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigurationError, match="cannot read the Elevo export"):
            read_export(tmp_path / "missing.csv")
