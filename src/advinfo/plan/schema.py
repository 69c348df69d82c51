"""The workflow's config schema, the one source of every default.

The workflow validates its config against ``workflow/schemas/config.schema.yaml`` and fills
the defaults written there; library configuration objects (:class:`FromSchema`) take theirs
from the same file, so a benchmark or a test that builds one trains as the workflow does.
The library is used from its checkout (``pip install -e``), where the schema sits beside it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import fields
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Self

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"


@cache
def _schema(path: Path) -> dict[str, Any]:
    with open(path) as fh:
        return yaml.safe_load(fh)


def load_schema(path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    """The schema at ``path`` (read once per process)."""
    return _schema(Path(path).resolve())


def _filling_properties(
    validator: jsonschema.protocols.Validator, properties: dict[str, Any], instance: Any, schema: dict[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    """jsonschema's ``properties`` check that first sets every missing property's default (the
    recipe of jsonschema's FAQ), so nested objects and list items are filled too."""
    if isinstance(instance, dict):
        for name, sub in properties.items():
            if "default" in sub and name not in instance:
                instance[name] = copy.deepcopy(sub["default"])
    yield from jsonschema.Draft202012Validator.VALIDATORS["properties"](validator, properties, instance, schema)


_Filler = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"properties": _filling_properties})


def fill_defaults(config: dict[str, Any], schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """Set every key ``config`` lacks to the schema's default, in place; returns ``config``.
    Call it on a config that passed :func:`advinfo.plan.checks.check_schema`."""
    for _ in _Filler(schema or load_schema()).iter_errors(config):
        pass
    return config


@cache
def _default_config() -> dict[str, Any]:
    return fill_defaults({})


def default_config() -> dict[str, Any]:
    """The config of an empty config file: every default of the schema."""
    return copy.deepcopy(_default_config())


def section_defaults(section: str) -> dict[str, Any]:
    """The defaults of a dotted section, e.g. ``information.posterior``."""
    node = default_config()
    for part in section.split("."):
        node = node[part]
    return node


class FromSchema:
    """Mixin of a frozen dataclass whose fields default to the keys of one schema section:
    ``Cls.from_schema(**changes)``. A field named differently from its key is in ``KEYS``."""

    SECTION: ClassVar[str]
    KEYS: ClassVar[dict[str, str]] = {}  # field name -> schema key, where they differ

    @classmethod
    def from_schema(cls, **changes: Any) -> Self:
        defaults = section_defaults(cls.SECTION)
        filled = {}
        for f in fields(cls):  # type: ignore[arg-type]
            key = cls.KEYS.get(f.name, f.name)
            if key in defaults:
                filled[f.name] = defaults[key]
        return cls(**{**filled, **changes})
