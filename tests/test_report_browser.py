"""report.html in a real browser (Debian's Chromium driven by Playwright) with networking off:
it opens with no console error and no request leaving the file, every chart draws, hovering a
Pareto point shows that point's row, the legend toggles series, and the detail filters hide rows."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from convbench.report.build import build_report
from tests.support.factories import write_run
from tests.support.reportdata import M5, full_run

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                reason=f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; `make test` "
                                       "installs it when run as root)")
PARETO = "#chart-latency_accuracy_cpu"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = write_run(tmp_path_factory.mktemp("browser") / "run", full_run(), illustrations=(M5,))
    report = build_report(folder)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        context = browser.new_context(offline=True, viewport={"width": 1440, "height": 900})
        outside: list[str] = []

        def only_the_file(route):
            if route.request.url.startswith("file:"):
                return route.continue_()
            outside.append(route.request.url)
            return route.abort()

        context.route("**/*", only_the_file)
        tab = context.new_page()
        errors: list[str] = []
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.goto(report.as_uri())
        tab.wait_for_selector(f"{PARETO} svg")
        yield tab, errors, outside, folder
        browser.close()


def test_the_page_opens_offline_with_no_error_and_draws_every_chart(page):
    tab, errors, outside, folder = page
    targets = tab.eval_on_selector_all("script.vega-spec", "els => els.map(e => e.dataset.target)")
    assert len(targets) >= 7
    for target in targets:
        tab.wait_for_selector(f"#{target} svg")
    tab.screenshot(path=str(folder / "first-screen.png"))     # for a person to look at
    assert errors == [] and outside == []


def test_hovering_a_pareto_point_shows_its_row(page):
    tab, errors, _, _ = page
    point = tab.locator(f"{PARETO} path[aria-roledescription=point]").first
    label = point.get_attribute("aria-label")             # what vega says this mark is
    variant, runtime = (re.search(rf"{key}: ([\w.]+)", label).group(1) for key in ("variant", "runtime"))
    box = point.bounding_box()
    tab.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tooltip = tab.locator("#vg-tooltip-element")
    tooltip.wait_for(state="visible")
    text = tooltip.inner_text()
    for title in ("model", "variant", "format", "runtime", "threads", "batch", "p50", "p99 (ms)", "accuracy"):
        assert title in text, title
    assert variant in text and runtime in text and errors == []


def test_the_legend_toggles_a_series(page):
    tab, errors, _, _ = page
    points = tab.locator(f"{PARETO} path[aria-roledescription=point]")

    def opacities() -> list[str]:
        return [points.nth(i).get_attribute("opacity") for i in range(points.count())]

    assert set(opacities()) == {"0.9"}
    entry = tab.locator(f"{PARETO} .role-legend-symbol path").first.bounding_box()
    tab.mouse.click(entry["x"] + entry["width"] / 2, entry["y"] + entry["height"] / 2)
    tab.wait_for_timeout(100)
    picked = opacities()
    assert "0.9" in picked and len(set(picked)) == 2         # one series shown, the others faded
    tab.mouse.click(entry["x"] + entry["width"] / 2, entry["y"] + entry["height"] / 2)
    tab.wait_for_timeout(100)
    assert set(opacities()) == {"0.9"} and errors == []


def test_detail_filters_hide_the_other_rows(page):
    tab, errors, _, _ = page
    rows = tab.locator("table.filterable tbody tr")
    total = rows.count()
    tab.select_option(".filters select[name=batch]", "8")
    visible = tab.locator("table.filterable tbody tr:not([hidden])")
    assert 0 < visible.count() < total
    assert set(visible.evaluate_all("rs => rs.map(r => r.dataset.batch)")) == {"8"}
    assert tab.locator("#filter-count").inner_text() == f"showing {visible.count()} of {total} rows"
    tab.select_option(".filters select[name=batch]", "")
    assert tab.locator("table.filterable tbody tr:not([hidden])").count() == total and errors == []
