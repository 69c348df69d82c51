"""95 % intervals of accuracies: Wilson's for one seed's test set, Student's t over seeds.

At n = 1,000 and p = 0.5 the Wilson interval alone is about ±3 points, wider than many of the
paper's effects, so every accuracy the tables show carries one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A point estimate with its interval (``low`` and ``high`` equal ``value`` when there is none)."""

    value: float
    low: float
    high: float
    how: str  # "wilson", "t" or "point"

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high


def point(value: float) -> Interval:
    """A value with no interval (one deterministic measurement)."""
    return Interval(value, value, value, "point")


def wilson(accuracy: float, n: int, confidence: float = CONFIDENCE) -> Interval:
    """Wilson score interval of an accuracy in % measured on ``n`` images (scipy's binomtest)."""
    if n < 1:
        raise ValueError(f"an accuracy needs n >= 1 images, got n={n}")
    correct = round(accuracy * n / 100)
    ci = stats.binomtest(correct, n).proportion_ci(confidence_level=confidence, method="wilson")
    return Interval(accuracy, 100 * ci.low, 100 * ci.high, "wilson")


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean ± Student's t half-width over ``values`` (seeds); at least two values."""
    if len(values) < 2:
        raise ValueError(f"a t-interval needs two values or more, got {len(values)}")
    mean = sum(values) / len(values)
    half = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * stats.sem(values)
    return Interval(mean, mean - half, mean + half, "t")


def accuracy_interval(accuracies: Sequence[float], ns: Sequence[int]) -> Interval:
    """The interval of one accuracy over seeds: Wilson for one seed, t over several."""
    values = [a for a in accuracies if not math.isnan(a)]
    if not values:
        return Interval(math.nan, math.nan, math.nan, "point")
    if len(values) == 1:
        n = next(int(n) for a, n in zip(accuracies, ns, strict=True) if not math.isnan(a))
        return wilson(values[0], n)
    return t_interval(values)


def mean_interval(values: Sequence[float], standard_errors: Sequence[float] | None = None) -> Interval:
    """A measured mean: t over seeds when there are several; for one, ±1.96 of its standard error
    when known (a mean over images), else the point."""
    if len(values) > 1:
        return t_interval(values)
    value = float(values[0])
    se = float(standard_errors[0]) if standard_errors is not None else math.nan
    if math.isnan(se):
        return point(value)
    half = stats.norm.ppf(0.5 + CONFIDENCE / 2) * se
    return Interval(value, value - half, value + half, "normal")


def format_interval(interval: Interval, decimals: int = 1) -> str:
    """``94.2 [92.0, 95.8]`` (Wilson, or a normal interval), ``94.2 ± 1.3`` (t over seeds),
    ``94.2`` (no interval), ``–`` (absent)."""
    if math.isnan(interval.value):
        return "–"
    value = f"{interval.value:.{decimals}f}"
    if interval.how == "t":
        return f"{value} ± {(interval.high - interval.value):.{decimals}f}"
    if interval.how == "point":
        return value
    return f"{value} [{interval.low:.{decimals}f}, {interval.high:.{decimals}f}]"
