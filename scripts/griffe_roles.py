"""Griffe extension for the API reference: Sphinx roles in docstrings become cross-references.

The docstrings are written for ``help()`` as well as for the site, and name other objects with
Sphinx's Python roles: ``:class:`~lucca_sync.Sink```, ``:meth:`commit```,
``:func:`lucca_sync.plan```, ``:attr:``, ``:exc:``, ``:data:``, ``:mod:``. Markdown knows none
of them, so mkdocstrings printed them as they are. This extension rewrites each role, in every
docstring of the loaded package (module docstrings and ``Args:``/``Returns:``/``Raises:``
sections included), into an autorefs cross-reference before mkdocstrings renders it:

- ``:class:`~lucca_sync.Sink``` becomes ``[`Sink`][lucca_sync.sinks.Sink]``. The title is what
  Sphinx shows: the last component with ``~``, the name as written without it, ``()`` after a
  function or method, the title of ``:role:`title <target>```. The identifier is the object's
  canonical path, which mkdocstrings registers for every object it renders.
- A name resolves from the inside out: the members of the current class (inherited ones
  included), of its module, of each enclosing package; then as an absolute path
  (``lucca_sync.…``); then as a name that the public modules (``lucca_sync``,
  ``lucca_sync.exceptions``, …) export, if they agree on one object.
- A name outside the package that Python imports (``datetime.date.strftime``, ``ValueError``)
  is shown as code: no external inventory is configured.
- A link to a public object with a docstring (one the reference renders) is required: if the
  reference does not render it, autorefs warns and the strict build fails. A private object or
  one without a docstring (an undocumented attribute) gets an optional link: code, linked only
  if the reference happens to render it.
- A name that resolves to nothing is shown as code and logged on a logger mkdocstrings relays
  to MkDocs, with its file and line: a warning, which fails ``mkdocs build --strict``, when the
  docstring is published; an information line for a docstring the reference never shows (a
  private module's).

A ``Raises:`` section's exception types resolve the same way (mkdocstrings itself links one
only when the documented object's module imports it); one that resolves to nothing warns. A
line ending in ``::`` (a reStructuredText literal block, shown as text in Markdown) warns too.

Roles inside fenced code blocks and ````code```` spans are left alone. ``help()`` keeps the
Sphinx roles: the source is not changed. Another Sphinx role (``:ref:``, ``:doc:``, …) means
nothing here: it is shown as code and warns like an unresolved name.

Loaded by ``mkdocs.yml`` (``extensions: [scripts/griffe_roles.py:SphinxRoles]``); tested by
``tests/test_docs_roles.py``.
"""

from __future__ import annotations

import builtins
import importlib
import re
from collections.abc import Iterator
from typing import Any

import griffe

__all__ = ["SphinxRoles", "convert_roles"]

_PYTHON_ROLES = frozenset(
    {"class", "exc", "meth", "func", "attr", "data", "const", "obj", "mod", "type", "property"}
)
_CALLABLE_ROLES = frozenset({"meth", "func"})

# A ``code`` span, or a role: optional ``py:`` domain, the role's name, its backquoted content.
_TOKEN = re.compile(
    r"(?P<code>``.+?``)"
    r"|(?<![\w`]):(?:py:)?(?P<role>[a-z][a-z-]*):`(?P<content>[^`]+)`(?!`)",
    re.DOTALL,
)
_FENCE = re.compile(r"^\s*(```|~~~)")
_RAISES = re.compile(r"^\s*Raises:\s*$", re.MULTILINE)
_NAME = re.compile(r"^[A-Za-z_][\w.]*$")
_EXPLICIT_TITLE = re.compile(r"^(?P<title>.+?)\s*<(?P<target>[^<>]+)>$", re.DOTALL)

_logger = griffe.get_logger("griffe_roles")


def _members(scope: griffe.Object) -> dict[str, Any]:
    """``scope``'s members, a class's inherited ones included."""
    if scope.is_class:
        try:
            return dict(scope.all_members)
        except (griffe.AliasResolutionError, griffe.CyclicAliasError):
            pass
    return dict(scope.members)


def _final(obj: Any) -> griffe.Object | str | None:
    """The object ``obj`` stands for; for an alias to something outside the loaded packages,
    the path it imports (a string)."""
    if isinstance(obj, griffe.Alias):
        try:
            return obj.final_target
        except (griffe.AliasResolutionError, griffe.CyclicAliasError):
            return obj.target_path
    return obj if isinstance(obj, griffe.Object) else None


def _walk(start: Any, parts: list[str]) -> griffe.Object | str | None:
    """Follow ``parts`` down from ``start``; a string when the walk leaves the package."""
    current = _final(start)
    for index, part in enumerate(parts):
        if current is None:
            return None
        if isinstance(current, str):
            return ".".join([current, *parts[index:]])
        current = _final(_members(current).get(part))
    return current


