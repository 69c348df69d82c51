"""The HTML report of the tiny run: every flagged figure and table with its caption, grouped
by stage in pipeline order; and the page itself opened in a real headless Chromium (no console
errors, a figure shown, a screenshot saved)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import snakemake

pytestmark = pytest.mark.slow

CATEGORIES = [
    "0. Claims",
    "1. Pretraining",
    "2. Information",
    "3. Inversion",
    "4. Transfer",
    "5. Distances",
    "6. Methods",
]
FLAGGED = [
    "claims.html",
    "gradient_masking.html",
    "pretrain_robustness",
    "fig4_weight_logvar.png",
    "fig5_weight_norm.png",
    "fig6_tsne.png",
    "fisher_input.png",
    "fig1_inversion.png",
    "fig2_inversion_loss.png",
    "feature_visualisation.png",
    "feature_manipulation.png",
    "inversion.html",
    "transfer_linear.html",
    "transfer_finetune.html",
    "transfer_robustness.html",
    "distance.html",
    "gap_vs_distance_digits.png",
    "method_comparison.html",
    "method_comparison.png",
]
# Chromium as root in a closed network: no sandbox, and none of its background connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def report(tiny_run: Path) -> Path:
    result = snakemake(
        tiny_run,
        "--report",
        "results/report.html",
        snakefile=tiny_run / "Snakefile",
        overlays=(tiny_run / "imported.yaml",),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return tiny_run / "results" / "report.html"


def test_report_holds_every_stage_and_flagged_output_with_its_caption(report):
    page = report.read_text()
    positions = [page.index(c) for c in CATEGORIES]
    assert positions == sorted(positions) or len(set(positions)) == len(CATEGORIES)
    for name in FLAGGED:
        assert name in page, f"{name} is not in the report"
    for caption in (
        "The paper's Fig. 2",
        "Figs. 3 and 7",
        "Lemma 0.8",
        "reproduces the paper's Tables 1 and 2",
        "representation vulnerability of Zhu et al.",
        "Gradient-masking checks after Carlini",
    ):
        assert caption in page


def test_report_opens_on_what_ran_and_the_claims(report):
    page = report.read_text()
    for heading in ("What ran", "The paper&#x27;s claims on this run", "Gradient masking", "Convergence", "Sections"):
        assert heading in page or heading.replace("&#x27;", "'") in page, heading
    assert "INCONCLUSIVE" in page or "PASS" in page


def _chromium() -> str | None:
    """Debian's Chromium; as root, installed when absent (so CI, which runs as root, has it)."""
    found = shutil.which("chromium")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], capture_output=True, env=env, timeout=900)
        found = shutil.which("chromium")
    return found


def test_report_opens_in_headless_chromium_and_shows_a_figure(report, tmp_path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("Chromium is absent (Debian package 'chromium'; installed automatically only as root)")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extras")
    problems: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.goto(report.as_uri())
        for category in CATEGORIES:  # in the menu, and linked from the landing page
            assert page.get_by_text(category, exact=True).count() == 2, f"no menu entry or link {category}"
        page.get_by_text("2. Information", exact=True).last.click()  # the landing page's link
        page.locator("tr", has_text="Fig. 4").locator("a[iconname=eye]").click()
        figure = page.locator("img[src^='data:image/png']")
        figure.wait_for(timeout=10_000)
        width = figure.evaluate("img => img.complete ? img.naturalWidth : 0")
        screenshot = tmp_path / "report.png"
        page.screenshot(path=str(screenshot))
        browser.close()
    print(f"report screenshot: {screenshot}")
    assert width > 300, "the figure did not render"
    assert screenshot.stat().st_size > 20_000
    assert not problems, problems
