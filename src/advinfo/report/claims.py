"""The paper's claims, each tested on this run's numbers: PASS, FAIL or INCONCLUSIVE.

A claim compares the most robust model of a (source, arch) (PGD at the largest training ε, or
the largest-ε model of another method without PGD) with the standard one (for a zoo network
without a standard model of its own arch: the source's ``Standard`` network), or tests a ratio
against a band. Each side carries its 95 % interval (Wilson for one seed's accuracy, Student's
t over seeds, a normal interval from the standard error over images for one seed's mean over
images); a claim PASSes when the intervals are apart in the claimed direction, FAILs when they
are apart the other way, and is INCONCLUSIVE when they overlap. A measure with no interval (one
seed of the weight posterior) is compared as a point, and the table says so. A claim whose
iterative estimates (the weight posterior, an inversion) did not converge is INCONCLUSIVE
whatever its intervals say, and its row names them: "not converged: ...".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from advinfo.plan.methods import STANDARD
from advinfo.plan.names import model_label
from advinfo.report.intervals import (
    Interval,
    accuracy_interval,
    format_interval,
    mean_interval,
    point,
    t_interval,
    wilson,
)

PASS, FAIL, INCONCLUSIVE = "PASS", "FAIL", "INCONCLUSIVE"
Key = tuple[str, str]  # (source, arch)
# (method, ε) of a model of the key's (source, arch), or (method, ε, arch) of one of another arch
Side = tuple[str, float] | tuple[str, float, str]
Pair = tuple[Side, Side]  # (the robust model, the standard one)
# Prop. 0.3 holds when the measured change over its prediction lies in this band.
RATIO_BAND = (0.8, 1.25)
ALPHA = 0.05  # the Spearman test's level
NOT_CONVERGED = "not converged"

CLAIMS = {  # id: the claim as the paper makes it
    "clean_falls": "Clean accuracy falls as the training ε grows",
    "robust_rises": "Robust accuracy at the largest test radius rises with the training ε",
    "trace_falls": "tr F (Fisher of z about x) falls with ε",
    "lambda1_falls": "λ₁ (largest eigenvalue of the Fisher) falls with ε",
    "logvar_rises": "The weights' posterior log-variance rises with ε (less information in the weights)",
    "prop03": "Prop. 0.3: at a small radius the worst change of z is ε²·λ₁ and a random one ε²·tr F/n",
    "transfer_far": "Robust features transfer better by linear probe to the farthest target",
    "gap_grows": "The robust-minus-standard transfer gap grows with the source-target distance",
    "robust_heads": "A linear head on robust features is robust (Lemma 0.8)",
    "inverts_better": "Robust models invert better (SSIM of the inversion to the original)",
    "noise_once_faster": "Inversion through weights perturbed once by the posterior converges faster",
}


@dataclass(frozen=True)
class ClaimInputs:
    """The tidy tables a claim reads (None when the config produces none)."""

    robustness: pd.DataFrame  # pretrain_robustness.csv
    information: Sequence[dict[str, Any]]  # each model's information.json
    inversion: pd.DataFrame | None = None  # inversion.csv
    transfer: pd.DataFrame | None = None  # transfer.csv
    distance: pd.DataFrame | None = None  # distance.csv
    spearman: pd.DataFrame | None = None  # gap_vs_distance_spearman.csv
    max_iters: int = 0  # inversion iterations; an image that never reaches the threshold counts this many


def verdict(robust: Interval, standard: Interval, higher: bool) -> str:
    """PASS when the intervals are apart in the claimed direction, FAIL the other way, else
    INCONCLUSIVE (points compare as intervals of width 0; equal points are inconclusive)."""
    above, below = robust.low > standard.high, robust.high < standard.low
    if above or below:
        return PASS if above == higher else FAIL
    return INCONCLUSIVE


def band_verdict(interval: Interval, band: tuple[float, float] = RATIO_BAND) -> str:
    """PASS inside ``band``, FAIL entirely outside it, INCONCLUSIVE across an edge."""
    if band[0] <= interval.low and interval.high <= band[1]:
        return PASS
    if interval.high < band[0] or interval.low > band[1]:
        return FAIL
    return INCONCLUSIVE


def _how(*intervals: Interval) -> str:
    kinds = {i.how for i in intervals}
    words = {
        "wilson": "95 % Wilson intervals",
        "t": "95 % t-intervals over seeds",
        "normal": "95 % normal intervals over images",
        "point": "point values (one seed: no interval)",
    }
    return " and ".join(words[k] for k in sorted(kinds))


def _row(claim: str, source: str, arch: str, compared: str, measured: str, test: str, result: str) -> dict[str, str]:
    return {
        "claim": claim,
        "statement": CLAIMS[claim],
        "source": source,
        "arch": arch,
        "compared": compared,
        "measured": measured,
        "test": test,
        "verdict": result,
    }


def _pair(
    claim: str,
    key: Key,
    models: Pair,
    robust: Interval,
    standard: Interval,
    higher: bool,
    decimals: int = 1,
) -> dict[str, str]:
    r_label, s_label = (_side_label(side) for side in models)
    measured = f"{r_label} {format_interval(robust, decimals)} vs {s_label} {format_interval(standard, decimals)}"
    test = f"{r_label} {'>' if higher else '<'} {s_label}, {_how(robust, standard)} apart"
    return _row(claim, *key, f"{r_label} vs {s_label}", measured, test, verdict(robust, standard, higher))


def unconverged(row: dict[str, str], estimates: Sequence[str]) -> dict[str, str]:
    """``row`` unchanged when every estimate it rests on converged; else INCONCLUSIVE, with the
    ``estimates`` that did not converge named in its measurement."""
    if not estimates:
        return row
    return row | {"verdict": INCONCLUSIVE, "measured": f"{row['measured']}; {NOT_CONVERGED}: {', '.join(estimates)}"}


def _unconverged_models(frame: pd.DataFrame, column: str, what: str) -> list[str]:
    """'<what> of <model> seed <s>' for each model and seed in ``frame`` whose ``column`` is false."""
    failed = frame[~frame[column].astype(bool)][["method", "eps", "seed"]].drop_duplicates()
    return [f"{what} of {model_label(m, e)} seed {s}" for m, e, s in failed.itertuples(index=False)]


def _side_label(side: Side) -> str:
    label = model_label(side[0], side[1])
    return f"{label} ({side[2]})" if len(side) > 2 else label


def compared_models(robustness: pd.DataFrame) -> dict[Key, Pair]:
    """Per (source, arch) with a robust model: ((method, ε) of the most robust model, (standard, 0)),
    the standard model being that of the same arch or, when the arch has none, the source's only
    standard model (a published zoo's ``Standard`` network, against which each of its robust
    networks is compared) as (standard, 0, its arch)."""
    standard_archs = robustness[robustness["eps"] == 0].groupby("source")["arch"].unique()
    out = {}
    for (source, arch), block in robustness.groupby(["source", "arch"], sort=True):
        models = block[["method", "eps"]].drop_duplicates()
        robust = models[models["eps"] > 0]
        others = list(standard_archs.get(source, []))
        if robust.empty:
            continue
        if (models["eps"] == 0).any():
            standard: Side = (STANDARD, 0.0)
        elif len(others) == 1:
            standard = (STANDARD, 0.0, str(others[0]))
        else:
            continue
        pgd = robust[robust["method"] == "pgd"]
        pick = (pgd if len(pgd) else robust).sort_values(["eps", "method"]).iloc[-1]
        out[(source, arch)] = ((pick["method"], float(pick["eps"])), standard)
    return out


def _select(frame: pd.DataFrame, key: Key, model: Side) -> pd.DataFrame:
    source, arch = key
    method, eps, *other_arch = model
    arch = other_arch[0] if other_arch else arch
    mask = (frame["source"] == source) & (frame["arch"] == arch) & (frame["method"] == method)
    return frame[mask & np.isclose(frame["eps"].astype(float), eps)]


def _accuracy(rows: pd.DataFrame, value: str, n: str) -> Interval:
    """One model's accuracy over seeds, with its interval."""
    return accuracy_interval(rows[value].astype(float).tolist(), rows[n].tolist())


