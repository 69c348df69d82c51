"""Attacks and what they measure: PGD, accuracy under an attack, the evaluation attacks by their
authors, robustness curves, gradient-masking checks."""
