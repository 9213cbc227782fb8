"""The documentation's examples are real: Python runs and passes ``mypy --strict``, TOML loads.

Every ``python`` block of the documentation and the README runs as written (unless marked
``<!-- no-run -->``) and, marked or not, is type-checked with the project's ``mypy --strict``
settings. Every ``toml`` block is read by the real configuration loader (or, for a
``pyproject.toml`` excerpt, declares an entry-point group lucca_sync reads).
"""

from __future__ import annotations

import re
import shlex
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from packaging.requirements import Requirement

from lucca_sync import mapping, rules
from lucca_sync.cli._config_load import config_from_dict, load_config
from lucca_sync.exceptions import ConfigurationError
from lucca_sync.mapping import _transforms

ROOT = Path(__file__).resolve().parent.parent
_BLOCK = re.compile(
    r"(?P<marker><!-- no-run -->[ \t]*\n)?"
    r"^(?P<indent>[ \t]*)```(?P<language>python|toml)[^\n]*\n(?P<body>.*?)^(?P=indent)```",
    re.DOTALL | re.MULTILINE,
)


@attrs.frozen
class Block:
    """One fenced code block of a page."""

    page: Path
    language: str
    line: int  # of the block's first line of code, 1-based, in the page
    source: str  # indentation removed
    runs: bool

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def _pages() -> list[Path]:
    return sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])


def _blocks(page: Path, language: str) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in _BLOCK.finditer(text):
        if match["language"] != language:
            continue
        indent = match["indent"]
        lines = [line.removeprefix(indent) for line in match["body"].splitlines()]
        first = text.count("\n", 0, match.start("body")) + 1
        found.append(Block(page, language, first, "\n".join(lines), not match["marker"]))
    return found


PYTHON_PAGES = [page for page in _pages() if _blocks(page, "python")]
RUN_PAGES = [page for page in PYTHON_PAGES if any(b.runs for b in _blocks(page, "python"))]


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_documentation_has_runnable_examples() -> None:
    assert RUN_PAGES, "no page of the documentation has a runnable python example"


@pytest.mark.parametrize("page", RUN_PAGES, ids=_page_id)
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The blocks of one page run in order, sharing one namespace, in an empty folder.

    The examples assert what they show, so a wrong example fails here.
    """
    monkeypatch.chdir(tmp_path)
    # Pages may register transforms; the rest of the suite must not see them.
    monkeypatch.setattr(_transforms, "_REGISTERED", dict(_transforms._REGISTERED))
    namespace: dict[str, object] = {"__name__": f"docs_example_{page.stem}"}
    for number, block in enumerate(_blocks(page, "python"), start=1):
        if not block.runs:
            continue
        code = compile(block.source, f"{_page_id(page)} (example {number})", "exec")
        exec(code, namespace)  # noqa: S102 - running the documentation is the point


# -- mypy --strict ------------------------------------------------------------------------------


def _as_module(page: Path) -> str:
    """The page's python blocks at their own line numbers, so mypy's lines are the page's."""
    lines: list[str] = []
    for block in _blocks(page, "python"):
        lines += [""] * (block.line - 1 - len(lines))
        lines += block.source.splitlines()
    return "\n".join(lines) + "\n"


def _module_name(page: Path) -> str:
    return "docs_" + re.sub(r"\W", "_", str(page.relative_to(ROOT).with_suffix("")))


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, list[str]]:
    """``mypy --strict`` (the project's settings) run once over every page's examples."""
    api = pytest.importorskip("mypy.api")
    folder = tmp_path_factory.mktemp("docs_examples")
    modules = {}
    for page in PYTHON_PAGES:
        module = folder / f"{_module_name(page)}.py"
        module.write_text(_as_module(page), encoding="utf-8")
        modules[module.name] = page
    stdout, stderr, status = api.run(
        [
            "--config-file", str(ROOT / "pyproject.toml"),
            "--cache-dir", str(ROOT / ".mypy_cache"),
            "--no-error-summary", "--hide-error-context", "--show-error-codes",
            *(str(folder / name) for name in modules),
        ]
    )  # fmt: skip
    assert status in (0, 1), f"mypy could not run:\n{stdout}{stderr}"
    errors: dict[Path, list[str]] = {page: [] for page in PYTHON_PAGES}
    for line in stdout.splitlines():
        name, _, rest = line.partition(":")
        reported = modules.get(Path(name).name)
        assert reported is not None, f"mypy reported outside the examples: {line}"
        if ": note: " not in rest:
            errors[reported].append(f"{_page_id(reported)}:{rest}")
    return errors


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=_page_id)
def test_page_examples_pass_mypy_strict(page: Path, mypy_errors: dict[Path, list[str]]) -> None:
    """The blocks of one page, as one module, pass ``mypy --strict`` with the project's options.

    Errors point at the page's own lines.
    """
    errors = mypy_errors[page]
    assert not errors, "\n".join(errors)


