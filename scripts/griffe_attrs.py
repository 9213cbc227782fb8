"""Griffe extension for the API reference: attrs classes get the ``__init__`` attrs generates.

Griffe reads the source statically and knows dataclasses but not attrs, so an attrs class looks
like a class without parameters: the reference shows no constructor, and griffe warns about
every name its ``Args:`` section documents. This extension imports each class (the package is
installed when the docs are built), asks attrs for its fields and adds the matching
``__init__``: parameter names are the fields' aliases (``_key`` is passed as ``key``), defaults
and keyword-only markers are attrs's own, annotations are the source's (so they link).

A documented argument that is not a field then still warns, and the strict build fails: the
``Args:`` sections stay checked.

Loaded by ``mkdocs.yml`` (``extensions: [scripts/griffe_attrs.py:AttrsInit]``).
"""

from __future__ import annotations

from typing import Any

import attrs
import griffe

__all__ = ["AttrsInit"]


def _default(field: attrs.Attribute[Any]) -> str | None:
    """The default as the signature shows it: ``None`` for a required field."""
    default: object = field.default
    if default is attrs.NOTHING:
        return None
    factory = getattr(default, "factory", None)  # an attrs.Factory
    if factory is not None:
        return f"{getattr(factory, '__name__', 'factory')}()"
    return repr(default)


def _init(cls: griffe.Class, runtime: type) -> griffe.Function:
    """The ``__init__`` attrs generates for ``runtime``, in griffe's terms."""
    parameters = [griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword)]
    for field in attrs.fields(runtime):
        if not field.init:
            continue
        member = cls.all_members.get(field.name)
        annotation = member.annotation if isinstance(member, griffe.Attribute) else None
        kind = (
            griffe.ParameterKind.keyword_only
            if field.kw_only
            else griffe.ParameterKind.positional_or_keyword
        )
        parameters.append(
            griffe.Parameter(field.alias, annotation=annotation, kind=kind, default=_default(field))
        )
    return griffe.Function(
        "__init__",
        lineno=cls.lineno,
        endlineno=cls.lineno,
        parameters=griffe.Parameters(*parameters),
        returns="None",
        parent=cls,
    )


def _runtime_class(path: str) -> type | None:
    try:
        found = griffe.dynamic_import(path)
    except ImportError:
        return None
    return found if isinstance(found, type) else None


def add_attrs_inits(obj: griffe.Module | griffe.Class, seen: set[str] | None = None) -> None:
    """Give every attrs class under ``obj`` (without an ``__init__`` of its own) one."""
    seen = set() if seen is None else seen
    if obj.path in seen:
        return
    seen.add(obj.path)
    if isinstance(obj, griffe.Class) and "__init__" not in obj.members:
        runtime = _runtime_class(obj.path)
        if runtime is not None and attrs.has(runtime):
            obj.set_member("__init__", _init(obj, runtime))
    for member in obj.members.values():
        if isinstance(member, griffe.Module | griffe.Class):
            add_attrs_inits(member, seen)


class AttrsInit(griffe.Extension):
    """Adds attrs's generated ``__init__`` to every attrs class of a loaded package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Runs once the whole package is loaded (so base classes resolve)."""
        add_attrs_inits(pkg)
