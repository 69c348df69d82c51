"""Standard training: empirical risk minimisation on clean images, the one method at ε = 0."""

from __future__ import annotations

from advinfo.training.methods.base import Method


class Standard(Method):
    """Empirical risk minimisation on clean images (ε = 0; the paper's Eq. 1 without an attack)."""

    name = "standard"
