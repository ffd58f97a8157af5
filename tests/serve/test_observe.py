"""Shadow fidelity, and the live dashboard in headless Chromium (Playwright)."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from serve_helpers import ServerThread, W, dense_model, store_model

from lepton.measure.prediction import Prediction
from lepton.serve import ServeConfig, build_app
from lepton.serve.metrics import LivePoint
from lepton.serve.refs import ResolvedModel
from lepton.store.store import Store

CHROMIUM = Path("/usr/bin/chromium")
X = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}


def test_shadow_publishes_live_fidelity_against_the_reference(store: Store, tmp_path: Path) -> None:
    served = store_model(store, dense_model(tmp_path / "a.onnx", w=W * 1.3), "drifted")
    reference = store_model(store, dense_model(tmp_path / "b.onnx"), "dense")
    model = ResolvedModel("dense", served, reference=reference, prediction=Prediction(usd_per_1m=0.5))
    with ServerThread(build_app(ServeConfig(shadow_rate=1.0), [model], store=store)) as s:
        for _ in range(5):
            assert httpx.post(f"{s.url}/v2/models/dense/infer", json=X).status_code == 200
        deadline = time.monotonic() + 10
        while "lepton_shadow_fidelity{" not in (text := httpx.get(f"{s.url}/metrics").text):
            assert time.monotonic() < deadline
            time.sleep(0.05)

    fidelity = float(re.search(r'lepton_shadow_fidelity\{model="dense"\} (\S+)', text).group(1))  # type: ignore[union-attr]
    assert 0.9 < fidelity < 0.99999  # the drifted copy is close but not equal
    assert 'lepton_predicted_cost_per_1m_usd{model="dense"} 0.5' in text


def test_live_points_name_the_predicted_figures_as_the_prediction_does(store: Store, tmp_path: Path) -> None:
    """The dashboard draws the navigator's line beside the live one by field name: one name per figure."""
    served = store_model(store, dense_model(tmp_path / "a.onnx"), "dense")
    predicted = Prediction(throughput_per_s=100.0, usd_per_1m=0.5)
    model = ResolvedModel("dense", served, prediction=predicted)
    with ServerThread(build_app(ServeConfig(price_per_hour=0.1), [model], store=store)) as s:
        deadline = time.monotonic() + 10
        while True:
            assert httpx.post(f"{s.url}/v2/models/dense/infer", json=X).status_code == 200
            data = httpx.get(f"{s.url}/dashboard/data").json()["models"]["dense"]
            served_points = [p for p in data["points"] if p["throughput_per_s"] > 0]
            if served_points:
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert data["predicted"] == {"throughput_per_s": 100.0, "usd_per_1m": 0.5}
    assert set(data["predicted"]) <= set(served_points[0]) <= set(LivePoint.model_fields)
    live = LivePoint.from_json(served_points[0])
    assert live.usd_per_1m == pytest.approx(0.1 / (live.throughput_per_s * 3600) * 1e6, rel=1e-2)


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt-get install chromium)")
def test_dashboard_renders_and_numbers_move_after_traffic(tiny: Store) -> None:
    from playwright.sync_api import sync_playwright

    model = ResolvedModel("dense", tiny.model_artifact("dense"), prediction=Prediction(usd_per_1m=0.01))  # type: ignore[arg-type]
    with (
        ServerThread(build_app(ServeConfig(price_per_hour=0.1), [model], store=tiny)) as s,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{s.url}/dashboard")
            page.wait_for_function("Number(document.body.dataset.updates || 0) >= 1", timeout=15000)
            before = page.inner_text("#v-totals")

            with ThreadPoolExecutor(4) as pool:  # Playwright's sync API owns this thread's event loop
                for _ in range(4):
                    list(pool.map(lambda _: httpx.post(f"{s.url}/v2/models/dense/infer", json=X), range(10)))
                    time.sleep(0.3)
            page.wait_for_function("document.getElementById('v-totals').textContent.startsWith('40 ')", timeout=15000)
            page.wait_for_function(
                "Number(document.getElementById('c-throughput').dataset.points || 0) > 0", timeout=15000
            )
            throughput = page.inner_text("#v-throughput")
            cost = page.inner_text("#v-cost")
            canvases = page.eval_on_selector_all("canvas", "cs => cs.map(c => [c.id, c.width, c.dataset.points])")
        finally:
            browser.close()

    assert before.startswith("0 ")
    assert not errors
    assert len(canvases) == 7 and all(w > 0 and pts is not None for _, w, pts in canvases)
    assert throughput != "-" or cost != "-"
    assert cost.endswith("0.010")
