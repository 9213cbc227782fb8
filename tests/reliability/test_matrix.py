"""docs/reliability.md publishes exactly the matrix the tests inject and assert."""

from __future__ import annotations

import importlib
import inspect

from lucca_sync import exceptions

from .matrix import BEGIN, CASES, DOCS_PAGE, END, render


class TestPublishedMatrix:
    """The docs table is generated from tests/reliability/matrix.py and cannot drift."""

    def test_docs_page_holds_the_rendered_matrix(self) -> None:
        page = DOCS_PAGE.read_text(encoding="utf-8")
        start, end = page.index(BEGIN), page.index(END) + len(END)
        assert page[start:end] == render(), (
            "docs/reliability.md is out of date: run `python -m tests.reliability.matrix --write`"
        )

    def test_every_row_names_a_parametrized_test_that_exists(self) -> None:
        for case in CASES:
            path, cls_name, function = case.test.split("::")
            module = importlib.import_module(
                f"{__package__}.{path.removeprefix('tests/reliability/').removesuffix('.py')}"
            )
            test = getattr(getattr(module, cls_name), function)
            assert "case" in inspect.signature(test).parameters

    def test_ids_are_unique_and_errors_are_typed(self) -> None:
        assert len({case.id for case in CASES}) == len(CASES)
        for case in CASES:
            if case.error is not None and case.error != "Crash":
                assert issubclass(getattr(exceptions, case.error), exceptions.LuccaSyncError)
