"""The API reference's Sphinx roles: scripts/griffe_roles.py turns them into cross-references."""

from __future__ import annotations

import logging
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

griffe = pytest.importorskip("griffe", reason="the docs tooling (the 'docs' extra) is missing")

ROOT = Path(__file__).resolve().parent.parent
EXTENSION = f"{ROOT / 'scripts' / 'griffe_roles.py'}:SphinxRoles"
ATTRS_EXTENSION = f"{ROOT / 'scripts' / 'griffe_attrs.py'}:AttrsInit"
ROLE = re.compile(r":(?:py:)?[a-z]+:`")
Probe = tuple[Any, list[logging.LogRecord]]

PROBE = {
    "__init__.py": '''
        """The probe: :class:`Sink`, :func:`helper`, :mod:`roles_probe.sub` and :func:`_hidden`.

        In code, ``:class:`Sink``` stays as written:

        ```text
        :class:`Sink` in a fence stays too
        ```
        """

        from roles_probe._impl import Sink

        __all__ = ["Sink", "helper"]


        def helper(sink: Sink) -> None:
            """Help :meth:`Sink.commit`, then :meth:`~roles_probe.Sink.begin`.

            Args:
                sink: Given to :func:`roles_probe.helper` itself, see :class:`the sink <Sink>`.

            Raises:
                ValueError: Never, unlike :exc:`ValueError` and :meth:`~datetime.date.strftime`.
                Full: Its module does not import it; ``roles_probe.sub`` exports it.
                (KeyError, Full): Each name of a tuple resolves.
                Fulll: A typo.
            """


        def _hidden() -> None:
            """Private."""
        ''',
    "sub.py": '''
        """A public submodule."""


        class Full(Exception):
            """The sink is full. Catch it this way::

                except Full: ...
            """
        ''',
    "_impl.py": '''
        """Private: :class:`Sink` lives here; :func:`nowhere` is not an error here."""


        class Sink:
            """A sink: call :meth:`begin`, then :meth:`commit`; :attr:`count` counts.

            A typo: :meth:`comit`. A role Markdown cannot mean: :ref:`setup`.
            """

            count: int = 0

            def begin(self) -> None:
                """Start; :meth:`commit` ends."""

            def commit(self) -> None:
                """End."""
        ''',
}


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Probe:
    """The probe package as the docs build loads it, and what the extension logged."""
    root = tmp_path_factory.mktemp("roles")
    (root / "roles_probe").mkdir()
    for name, source in PROBE.items():
        (root / "roles_probe" / name).write_text(textwrap.dedent(source), encoding="utf-8")
    handler = _Records()
    logger = logging.getLogger()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        package = griffe.load(
            "roles_probe",
            search_paths=[root],
            extensions=griffe.load_extensions(EXTENSION),
            resolve_aliases=False,
            docstring_parser="google",
        )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    return package, [r for r in handler.records if "griffe_roles" in r.name]


def _doc(probe: Probe, path: str) -> str:
    package, _ = probe
    obj = package[path] if path else package
    value: str = obj.docstring.value
    return value


def _messages(probe: Probe, level: int) -> list[str]:
    return [r.getMessage() for r in probe[1] if r.levelno == level]


class TestLinks:
    def test_a_method_named_alone_links_to_the_method_of_the_current_class(
        self, probe: Probe
    ) -> None:
        assert "[`begin()`][roles_probe._impl.Sink.begin]" in _doc(probe, "_impl.Sink")
        assert "[`commit()`][roles_probe._impl.Sink.commit]" in _doc(probe, "_impl.Sink.begin")

    def test_an_imported_name_links_to_where_the_object_is_defined(self, probe: Probe) -> None:
        assert "[`Sink`][roles_probe._impl.Sink]" in _doc(probe, "")
        assert "[`Sink.commit()`][roles_probe._impl.Sink.commit]" in _doc(probe, "helper")

    def test_a_tilde_shows_the_last_component_and_callables_get_parentheses(
        self, probe: Probe
    ) -> None:
        assert "[`begin()`][roles_probe._impl.Sink.begin]" in _doc(probe, "helper")
        assert "[`helper()`][roles_probe.helper]" in _doc(probe, "")

    def test_an_explicit_title_is_kept(self, probe: Probe) -> None:
        assert "[`the sink`][roles_probe._impl.Sink]" in _doc(probe, "helper")

    def test_roles_in_args_sections_become_links_the_parser_keeps(self, probe: Probe) -> None:
        package, _ = probe
        args = next(
            s for s in package["helper"].docstring.parse("google") if s.kind.value == "parameters"
        )
        assert "[`roles_probe.helper()`][roles_probe.helper]" in args.value[0].description

    def test_a_module_links_by_its_path(self, probe: Probe) -> None:
        assert "[`roles_probe.sub`][roles_probe.sub]" in _doc(probe, "")


