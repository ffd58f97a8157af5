"""The report in headless Chromium (Playwright): it draws with no network and its table sorts on a click."""

from __future__ import annotations

from pathlib import Path

import pytest

from lepton.navigate.result import OptimizeResult
from lepton.report.html import write_html

CHROMIUM = Path("/usr/bin/chromium")
ROWS = "Array.from(document.querySelectorAll('#trials tbody tr')).map(r => r.dataset.id)"


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt-get install chromium)")
def test_the_report_draws_offline_and_sorts(result: OptimizeResult, tmp_path: Path) -> None:
    from playwright.sync_api import Route, sync_playwright

    path = write_html(result, tmp_path / "report.html")
    requested: list[str] = []

    def record(route: Route) -> None:
        requested.append(route.request.url)
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route("**/*", record)
            page.goto(path.as_uri())
            page.wait_for_selector("#pareto .main-svg", timeout=15000)
            points = page.eval_on_selector_all("#pareto .scatterlayer .point", "ps => ps.length")
            verdict = page.inner_text("#verdict .rec-title h2")
            page.click("#trials th:has-text('p95 ms')")
            ascending = page.evaluate(ROWS)
            page.click("#trials th:has-text('p95 ms')")
            descending = page.evaluate(ROWS)
        finally:
            browser.close()

    assert not errors
    assert requested == [path.as_uri()]  # plotly.js and the styles are inlined
    assert points >= 6  # batch 32 opens: b32, t7, t8, t9, t10, t11 and the recommended star
    assert verdict == "t9 int8 dynamic + fusion"
    by_p95 = sorted((t for t in result.trials if t.measured), key=lambda t: t.latency.p95)
    assert ascending == [t.id for t in by_p95] + ["t12"]  # the failed trial has no p95: it sinks either way
    assert descending == [t.id for t in reversed(by_p95)] + ["t12"]


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt-get install chromium)")
def test_the_explain_section_draws_its_three_charts(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright
    from test_explain_report import stored_run

    from lepton.navigate.explain_run import explain
    from lepton.navigate.stored import stored_result
    from lepton.store import Store

    store = Store(tmp_path / "home")
    run_id = stored_run(store.home, tmp_path)
    e = explain(store, run_id, quality=True, runs=2)
    path = write_html(stored_result(store, run_id), tmp_path / "report.html", explanations=(e,))
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.goto(path.as_uri())
            drawn = {}
            for chart in ("ops", "blocks", "nodes"):
                page.wait_for_selector(f"#explain-{chart}-t2 .main-svg", timeout=15000)
                drawn[chart] = page.eval_on_selector_all(f"#explain-{chart}-t2 .barlayer .point", "ps => ps.length")
            reason = page.inner_text("#explain-t2 h2")
        finally:
            browser.close()
    assert not errors
    assert drawn["ops"] >= 4  # parent and child bars, stacked by op type
    assert drawn["blocks"] >= 2 and drawn["nodes"] == 3  # conv1, conv2, fc
    assert "int8 dynamic" in reason
