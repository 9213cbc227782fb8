"""Every ``python`` code block of the documentation and the README runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lucca_sync.mapping import _transforms as _mapping_transforms

ROOT = Path(__file__).resolve().parent.parent
_BLOCK = re.compile(
    r"(?P<marker><!-- no-run -->\s*\n)?"
    r"^(?P<indent>[ \t]*)```python[^\n]*\n(?P<body>.*?)^(?P=indent)```",
    re.DOTALL | re.MULTILINE,
)


def _pages() -> list[Path]:
    return sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])


def _examples(page: Path) -> list[str]:
    blocks = []
    for match in _BLOCK.finditer(page.read_text(encoding="utf-8")):
        if match["marker"]:
            continue
        indent = match["indent"]
        lines = match["body"].splitlines()
        blocks.append("\n".join(line.removeprefix(indent) for line in lines))
    return blocks


PAGES = [page for page in _pages() if _examples(page)]


def test_documentation_has_runnable_examples() -> None:
    assert PAGES, "no page of the documentation has a runnable python example"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The blocks of one page run in order, sharing one namespace, in an empty folder.

    The examples assert what they show, so a wrong example fails here.
    """
    monkeypatch.chdir(tmp_path)
    # Pages may register transforms; the rest of the suite must not see them.
    monkeypatch.setattr(_mapping_transforms, "_REGISTERED", dict(_mapping_transforms._REGISTERED))
    namespace: dict[str, object] = {"__name__": f"docs_example_{page.stem}"}
    for number, source in enumerate(_examples(page), start=1):
        code = compile(source, f"{page.relative_to(ROOT)} (example {number})", "exec")
        exec(code, namespace)  # noqa: S102 - running the documentation is the point