def _pooled_accuracy(rows: pd.DataFrame, value: str, n: str) -> Interval:
    """An accuracy pooled over the rows (targets) of one seed, or the t-interval of the seeds' pools."""
    pools = []
    for _, seed_rows in rows.groupby("seed"):
        correct = (seed_rows[value] * seed_rows[n] / 100).round().sum()
        pools.append((100 * correct / seed_rows[n].sum(), int(seed_rows[n].sum())))
    if len(pools) == 1:
        return wilson(*pools[0])
    return t_interval([p for p, _ in pools])


def _per_image_mean(per_seed: Sequence[Sequence[float]]) -> Interval:
    """A mean over images: the t-interval of the seeds' means, or for one seed its normal interval."""
    means = [float(np.mean(v)) for v in per_seed]
    ses = [float(np.std(v, ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan for v in per_seed]
    return mean_interval(means, ses)


Check = Callable[[ClaimInputs, Key, Pair], list[dict[str, str]]]


def _accuracy_claims(inputs: ClaimInputs, key: Key, models: Pair) -> list[dict[str, str]]:
    rob = inputs.robustness
    largest = float(rob["test_eps"].max())
    rows = []
    sides = [_accuracy(_select(rob, key, m).query("test_eps == 0"), "accuracy", "n_test") for m in models]
    rows.append(_pair("clean_falls", key, models, *sides, higher=False))
    if largest > 0:
        sides = [
            _accuracy(_select(rob, key, m)[lambda f: np.isclose(f["test_eps"], largest)], "accuracy", "n_test")
            for m in models
        ]
        row = _pair("robust_rises", key, models, *sides, higher=True)
        rows.append(row | {"compared": f"{row['compared']} at test ε = {largest:g}"})
    return rows


def _information_frame(inputs: ClaimInputs) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                **{k: rec[k] for k in ("source", "arch", "method", "eps", "seed")},
                "trace": rec["fisher"]["trace_per_image"],
                "lambda1": rec["fisher"]["lambda1_per_image"],
                "mean_logvar": rec["mean_logvar"],
                "posterior_converged": rec["posterior_converged"],
                "prop03": rec["fisher"]["prop03"],
            }
            for rec in inputs.information
        ]
    )