# -- TOML ---------------------------------------------------------------------------------------

TOML_BLOCKS = [block for page in _pages() for block in _blocks(page, "toml")]
#: What a configuration excerpt is completed with (see _complete).
BASE_CONFIG: dict[str, dict[str, object]] = {
    "lucca": {"url": "https://acme.ilucca.net"},
    "sink": {"type": "directory", "path": "drop", "state_dir": "state"},
}
#: Keys that make an excerpt's table a different tenant or sink, not additions to the base's.
_OWN_TABLE = {"lucca": {"url", "subdomain"}, "sink": {"type"}}
#: The entry-point groups lucca_sync reads: a pyproject.toml excerpt must declare one of them.
ENTRY_POINT_GROUPS = {rules.ENTRY_POINT_GROUP, mapping.ENTRY_POINT_GROUP}


def _is_pyproject(data: dict[str, Any]) -> bool:
    return set(data) == {"project"}


def _entry_points(page: Path) -> dict[str, dict[str, str]]:
    """The entry points a page's pyproject.toml excerpts declare, by group."""
    declared: dict[str, dict[str, str]] = {}
    for block in _blocks(page, "toml"):
        data = tomllib.loads(block.source)
        if _is_pyproject(data):
            for group, entries in data["project"].get("entry-points", {}).items():
                declared.setdefault(group, {}).update(entries)
    return declared


def _install_plugins(declared: dict[str, dict[str, str]], folder: Path) -> list[str]:
    """Install the declared entry points as a real (stub) distribution on ``sys.path``.

    Each target is a factory that accepts any options and returns a rule that keeps everyone,
    so that a configuration naming the plug-in loads as it would with the package installed.
    Returns the top-level modules created.
    """
    info = folder / "docs_plugins-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: docs-plugins\nVersion: 1.0\n")
    lines = []
    modules: dict[str, set[str]] = {}
    for group, entries in declared.items():
        lines.append(f"[{group}]")
        for name, target in entries.items():
            lines.append(f"{name} = {target}")
            module, _, attribute = target.partition(":")
            modules.setdefault(module, set()).add(attribute)
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module, attributes in modules.items():
        file = folder.joinpath(*module.split(".")).with_suffix(".py")
        file.parent.mkdir(parents=True, exist_ok=True)
        for package in file.relative_to(folder).parents:
            if package != Path("."):
                (folder / package / "__init__.py").touch()
        factories = "".join(
            f"def {name}(*args, **options):\n    return lambda employee: None\n\n\n"
            for name in sorted(attributes)
        )
        file.write_text(factories)
    return sorted({module.split(".")[0] for module in modules})


def _complete(excerpt: dict[str, Any]) -> dict[str, Any]:
    """The excerpt on top of BASE_CONFIG: its keys are added to the base's tables, except a
    table naming its own tenant or sink type, which replaces the base's."""
    data: dict[str, Any] = dict(BASE_CONFIG)
    for key, value in excerpt.items():
        base = data.get(key)
        if isinstance(base, dict) and not _OWN_TABLE.get(key, set()) & set(value):
            data[key] = {**base, **value}
        else:
            data[key] = value
    return data


def test_documentation_has_toml_examples() -> None:
    assert TOML_BLOCKS, "no page of the documentation has a toml example"


