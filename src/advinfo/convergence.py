"""Whether an iterative estimate converged: each estimate (the weight posterior, an inversion, a
mutual-information critic) stops on its own rule within a budget and reports which it did, so a
table can say which numbers are where the optimisation settled and which are where it ran out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Convergence:
    """``converged``: the rule stopped the estimate (False: the budget did); ``iterations``: the
    epochs, iterations or steps it used; ``change``: the last change the rule measured."""

    converged: bool
    iterations: int
    change: float

    def record(self, unit: str) -> dict[str, bool | int | float]:
        """The JSON fields: ``converged``, ``<unit>`` used and ``change``."""
        return {"converged": self.converged, unit: self.iterations, "change": self.change}

    @classmethod
    def all_of(cls, parts: Iterable[Convergence]) -> Convergence:
        """Several estimates read as one: converged when every part did; the most iterations and the
        largest change of any part."""
        parts = list(parts)
        return cls(all(p.converged for p in parts), max(p.iterations for p in parts), max(abs(p.change) for p in parts))
