"""The registry of training methods: every :class:`~advinfo.training.methods.base.Method`
subclass with a ``name`` in this package's modules, found by importing them all, so that a new
method is one new file (see :mod:`advinfo.training.methods.base`). Ordered as
:func:`advinfo.plan.methods.method_names`: standard training, then the schema's
``pretrain.methods`` enum."""

from __future__ import annotations

import importlib
import pkgutil

from advinfo.plan.methods import method_fact, method_names
from advinfo.training.methods.base import Method


def _declares_method(obj: object, module: str) -> bool:
    """Whether ``obj`` is a method class defined (not imported) in ``module``, with a name."""
    return isinstance(obj, type) and issubclass(obj, Method) and obj.__module__ == module and "name" in vars(obj)


def _discover() -> dict[str, type[Method]]:
    found: dict[str, type[Method]] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found |= {obj.name: obj for obj in vars(module).values() if _declares_method(obj, module.__name__)}
    return {name: found[name] for name in method_names()}  # method_names checked the files against the schema


METHODS: dict[str, type[Method]] = _discover()


def method_class(name: str) -> type[Method]:
    """The class of method ``name``, with an error that lists the known ones (plan.methods.method_fact)."""
    return METHODS[method_fact(name).name]