def _scopes(obj: griffe.Object) -> Iterator[griffe.Object]:
    """Where a short name is looked up from ``obj``'s docstring, innermost first."""
    scope: griffe.Object | None = obj if (obj.is_class or obj.is_module) else obj.parent
    while scope is not None:
        yield scope
        scope = scope.parent


def _importable(path: str) -> bool:
    """Whether ``path`` names something outside the package that Python can import."""
    parts = path.split(".")
    if len(parts) == 1:
        return hasattr(builtins, path)
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        except Exception:  # importing a stranger must not break the build
            return False
        for attribute in parts[cut:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


class _Index:
    """What a package publishes: every object reachable by names without a leading ``_``."""

    def __init__(self, root: griffe.Object) -> None:
        self.public: set[str] = set()
        self.modules: list[griffe.Object] = []
        self._add(root)

    def _add(self, obj: griffe.Object) -> None:
        if obj.path in self.public:
            return
        self.public.add(obj.path)
        if obj.is_module:
            self.modules.append(obj)
        for name, member in _members(obj).items():
            target = _final(member)
            if (
                not name.startswith("_")
                and isinstance(target, griffe.Object)
                and target.package is obj.package
            ):
                self._add(target)

    def exported(self, parts: list[str]) -> griffe.Object | None:
        """The object that public modules export under ``parts``, if they agree on one."""
        found: dict[str, griffe.Object] = {}
        for module in self.modules:
            target = _walk(_members(module).get(parts[0]), parts[1:])
            if isinstance(target, griffe.Object):
                found[target.path] = target
        return next(iter(found.values())) if len(found) == 1 else None


def resolve(name: str, obj: griffe.Object, index: _Index) -> griffe.Object | str | None:
    """What ``name``, written in ``obj``'s docstring, refers to.

    Returns:
        The griffe object; the dotted path of an importable object outside the package; or
        ``None`` when nothing matches.
    """
    parts = name.split(".")
    for scope in _scopes(obj):
        first = _members(scope).get(parts[0])
        found = _walk(first, parts[1:]) if first is not None else None
        if isinstance(found, griffe.Object):
            return found
        if isinstance(found, str) and _importable(found):
            return found
    root = obj.package
    if parts[0] == root.name:
        found = _walk(root, parts[1:])
        return found if isinstance(found, griffe.Object) else None
    if _importable(name):
        return name
    return index.exported(parts)


def _title(role: str, content: str) -> tuple[str, str, bool]:
    """The title Sphinx shows, the target, and whether the role asks for no link (``!``)."""
    explicit = _EXPLICIT_TITLE.match(content)
    if explicit:
        return explicit["title"], explicit["target"].strip(), False
    target = " ".join(content.split())
    no_link = target.startswith("!")
    target = target.lstrip("!")
    if target.startswith("~"):
        target = target[1:]
        title = target.rsplit(".", 1)[-1]
    else:
        title = target
    target = target.lstrip(".")
    title = title.lstrip(".")
    if role in _CALLABLE_ROLES and not title.endswith(")"):
        title += "()"
    return title, target, no_link


def _code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    return f"{fence}{text}{fence}"


def _warn(obj: griffe.Object, line: int, message: str, *, published: bool) -> None:
    """A warning (the strict build fails) for a docstring the reference shows; for one it
    never shows (a private module's, say), an information line."""
    try:
        where = f"{obj.relative_filepath}:{line}"
    except (ValueError, griffe.BuiltinModuleError):
        where = obj.path
    if published:
        _logger.warning(f"{where}: {message}")
    else:
        _logger.info(f"{where}: {message} (not an error: this docstring is not published)")


def _convert_line(text: str, obj: griffe.Object, line: int, index: _Index) -> str:
    def replace(match: re.Match[str]) -> str:
        if match["code"] is not None:
            return match["code"]
        role, content = match["role"], match["content"]
        published = obj.path in index.public
        here = line + text.count("\n", 0, match.start())
        if role not in _PYTHON_ROLES:
            _warn(
                obj,
                here,
                f"the Sphinx role :{role}: has no meaning in Markdown; write a Markdown link "
                f"or a Python role (:class:, :func:, :meth:, ...) instead of {match[0]}",
                published=published,
            )
            return _code(content)
        title, target, no_link = _title(role, content)
        found = resolve(target, obj, index)
        if found is None:
            _warn(
                obj,
                here,
                f"cannot resolve {match[0]} in the docstring of {obj.path}: no such object from "
                "this scope, nor by that absolute path, nor as a name a public module exports; "
                "fix the name or write it as code",
                published=published,
            )
            return _code(title)
        if no_link or isinstance(found, str):
            return _code(title)
        identifier = found.canonical_path
        if identifier in index.public and found.docstring is not None:
            return f"[{_code(title)}][{identifier}]"
        return f'<autoref identifier="{identifier}" optional><code>{title}</code></autoref>'

    return _TOKEN.sub(replace, text)


def convert_roles(text: str, obj: griffe.Object, *, first_line: int = 1) -> str:
    """``text`` (a docstring of ``obj``) with its Sphinx roles written as cross-references.

    Args:
        text: The docstring, without its quotes.
        obj: The object it documents; short names resolve from there.
        first_line: The line of the file the docstring starts on, for the warnings.
    """
    return _convert(text, obj, first_line, _Index(obj.package))


def _convert(text: str, obj: griffe.Object, first_line: int, index: _Index) -> str:
    lines = text.split("\n")
    out: list[str] = []
    in_fence = False
    paragraph: list[tuple[int, str]] = []

    def flush() -> None:
        # A role may wrap onto the next line: convert a run of lines at once.
        if paragraph:
            start = paragraph[0][0]
            out.extend(
                _convert_line("\n".join(t for _, t in paragraph), obj, start, index).split("\n")
            )
            paragraph.clear()

    for number, line in enumerate(lines, start=first_line):
        if _FENCE.match(line):
            flush()
            in_fence = not in_fence
            out.append(line)
        elif in_fence:
            out.append(line)
        elif not line.strip():
            flush()
            out.append(line)
        else:
            if line.rstrip().endswith("::"):
                _warn(
                    obj,
                    number,
                    f"a reStructuredText literal block (a line ending in '::') in the docstring "
                    f"of {obj.path} renders as text in Markdown; end the line with ':' and "
                    "write a fenced code block or a list",
                    published=obj.path in index.public,
                )
            paragraph.append((number, line))
    flush()
    return "\n".join(out)


def _documented(obj: griffe.Object, seen: set[str]) -> Iterator[griffe.Object]:
    if obj.path in seen:
        return
    seen.add(obj.path)
    yield obj
    for member in obj.members.values():
        if not member.is_alias and isinstance(member, griffe.Object):
            yield from _documented(member, seen)


def _link_raises(docstring: griffe.Docstring, obj: griffe.Object, index: _Index) -> None:
    """Make the exception types of ``docstring``'s ``Raises:`` section resolve.

    mkdocstrings links a type only when griffe resolves it from the documented object's
    module, so ``APIError:`` in a module that does not import ``APIError`` showed as text.
    Each type resolves here as a role's name does and is stored, resolved, in the parsed
    sections mkdocstrings renders (``Docstring.parsed``, parsed once, after the roles).
    """
    if docstring.parser is None or not _RAISES.search(docstring.value):
        return
    for section in docstring.parsed:
        if section.kind is not griffe.DocstringSectionKind.raises:
            continue
        for item in section.value:
            annotation = item.annotation
            # A name, or each name of a tuple (``(APIError, SinkError):``).
            names = (
                [annotation]
                if isinstance(annotation, str)
                else [
                    name
                    for name in annotation.iterate(flat=True)
                    if isinstance(name, griffe.ExprName)
                    and not isinstance(name.parent, griffe.Expr)  # a path's first name only
                ]
            )
            for name in names:
                if isinstance(name, griffe.ExprName) and name.reference_path is not None:
                    continue  # griffe resolves it (imported there, or a builtin)
                text = name if isinstance(name, str) else name.name
                found = resolve(text, obj, index) if _NAME.match(text) else None
                if found is None:
                    _warn(
                        obj,
                        docstring.lineno or 1,
                        f"cannot resolve the exception {text!r} in the Raises: section of "
                        f"{obj.path}: no such object from this scope, nor by that absolute "
                        "path, nor as a name a public module exports; fix the name",
                        published=obj.path in index.public,
                    )
                elif isinstance(found, griffe.Object):
                    module, _, short = found.canonical_path.rpartition(".")
                    if isinstance(name, str):
                        item.annotation = griffe.ExprName(short, parent=module)
                    else:
                        name.name, name.parent, name.member = short, module, None


class SphinxRoles(griffe.Extension):
    """Rewrites the Sphinx roles of a loaded package's docstrings into cross-references, and
    resolves the exception types their ``Raises:`` sections name."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Runs once the whole package is loaded, so that every name can resolve."""
        index = _Index(pkg)
        for obj in _documented(pkg, set()):
            docstring = obj.docstring
            if docstring is not None and ":" in docstring.value:
                docstring.value = _convert(docstring.value, obj, docstring.lineno or 1, index)
                _link_raises(docstring, obj, index)
