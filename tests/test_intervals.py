"""95 % intervals against their closed forms, computed here by hand."""

from __future__ import annotations

import math

import pytest

from advinfo.report.intervals import (
    Interval,
    accuracy_interval,
    format_interval,
    mean_interval,
    point,
    t_interval,
    wilson,
)

Z = 1.959963984540054  # the standard normal's 97.5 % quantile
T_975_2 = 4.302652729911275  # Student's t, 97.5 % quantile, 2 degrees of freedom (from tables)


def wilson_by_hand(k: int, n: int) -> tuple[float, float]:
    p = k / n
    denom = 1 + Z**2 / n
    centre = (p + Z**2 / (2 * n)) / denom
    half = Z / denom * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return 100 * (centre - half), 100 * (centre + half)


@pytest.mark.parametrize(("k", "n"), [(0, 50), (50, 50), (1, 7), (500, 1000), (937, 1000), (12, 100)])
def test_wilson_matches_its_closed_form(k, n):
    ci = wilson(100 * k / n, n)
    low, high = wilson_by_hand(k, n)
    assert ci.low == pytest.approx(low, abs=1e-9) and ci.high == pytest.approx(high, abs=1e-9)
    assert 0 <= ci.low <= ci.value <= ci.high <= 100 and ci.how == "wilson"


def test_wilson_is_about_three_points_wide_each_way_at_a_thousand_images():
    ci = wilson(50.0, 1000)
    assert 3.0 < ci.high - 50 < 3.2 and 3.0 < 50 - ci.low < 3.2


def test_wilson_refuses_an_empty_test_set():
    with pytest.raises(ValueError, match="n >= 1"):
        wilson(50.0, 0)


def test_t_interval_over_three_seeds_matches_the_tables():
    values = [70.0, 72.0, 77.0]
    mean = sum(values) / 3
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / 2)
    ci = t_interval(values)
    assert ci.value == pytest.approx(mean)
    assert ci.high - ci.value == pytest.approx(T_975_2 * sd / math.sqrt(3))
    with pytest.raises(ValueError, match="two values"):
        t_interval([1.0])


def test_an_accuracy_is_wilson_for_one_seed_and_t_over_several():
    assert accuracy_interval([40.0, math.nan], [100, 0]) == wilson(40.0, 100)  # a missing seed is skipped
    assert accuracy_interval([40.0, 44.0, 42.0], [100, 100, 100]).how == "t"
    assert math.isnan(accuracy_interval([math.nan], [0]).value)


def test_a_mean_over_images_uses_its_standard_error_for_one_seed():
    ci = mean_interval([10.0], [2.0])
    assert (ci.low, ci.high, ci.how) == (pytest.approx(10 - Z * 2), pytest.approx(10 + Z * 2), "normal")
    assert mean_interval([3.0]) == point(3.0)
    assert mean_interval([1.0, 2.0, 3.0]).how == "t"


def test_intervals_overlap_and_format():
    assert Interval(1, 0, 2, "t").overlaps(Interval(3, 2, 4, "t"))
    assert not Interval(1, 0, 1.9, "t").overlaps(Interval(3, 2, 4, "t"))
    assert format_interval(wilson(50.0, 100)) == "50.0 [40.4, 59.6]"
    assert format_interval(t_interval([70.0, 72.0])) == "71.0 ± 12.7"
    assert format_interval(point(0.12345), 3) == "0.123"
    assert format_interval(Interval(math.nan, math.nan, math.nan, "point")) == "–"
