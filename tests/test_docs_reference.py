"""The API reference: griffe sees attrs classes' fields, and every docstring parses cleanly."""

from __future__ import annotations

import logging
import sys
import textwrap
from pathlib import Path
from typing import Any

import attrs
import pytest

griffe = pytest.importorskip("griffe", reason="the docs tooling (the 'docs' extra) is missing")

import lucca_sync  # noqa: E402 - after the skip above, on purpose
from lucca_sync.testing import Operation  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXTENSION = f"{ROOT / 'scripts' / 'griffe_attrs.py'}:AttrsInit"


def _load(package: str, search_path: Path) -> Any:
    return griffe.load(
        package,
        search_paths=[search_path],
        extensions=griffe.load_extensions(EXTENSION),
        resolve_aliases=False,
    )


@pytest.fixture(scope="module")
def api() -> Any:
    """The lucca_sync package as the docs build reads it."""
    return _load("lucca_sync", ROOT / "src")


def _documented(obj: Any) -> list[Any]:
    """``obj`` and everything defined under it (imports left out), depth first."""
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias:
            found.extend(_documented(member))
    return found


def _parameters(cls: Any) -> list[tuple[str, str, str | None]]:
    return [(p.name, p.kind.value, p.default) for p in cls.members["__init__"].parameters][1:]


class TestAttrsClasses:
    """An attrs class is documented with the constructor attrs generates."""

    def test_fields_become_parameters_with_defaults_and_keyword_only_markers(
        self, api: Any
    ) -> None:
        safety = api["_engine._safety.Safety"]
        assert _parameters(safety)[:2] == [
            ("max_suspensions", "keyword-only", "10"),
            ("max_suspension_ratio", "keyword-only", "0.05"),
        ]
        assert [name for name, _, _ in _parameters(safety)] == [
            field.alias for field in attrs.fields(lucca_sync.Safety) if field.init
        ]

    def test_factories_show_as_calls_and_annotations_come_from_the_source(self, api: Any) -> None:
        operation = api["testing._memory_sink.Operation"]
        init = operation.members["__init__"]
        assert [p.name for p in init.parameters][1:] == [f.alias for f in attrs.fields(Operation)]
        assert str(init.parameters["fields"].default) == "dict()"
        assert str(init.parameters["key"].annotation) == "str | None"

    def test_a_class_with_its_own_init_keeps_it(self, api: Any) -> None:
        init = api["testing._memory_sink.MemorySink"].members["__init__"]
        assert [p.name for p in init.parameters] == ["self", "users", "accepted_fields"]
        assert init.lineno > 0  # the source's, not one made up

    def test_a_documented_argument_that_is_no_field_still_warns(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        package = tmp_path / "docs_probe"
        package.mkdir()
        (package / "__init__.py").write_text(
            textwrap.dedent(
                '''
                import attrs

                @attrs.frozen
                class Point:
                    """A point.

                    Args:
                        x: Across.
                        z: Not a field.
                    """

                    x: int
                    _y: int = 0
                '''
            ),
            encoding="utf-8",
        )
        monkeypatch.syspath_prepend(str(tmp_path))  # griffe imports it, as attrs must run
        try:
            point = _load("docs_probe", tmp_path)["Point"]
            assert [p.name for p in point.members["__init__"].parameters] == ["self", "x", "y"]
            with caplog.at_level(logging.WARNING, logger="griffe"):
                point.docstring.parse("google")
        finally:
            sys.modules.pop("docs_probe", None)
        assert any(
            "'z' does not appear in the function signature" in r.message for r in caplog.records
        )
        assert not any("'x'" in r.message for r in caplog.records)


class TestDocstrings:
    """Every docstring of the package parses without a warning, as the strict build needs."""

    def test_no_docstring_warns(self, api: Any, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.WARNING, logger="griffe"):
            for obj in _documented(api):
                if obj.docstring is not None:
                    obj.docstring.parse("google")
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