@pytest.mark.parametrize("block", TOML_BLOCKS, ids=lambda block: block.where)
def test_toml_example_loads(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A configuration excerpt passes the real configuration loader; a pyproject.toml excerpt
    declares an entry-point group lucca_sync reads.

    An excerpt without both ``[lucca]`` and ``[sink]`` is completed with a minimal
    configuration (its own top-level tables win); a complete one is loaded from a file as
    ``lucca-sync`` loads it. Plug-ins the page declares in ``pyproject.toml`` are installed as
    stubs first, so that a configuration naming them loads.
    """
    data = tomllib.loads(block.source)
    if _is_pyproject(data):
        groups = set(data["project"].get("entry-points", {}))
        assert groups, f"{block.where}: a pyproject.toml excerpt without entry points"
        assert groups <= ENTRY_POINT_GROUPS, f"{block.where}: lucca_sync reads no {groups}"
        return
    declared = _entry_points(block.page)
    if declared:
        monkeypatch.syspath_prepend(str(tmp_path))
        for module in _install_plugins(declared, tmp_path):
            monkeypatch.delitem(sys.modules, module, raising=False)
    file = tmp_path / "lucca-sync.toml"
    try:
        if {"lucca", "sink"} <= set(data):
            file.write_text(block.source, encoding="utf-8")
            load_config(file)
        else:
            config_from_dict(_complete(data), path=file)
    except ConfigurationError as error:
        pytest.fail(f"{block.where}: {error}; " + "; ".join(error.problems))
    finally:
        for module in [name for name in sys.modules if name.startswith("acme_hr")]:
            del sys.modules[module]


def test_a_wrong_toml_example_would_fail(tmp_path: Path) -> None:
    """The check above can fail: the form an old page showed is refused by the loader."""
    with pytest.raises(ConfigurationError):
        config_from_dict({**BASE_CONFIG, "rules": [{"rule": "skip_flag"}]}, path=tmp_path / "x")


# -- install commands ---------------------------------------------------------------------------

_PIP_INSTALL = re.compile(r"pip install (?P<rest>[^\n`]*)")


def _install_commands() -> list[tuple[str, list[str]]]:
    """Every ``pip install`` of the README and the docs: (where, the requirements it names)."""
    found = []
    for page in [*_pages(), ROOT / "examples" / "lucca-sync.toml"]:
        text = page.read_text(encoding="utf-8")
        for match in _PIP_INSTALL.finditer(text):
            rest = re.split(r"&&|;|\)|\"", match["rest"])[0]
            where = f"{page.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}"
            words = shlex.split(rest)
            found.append((where, [w for w in words if not w.startswith("-") and w != "in"][:1]))
    return found


def _install_problem(requirement: str, extras_known: set[str]) -> str | None:
    if requirement.startswith((".", "/")):  # a clone: its folder, with extras
        extras = requirement.partition("[")[2]
        unknown = set(filter(None, extras.rstrip("]").split(","))) - extras_known
        return f"unknown extras {sorted(unknown)}" if unknown else None
    parsed = Requirement(requirement)
    if parsed.name != "lucca-sync":
        return None
    if parsed.url is None:
        return "lucca-sync has no release on any index: install from a clone"
    if not parsed.url.startswith("file:"):
        # mkdocs.yml's repo_url has never been confirmed to exist: no page may send readers to it.
        return f"{parsed.url}: no public repository is known to hold lucca-sync; name a clone"
    unknown = parsed.extras - extras_known
    return f"unknown extras {sorted(unknown)}" if unknown else None


def test_install_commands_install_from_a_clone() -> None:
    """No page tells readers to ``pip install lucca-sync`` from an index or a Git URL: there is
    no release, and no public repository is known.

    Each command installs a clone (``pip install '.[sftp]'``, ``'/path/to/lucca-sync[sftp]'``
    or a ``file:`` URL), with extras the project declares.
    """
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extras_known = set(pyproject["project"]["optional-dependencies"])
    commands = _install_commands()
    assert any(where.startswith("docs/quickstart.md") for where, _ in commands)
    problems = [
        f"{where}: pip install {requirement}: {problem}"
        for where, requirements in commands
        for requirement in requirements
        if (problem := _install_problem(requirement, extras_known))
    ]
    assert not problems, "\n".join(problems)


def test_the_install_check_refuses_an_index_install() -> None:
    assert _install_problem("lucca-sync[sftp]", {"sftp"}) is not None
    assert _install_problem(".[sftp,nope]", {"sftp"}) == "unknown extras ['nope']"
    git = "lucca-sync[sftp] @ git+https://github.com/lucca-sync/lucca-sync"
    assert _install_problem(git, {"sftp"}) is not None
    assert _install_problem("lucca-sync[sftp] @ file:///src/lucca-sync", {"sftp"}) is None


# -- the block finder ---------------------------------------------------------------------------


def _iter_blocks() -> Iterator[Block]:
    for page in _pages():
        yield from _blocks(page, "python")
        yield from _blocks(page, "toml")


def test_the_block_finder_sees_marked_and_indented_blocks() -> None:
    blocks = list(_iter_blocks())
    assert any(not block.runs for block in blocks)
    assert any(block.line > 1 and block.source.startswith("[sink]") for block in blocks)
    assert all(block.source.strip() for block in blocks)
