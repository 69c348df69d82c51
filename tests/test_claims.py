"""The claims table on tables built by hand: each claim's verdict follows from its intervals, and
the landing page is valid reStructuredText that names every flagged model."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from docutils.core import publish_parts

from advinfo.report.claims import (
    CLAIMS,
    FAIL,
    INCONCLUSIVE,
    PASS,
    ClaimInputs,
    band_verdict,
    claims_table,
    compared_models,
    untested,
    verdict,
)
from advinfo.report.intervals import Interval, point
from advinfo.report.landing import code_version, overview_rst, unconverged_estimates
from advinfo.robust.masking import CHECKS as MASKING_CHECKS

KEYS = {"source": "shapes", "arch": "resnet_mini", "seed": 0}
MODELS = {"standard": 0.0, "pgd": 0.5}


def robustness(clean: dict[str, float], robust: dict[str, float]) -> pd.DataFrame:
    rows = []
    for method, eps in MODELS.items():
        rows += [
            {**KEYS, "method": method, "eps": eps, "test_eps": 0.0, "accuracy": clean[method], "n_test": 1000},
            {**KEYS, "method": method, "eps": eps, "test_eps": 1.0, "accuracy": robust[method], "n_test": 1000},
        ]
    return pd.DataFrame(rows)


def information(trace: dict[str, list[float]], lambda1: dict[str, list[float]], logvar: dict[str, float]) -> list:
    prop03 = [{"eps": 0.01, "eps2_lambda1": 1.0, "worst_change": 1.02, "eps2_trace_over_n": 2.0, "random_change": 1.9}]
    return [
        {
            **KEYS,
            "method": m,
            "eps": e,
            "mean_logvar": logvar[m],
            "posterior_converged": True,
            "posterior_epochs": 6,
            "posterior_logvar_change": 0.01,
            "posterior_excess": 0.1,
            "fisher": {"trace_per_image": trace[m], "lambda1_per_image": lambda1[m], "prop03": prop03},
        }
        for m, e in MODELS.items()
    ]


def transfer() -> pd.DataFrame:
    rows = []
    accs = {"standard": {"digits": 80.0, "letters": 50.0}, "pgd": {"digits": 81.0, "letters": 60.0}}
    heads = {"standard": {"digits": 5.0, "letters": 3.0}, "pgd": {"digits": 40.0, "letters": 30.0}}
    for m, e in MODELS.items():
        for target in ("digits", "letters"):
            row = {**KEYS, "method": m, "eps": e, "target": target, "mode": "linear", "n_test": 1000}
            rows.append(row | {"clean_acc": accs[m][target], "robust_acc@0.5": heads[m][target], "n_attacked": 500})
    return pd.DataFrame(rows)


def inversion() -> pd.DataFrame:
    ssim = {"standard": [0.10, 0.12, 0.11, 0.09], "pgd": [0.30, 0.32, 0.29, 0.31]}
    iters = {"noise_once": [50, 60, 55, 52], "inversion": [200, math.nan, 210, 190]}
    rows = []
    for m, e in MODELS.items():
        for variant, its in iters.items():
            for i, (s, it) in enumerate(zip(ssim[m], its, strict=True)):
                rows.append(
                    {**KEYS, "method": m, "eps": e, "variant": variant, "images": "source", "image": i}
                    | {"ssim": s, "iterations_to_threshold": it, "iterations": 250, "converged": True}
                    | {"loss_change": 0.005}
                )
    return pd.DataFrame(rows)


@pytest.fixture
def inputs() -> ClaimInputs:
    return ClaimInputs(
        robustness=robustness({"standard": 90.0, "pgd": 80.0}, {"standard": 5.0, "pgd": 30.0}),
        information=information(
            {"standard": [100.0, 110.0, 90.0, 105.0], "pgd": [20.0, 22.0, 18.0, 21.0]},
            {"standard": [40.0, 42.0, 38.0], "pgd": [40.0, 43.0, 37.0]},
            {"standard": -8.0, "pgd": -7.0},
        ),
        inversion=inversion(),
        transfer=transfer(),
        distance=pd.DataFrame(
            [
                {"measure": "emd", "source": "shapes", "target": "digits", "distance": 5.0},
                {"measure": "emd", "source": "shapes", "target": "letters", "distance": 9.0},
            ]
        ),
        spearman=pd.DataFrame(
            [{**KEYS, "method": "pgd", "eps": 0.5, "measure": "emd", "n_targets": 5, "rho": 1.0, "p_value": 0.017}]
        ),
        max_iters=300,
    )


def test_every_claim_gets_the_verdict_its_intervals_give(inputs):
    table = claims_table(inputs).set_index("claim")
    assert list(table.index) == list(CLAIMS)  # the paper's order, each testable here
    expected = dict.fromkeys(CLAIMS, PASS) | {"lambda1_falls": INCONCLUSIVE}  # 40 ± vs 40 ±: overlap
    assert table["verdict"].to_dict() == expected
    assert table.loc["clean_falls", "measured"] == "pgd ε=0.5 80.0 [77.4, 82.4] vs standard 90.0 [88.0, 91.7]"
    assert "point values" in table.loc["logvar_rises", "test"]  # one seed of the posterior: no interval
    assert "letters" in table.loc["transfer_far", "compared"]  # the farthest target by EMD
    assert table.loc["gap_grows", "measured"].startswith("Spearman ρ = 1.00, p = 0.017 over 5 targets")
    assert "(not reached: 300)" in table.loc["noise_once_faster", "test"]


def test_a_claim_contradicted_by_apart_intervals_fails(inputs):
    reversed_clean = robustness({"standard": 70.0, "pgd": 80.0}, {"standard": 31.0, "pgd": 30.0})
    table = claims_table(ClaimInputs(**{**inputs.__dict__, "robustness": reversed_clean})).set_index("claim")
    assert table.loc["clean_falls", "verdict"] == FAIL  # robust model cleaner, intervals apart
    assert table.loc["robust_rises", "verdict"] == INCONCLUSIVE  # 30 vs 31 of 1,000: overlap


def test_a_claim_on_an_estimate_that_did_not_converge_is_inconclusive_and_says_which(inputs):
    information = [rec | {"posterior_converged": rec["method"] == "standard"} for rec in inputs.information]
    inversion = inputs.inversion.copy()
    inversion["converged"] = ~((inversion["method"] == "pgd") & (inversion["variant"] == "noise_once"))
    table = claims_table(ClaimInputs(**{**inputs.__dict__, "information": information, "inversion": inversion}))
    table = table.set_index("claim")
    assert table.loc["logvar_rises", "verdict"] == INCONCLUSIVE  # the intervals alone say PASS
    assert table.loc["logvar_rises", "measured"].endswith("; not converged: the posterior of pgd ε=0.5 seed 0")
    assert table.loc["noise_once_faster", "verdict"] == INCONCLUSIVE
    assert "not converged: the noise-once inversion of pgd ε=0.5 seed 0" in table.loc["noise_once_faster", "measured"]
    assert table.loc["inverts_better", "verdict"] == PASS  # plain inversions converged
    untouched = ["clean_falls", "robust_rises", "trace_falls", "prop03", "transfer_far", "gap_grows"]
    assert (table.loc[untouched, "verdict"] == PASS).all()
    inversion["converged"] = inversion["variant"] != "inversion"
    table = claims_table(ClaimInputs(**{**inputs.__dict__, "inversion": inversion})).set_index("claim")
    assert table.loc["noise_once_faster", "measured"].endswith(
        "; not converged: the plain inversion of pgd ε=0.5 seed 0"
    )
    assert not table["measured"].str.contains("not converged").loc[untouched].any()


def test_claims_the_config_cannot_test_are_left_out_and_named(inputs):
    table = claims_table(ClaimInputs(inputs.robustness, inputs.information, inputs.inversion, max_iters=300))
    assert not {"transfer_far", "gap_grows", "robust_heads"} & set(table["claim"])
    assert untested(table) == [CLAIMS[c] for c in ("transfer_far", "gap_grows", "robust_heads")]
    no_standard = inputs.robustness[inputs.robustness["eps"] > 0]
    assert claims_table(ClaimInputs(no_standard, inputs.information)).empty  # nothing to compare with


def test_verdicts_from_intervals_and_bands():
    high, low = Interval(80, 77, 83, "wilson"), Interval(70, 67, 73, "wilson")
    assert verdict(high, low, higher=True) == PASS and verdict(low, high, higher=True) == FAIL
    assert verdict(high, Interval(76, 74, 78, "wilson"), higher=True) == INCONCLUSIVE
    assert verdict(point(2.0), point(2.0), higher=True) == INCONCLUSIVE
    assert band_verdict(point(1.1)) == PASS and band_verdict(point(1.4)) == FAIL
    assert band_verdict(Interval(1.2, 1.1, 1.3, "t")) == INCONCLUSIVE


def test_the_landing_page_is_valid_rst_and_flags_every_failing_model(inputs):
    claims = claims_table(inputs)
    checks = {f"pass_{k}": True for k in MASKING_CHECKS}
    masking = pd.DataFrame(
        [
            {**KEYS, "method": "standard", "eps": 0.0, **checks, "passed": True},
            {**KEYS, "method": "pgd", "eps": 0.5, **checks, "pass_black_box_weaker": False, "passed": False},
        ]
    )
    run = {"config": "config/config.yaml", "grid": "sources shapes; *starred* | piped"}
    information = [rec | {"posterior_converged": rec["method"] == "standard"} for rec in inputs.information]
    inversion = inputs.inversion.copy()
    inversion["converged"] = inversion["variant"] != "noise_once"
    mi_row = {"eps": 0.5, "converged": False, "mi_clean_critic_steps": 150, "mi_adv_critic_steps": 100}
    mutual_info = [{**KEYS, "method": "pgd", "eps": 0.5, "radii": [mi_row, mi_row | {"eps": 1.0, "converged": True}]}]
    unconverged = unconverged_estimates(information, inversion, mutual_info)
    assert unconverged == [
        "weight posterior of shapes/resnet_mini pgd ε=0.5 seed 0: 6 epochs, the mean log-variance still moving "
        "+0.010 per epoch, loss excess 0.100",
        "noise-once inversion of shapes/resnet_mini standard seed 0: 250 iterations, the mean loss still falling "
        "0.5 % per window",
        "noise-once inversion of shapes/resnet_mini pgd ε=0.5 seed 0: 250 iterations, the mean loss still falling "
        "0.5 % per window",
        "mutual-information critics of shapes/resnet_mini pgd ε=0.5 seed 0 at ε = 0.5: 150 steps",
    ]
    robustness = inputs.robustness.assign(leaderboard=float("nan"), leaderboard_flag=False)
    text = overview_rst(run, claims, masking, unconverged, "git abc123", robustness)
    html = publish_parts(text, writer_name="html", settings_overrides={"halt_level": 2, "report_level": 2})
    body = html["html_body"]
    assert f"{len(claims) - 1} PASS, 0 FAIL, 1 INCONCLUSIVE" in body
    assert "FLAGGED" in body and "pgd ε=0.5 seed 0" in body and "Square (black box)" in body
    assert "*starred* | piped" in body  # markup in values is shown, not interpreted
    assert body.count("<tr>") == len(claims) + 1
    assert body.count("NOT CONVERGED") == 4 and "information.posterior.max_epochs" in body
    assert "RobustBench leaderboard" not in body  # no zoo model
    converged = overview_rst(run, claims, masking, [], "git abc123", robustness)
    converged = publish_parts(converged, writer_name="html")["html_body"]
    assert "NOT CONVERGED" not in converged and "converged within its budget" in converged


def test_the_code_version_is_the_checkouts_commit(tmp_path):
    assert code_version(tmp_path) == "unknown (not a git checkout)"
    from pathlib import Path

    version = code_version(Path(__file__).parents[1])
    assert version.startswith("git ") or version.startswith("unknown")


def test_a_zoo_network_without_a_standard_model_of_its_arch_is_compared_with_its_sources_standard():
    """RobustBench's robust networks have no standard twin of their architecture: each is set
    against the zoo's one Standard network (another arch); a source with two standard archs pairs
    nothing across them."""
    rows = [
        {"source": "rb", "arch": arch, "method": method, "eps": eps, "seed": 0, "test_eps": t, "accuracy": acc}
        for arch, method, eps, clean, robust in (
            ("standard", "standard", 0.0, 94.8, 0.0),
            ("engstrom2019robustness", "pgd", 0.5, 90.8, 69.2),
            ("rice2020overfitting", "pgd", 0.5, 88.7, 67.7),
        )
        for t, acc in ((0.0, clean), (0.5, robust))
    ]
    robustness = pd.DataFrame(rows).assign(n_test=10000)
    pairs = compared_models(robustness)
    assert pairs == {
        ("rb", "engstrom2019robustness"): (("pgd", 0.5), ("standard", 0.0, "standard")),
        ("rb", "rice2020overfitting"): (("pgd", 0.5), ("standard", 0.0, "standard")),
    }
    table = claims_table(ClaimInputs(robustness, []))
    robust = table[(table["arch"] == "engstrom2019robustness") & (table["claim"] == "robust_rises")].iloc[0]
    assert robust["compared"] == "pgd ε=0.5 vs standard (standard) at test ε = 0.5" and robust["verdict"] == PASS
    assert "69.2" in robust["measured"] and "0.0" in robust["measured"]
    second = robustness.assign(arch=robustness["arch"].replace({"rice2020overfitting": "other"}))
    second = pd.concat([second, robustness[robustness["arch"] == "standard"].assign(arch="wrn")])
    assert ("rb", "engstrom2019robustness") not in compared_models(second)  # two standard archs: which?
