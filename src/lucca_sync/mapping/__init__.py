"""Field mapping: how an :class:`~lucca_sync.Employee` becomes a target record.

A :class:`FieldMapping` holds one :class:`Field` per target key. Each field takes a value from a
*source* (a path into the employee or its raw JSON, a constant, a coalesce, a template, a lookup
or a Python callable), runs it through *transforms*, writes it as text, applies its empty-value
policy and checks the target's constraints. The record always carries ``uniq_identifier`` (the
Lucca id) and ``manager_uniq_identifier`` (the manager's Lucca id).

```python
mapping = FieldMapping.elevo_default().with_field(
    "custom_site", Field("extendedData.e_site", transforms=(strip, truncate(50)))
)
record = mapping.map(employee)         # {"uniq_identifier": "416", "first_name": ...}
mapping.explain(employee)              # where each value came from
```

Declarative configurations go through :meth:`FieldMapping.from_dict`, which reports every
problem at once in one :class:`~lucca_sync.exceptions.ConfigurationError`.

Where things live, in the order a value travels:

- ``_sources.py`` — where a value comes from: `Path`, `Constant`, `Coalesce`, `Template`,
  `Lookup`, `Computed`;
- ``_transforms.py`` — named transforms (`strip`, `truncate`, `date_format` …), the registry
  and the ``lucca_sync.transforms`` entry-point group;
- ``_values.py`` — writing a value as text, and naming what it is in messages;
- ``_checks.py`` — a target's constraints on values and records (dates, lengths);
- ``_fields.py`` — `Field`: one key's source, transforms, apply mode and empty policy;
  the fixed keys and Elevo's default fields;
- ``_compiled.py`` — one generated function for mappings of plain attribute fields (speed);
- ``_field_mapping.py`` — `FieldMapping`: a record from an employee; cattrs hooks;
- ``_config.py`` — the declarative form (TOML/JSON) to fields, every problem at once.
"""

from lucca_sync.mapping._field_mapping import FieldMapping, register_cattrs_hooks
from lucca_sync.mapping._fields import ApplyMode, EmptyPolicy, Field, FieldExplanation
from lucca_sync.mapping._sources import (
    Coalesce,
    Computed,
    Constant,
    ConstantValue,
    Lookup,
    Path,
    Source,
    SourceLike,
    Template,
)
from lucca_sync.mapping._transforms import (
    ENTRY_POINT_GROUP,
    Transform,
    TransformFactory,
    date_format,
    lower,
    normalize_diacritics,
    regex_replace,
    register_transform,
    strip,
    title,
    truncate,
    upper,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "ApplyMode",
    "Coalesce",
    "Computed",
    "Constant",
    "ConstantValue",
    "EmptyPolicy",
    "Field",
    "FieldExplanation",
    "FieldMapping",
    "Lookup",
    "Path",
    "Source",
    "SourceLike",
    "Template",
    "Transform",
    "TransformFactory",
    "date_format",
    "lower",
    "normalize_diacritics",
    "regex_replace",
    "register_cattrs_hooks",
    "register_transform",
    "strip",
    "title",
    "truncate",
    "upper",
]