class TestNoLink:
    def test_private_or_undocumented_targets_get_an_optional_link(self, probe: Probe) -> None:
        optional = '<autoref identifier="{}" optional><code>{}</code></autoref>'
        assert optional.format("roles_probe._hidden", "_hidden()") in _doc(probe, "")
        assert optional.format("roles_probe._impl.Sink.count", "count") in _doc(probe, "_impl.Sink")

    def test_a_name_outside_the_package_that_imports_is_code_without_warning(
        self, probe: Probe
    ) -> None:
        doc = _doc(probe, "helper")
        assert "unlike `ValueError` and `strftime()`." in doc
        assert not any("ValueError" in m or "strftime" in m for m in _messages(probe, 30))

    def test_roles_in_code_spans_and_fences_are_left_alone(self, probe: Probe) -> None:
        doc = _doc(probe, "")
        assert "``:class:`Sink```" in doc
        assert ":class:`Sink` in a fence stays too" in doc


class TestRaises:
    """mkdocstrings links a ``Raises:`` type only when griffe resolves it from the module."""

    @staticmethod
    def _types(probe: Probe) -> list[Any]:
        package, _ = probe
        [section] = [s for s in package["helper"].docstring.parsed if s.kind.value == "raises"]
        return [item.annotation for item in section.value]

    def test_a_type_the_module_does_not_import_resolves_to_where_it_is_defined(
        self, probe: Probe
    ) -> None:
        full = self._types(probe)[1]
        assert (full.name, full.reference_path) == ("Full", "roles_probe.sub.Full")

    def test_each_name_of_a_tuple_resolves(self, probe: Probe) -> None:
        names = list(self._types(probe)[2].iterate(flat=True))
        assert [n.reference_path for n in names if isinstance(n, griffe.ExprName)] == [
            "KeyError",
            "roles_probe.sub.Full",
        ]

    def test_an_unknown_type_is_a_warning(self, probe: Probe) -> None:
        [message] = [m for m in _messages(probe, logging.WARNING) if "Fulll" in m]
        assert "cannot resolve the exception 'Fulll' in the Raises: section of " in message
        assert "roles_probe.helper" in message


def test_a_restructuredtext_literal_block_is_a_warning(probe: Probe) -> None:
    [message] = [m for m in _messages(probe, logging.WARNING) if "'::'" in m]
    assert "roles_probe/sub.py:6: a reStructuredText literal block" in message
    assert "roles_probe.sub.Full" in message


class TestUnresolved:
    def test_an_unknown_name_is_code_and_a_warning_with_file_and_line(self, probe: Probe) -> None:
        assert "A typo: `comit()`." in _doc(probe, "_impl.Sink")
        [message] = [m for m in _messages(probe, logging.WARNING) if "comit" in m]
        assert message.endswith(
            "roles_probe/_impl.py:8: cannot resolve :meth:`comit` in the docstring of "
            "roles_probe._impl.Sink: no such object from this scope, nor by that absolute path, "
            "nor as a name a public module exports; fix the name or write it as code"
        )

    def test_a_role_markdown_cannot_mean_is_code_and_a_warning(self, probe: Probe) -> None:
        assert "cannot mean: `setup`." in _doc(probe, "_impl.Sink")
        assert any(":ref:" in m for m in _messages(probe, logging.WARNING))

    def test_in_a_docstring_the_reference_never_shows_it_is_only_information(
        self, probe: Probe
    ) -> None:
        assert "`nowhere()` is not an error here" in _doc(probe, "_impl")
        assert not any("nowhere" in m for m in _messages(probe, logging.WARNING))
        assert any("nowhere" in m for m in _messages(probe, logging.INFO))


def test_every_role_of_the_package_converts_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The real package: no role is left for the site, and none that is published fails."""
    with caplog.at_level(logging.WARNING):
        package = griffe.load(
            "lucca_sync",
            search_paths=[ROOT / "src"],
            # As mkdocs.yml loads it: the attrs classes' __init__ first, the Google parser.
            extensions=griffe.load_extensions(ATTRS_EXTENSION, EXTENSION),
            resolve_aliases=False,
            docstring_parser="google",
        )
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    stack = [package]
    left = []
    while stack:
        obj = stack.pop()
        if obj.docstring is not None and ROLE.search(obj.docstring.value):
            left.append(obj.path)
        stack.extend(m for m in obj.members.values() if not m.is_alias)
    assert left == []