def _information_claims(inputs: ClaimInputs, key: Key, models: Pair) -> list[dict[str, str]]:
    info = _information_frame(inputs)
    if info.empty:
        return []
    picked = [_select(info, key, m) for m in models]
    if any(p.empty for p in picked):
        return []
    rows = [
        _pair("trace_falls", key, models, *(_per_image_mean(p["trace"].tolist()) for p in picked), higher=False),
        _pair("lambda1_falls", key, models, *(_per_image_mean(p["lambda1"].tolist()) for p in picked), higher=False),
    ]
    logvar = [
        t_interval(p["mean_logvar"].tolist()) if len(p) > 1 else point(float(p["mean_logvar"].iloc[0])) for p in picked
    ]
    row = _pair("logvar_rises", key, models, *logvar, higher=True, decimals=3)
    rows.append(unconverged(row, _unconverged_models(pd.concat(picked), "posterior_converged", "the posterior")))
    rows.append(_prop03_row(info, key))
    return rows


def _prop03_row(info: pd.DataFrame, key: Key) -> dict[str, str]:
    """Both Prop. 0.3 ratios at the smallest probe radius, for every model of (source, arch): PASS
    when every model's ratios (over seeds) lie in :data:`RATIO_BAND`."""
    block = info[(info["source"] == key[0]) & (info["arch"] == key[1])]
    ratios = {"worst": ("worst_change", "eps2_lambda1"), "random": ("random_change", "eps2_trace_over_n")}
    verdicts, values, outside = [], {name: [] for name in ratios}, []
    for (method, eps), rows in block.groupby(["method", "eps"], sort=True):
        smallest = [min(checks, key=lambda c: c["eps"]) for checks in rows["prop03"]]
        for name, (num, den) in ratios.items():
            per_seed = [c[num] / c[den] for c in smallest]
            interval = t_interval(per_seed) if len(per_seed) > 1 else point(per_seed[0])
            verdicts.append(band_verdict(interval))
            values[name].append(interval.value)
            if verdicts[-1] != PASS:
                outside.append(f"{model_label(method, eps)} {name} {format_interval(interval, 2)}")
    result = FAIL if FAIL in verdicts else PASS if all(v == PASS for v in verdicts) else INCONCLUSIVE
    measured = ", ".join(f"{name} {min(v):.2f}–{max(v):.2f}" for name, v in values.items())
    measured += f" over {len(block.groupby(['method', 'eps']))} models"
    if outside:
        measured += f"; outside the band: {'; '.join(outside)}"
    probe = min(c["eps"] for checks in block["prop03"] for c in checks)
    test = (
        f"worst change / ε²λ₁ and random change / (ε² tr F / n) at ε = {probe:g} within "
        f"[{RATIO_BAND[0]:g}, {RATIO_BAND[1]:g}] for every model"
    )
    return _row("prop03", *key, "every model", measured, test, result)


def _transfer_claims(inputs: ClaimInputs, key: Key, models: Pair) -> list[dict[str, str]]:
    transfer = inputs.transfer
    if transfer is None or transfer.empty:
        return []
    linear = transfer[transfer["mode"] == "linear"]
    rows = []
    far = _farthest_target(inputs, key[0])
    if far is not None:
        target, measure, distance = far
        at_far = linear[linear["target"] == target]
        sides = [_accuracy(_select(at_far, key, m), "clean_acc", "n_test") for m in models]
        if not any(math.isnan(s.value) for s in sides):
            row = _pair("transfer_far", key, models, *sides, higher=True)
            rows.append(row | {"compared": f"{row['compared']} on {target} ({measure} {distance:.3g}, the farthest)"})
    (method, eps), _ = models
    column = f"robust_acc@{eps:g}"
    if column in linear:
        sides = [
            _pooled_accuracy(_select(linear, key, m).dropna(subset=[column]), column, "n_attacked") for m in models
        ]
        row = _pair("robust_heads", key, models, *sides, higher=True)
        rows.append(row | {"compared": f"{row['compared']}: probes attacked at ε = {eps:g}, pooled over targets"})
    return rows


