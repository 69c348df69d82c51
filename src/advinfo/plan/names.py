"""How models and their results are named: the identifying keys of a model, its directory, its
label in tables and figures. Torch-free."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from advinfo.plan.methods import STANDARD


def format_eps(eps: float) -> str:
    """Canonical text of an epsilon in paths: 0, 0.25, 1, 2.5."""
    return f"{float(eps):g}"


@dataclass(frozen=True)
class ModelSpec:
    """One pretrained network of the grid."""

    source: str
    arch: str
    method: str
    eps: float
    seed: int

    @property
    def path(self) -> str:
        """Relative directory of this model's outputs."""
        return f"{self.source}/{self.arch}/{self.method}-eps{format_eps(self.eps)}-seed{self.seed}"


# The identifying keys of a model, in the order results tables use.
MODEL_KEYS = ["source", "arch", "method", "eps", "seed"]


def model_record(wildcards: Any) -> dict[str, Any]:
    """The identifying keys of one model (from a job's wildcards or a :class:`ModelSpec`), typed,
    for result records."""
    return {
        "source": wildcards.source,
        "arch": wildcards.arch,
        "method": wildcards.method,
        "eps": float(wildcards.eps),
        "seed": int(wildcards.seed),
    }


def provenance_record(model: Any, meta: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A result record: the model's identifying keys (:func:`model_record` of a job's wildcards or
    a :class:`ModelSpec`), ``fields``, and the SHA-256 of the weights it was computed from (``meta``
    of the model file), which readers check."""
    return {**model_record(model), **fields, "weights_sha256": meta["weights_sha256"]}


def model_spec(wildcards: Any) -> ModelSpec:
    """The model of a job's wildcards."""
    return ModelSpec(**model_record(wildcards))


def model_label(method: str, eps: float) -> str:
    """How tables and figures name a model: 'standard' or '<method> ε=<eps>'."""
    return STANDARD if float(eps) == 0 else f"{method} ε={float(eps):g}"
