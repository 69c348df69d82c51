"""The registry of training methods: the schema's ``pretrain.methods`` names, and standard
training at ε = 0 (see :mod:`advinfo.method` for what a method is and how to add one)."""

from __future__ import annotations

from advinfo.arat import ARAT
from advinfo.method import Method, PGDTraining, Standard
from advinfo.trades import TRADES
from advinfo.wcmi import WCMI

METHODS: dict[str, type[Method]] = {
    "standard": Standard,  # Eq. 1 at ε = 0
    "pgd": PGDTraining,  # Madry et al.
    "trades": TRADES,  # Zhang et al., the paper's Eq. 2
    "arat": ARAT,  # Waseda et al., asymmetric invariance
    "wcmi": WCMI,  # Zhu et al., worst-case mutual information
}


def method_class(name: str) -> type[Method]:
    """The class of method ``name``, with an error that lists the known ones."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown training method {name!r}; expected one of {', '.join(METHODS)}") from None