def _farthest_target(inputs: ClaimInputs, source: str) -> tuple[str, str, float] | None:
    """(target, measure, distance) of the target farthest from ``source`` by the first measure."""
    if inputs.distance is None or inputs.distance.empty:
        return None
    rows = inputs.distance[inputs.distance["source"] == source]
    if rows.empty:
        return None
    rows = rows[rows["measure"] == rows["measure"].iloc[0]]
    far = rows.loc[rows["distance"].idxmax()]
    return str(far["target"]), str(far["measure"]), float(far["distance"])


def _gap_claim(inputs: ClaimInputs, key: Key, models: Pair) -> list[dict[str, str]]:
    table = inputs.spearman
    if table is None or table.empty:
        return []
    (method, eps), _ = models
    rows = _select(table, key, (method, eps))
    rows = rows[rows["n_targets"] >= 3]
    if rows.empty:
        return []
    rec = rows.iloc[0]
    rho, p = float(rec["rho"]), float(rec["p_value"])
    if math.isnan(rho):
        result = INCONCLUSIVE
    elif p < ALPHA:
        result = PASS if rho > 0 else FAIL
    else:
        result = INCONCLUSIVE
    label = model_label(method, eps)
    measured = f"Spearman ρ = {rho:.2f}, p = {p:.3g} over {int(rec['n_targets'])} targets ({rec['measure']})"
    test = f"ρ > 0 with p < {ALPHA:g} (two-sided; exact p up to 8 targets)"
    return [_row("gap_grows", *key, f"{label} − standard", measured, test, result)]


def _inversion_claims(inputs: ClaimInputs, key: Key, models: Pair) -> list[dict[str, str]]:
    inv = inputs.inversion
    if inv is None or inv.empty:
        return []
    source_images = inv[inv["images"] == "source"]
    rows = []
    plain = [_select(source_images[source_images["variant"] == "inversion"], key, m) for m in models]
    if all(len(p) for p in plain):
        sides = [_per_image_mean([g["ssim"].tolist() for _, g in p.groupby("seed")]) for p in plain]
        row = _pair("inverts_better", key, models, *sides, higher=True, decimals=3)
        rows.append(unconverged(row, _unconverged_models(pd.concat(plain), "converged", "the inversion")))
    robust, _ = models
    label = model_label(*robust)
    sides, failed = [], []
    for variant, name in (("noise_once", "the noise-once inversion"), ("inversion", "the plain inversion")):
        picked = _select(source_images[source_images["variant"] == variant], key, robust)
        iters = picked["iterations_to_threshold"].fillna(inputs.max_iters)
        sides.append(_per_image_mean([iters[picked["seed"] == s].tolist() for s in picked["seed"].unique()]))
        failed += _unconverged_models(picked, "converged", name)
    if all(not math.isnan(s.value) for s in sides):
        measured = f"noise once {format_interval(sides[0], 0)} vs plain {format_interval(sides[1], 0)} iterations"
        test = f"noise once < plain, {_how(*sides)} apart (not reached: {inputs.max_iters})"
        result = verdict(sides[0], sides[1], higher=False)
        row = _row("noise_once_faster", *key, f"{label}: noise once vs plain inversion", measured, test, result)
        rows.append(unconverged(row, failed))
    return rows


CHECKS: tuple[Check, ...] = (_accuracy_claims, _information_claims, _transfer_claims, _gap_claim, _inversion_claims)
COLUMNS = ["claim", "statement", "source", "arch", "compared", "measured", "test", "verdict"]


def claims_table(inputs: ClaimInputs) -> pd.DataFrame:
    """One row per claim the run can test and (source, arch), in the order of :data:`CLAIMS`."""
    rows = []
    for key, models in compared_models(inputs.robustness).items():
        for check in CHECKS:
            rows += check(inputs, key, models)
    order = {claim: i for i, claim in enumerate(CLAIMS)}
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.sort_values(["source", "arch", "claim"], key=lambda c: c.map(order) if c.name == "claim" else c)


def untested(table: pd.DataFrame) -> list[str]:
    """The claims this run cannot test (its config lacks what they need)."""
    return [text for claim, text in CLAIMS.items() if claim not in set(table["claim"])]
