"""``lepton serve --drift`` on loopback: a real server, a real HTTP client (httpx) sending rows from the reference's
distribution and then rows with one feature shifted by one standard deviation; the drift gauges appear on /metrics
and the alert rises only after the shift; ``/v1/models/{name}/drift`` gives the report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from serve_helpers import ServerThread, store_text_model

from lepton.engines.base import open_session
from lepton.ir.text import sample_sentences
from lepton.serve import ServeConfig, build_app
from lepton.serve.drift import drift_of_file, reference_profile, stored_data
from lepton.serve.refs import resolve_ref
from lepton.store.store import Store


def gauge(text: str, name: str, **labels: str) -> float | None:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))  # the exposition sorts labels
    m = re.search(rf"^{name}\{{{re.escape(want)}\}} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_drift_gauges_appear_on_metrics_and_alert_after_a_shift(tiny: Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    reference = tmp_path / "reference.npz"
    np.savez(reference, x=rng.standard_normal((1000, 4)).astype(np.float32))
    cfg = ServeConfig(drift=True, drift_data=str(reference), drift_window=200)
    with ServerThread(build_app(cfg, ["dense"], store=tiny)) as s, httpx.Client(base_url=s.url, timeout=30) as client:

        def send(shift: float, requests: int) -> None:
            for _ in range(requests):
                x = rng.standard_normal((10, 4))
                x[:, 2] += shift
                r = client.post("/v1/models/dense/predict", json={"inputs": {"x": x.tolist()}})
                assert r.status_code == 200, r.text

        send(0.0, 20)  # 200 rows like the reference
        report = client.get("/v1/models/dense/drift").json()
        assert report["window_rows"] == 200 and report["judged"] and not report["alert"]
        text = client.get("/metrics").text
        assert gauge(text, "lepton_drift_alert", model="dense") == 0.0
        assert (gauge(text, "lepton_drift_psi", model="dense", feature="x[2]") or 1.0) < 0.2
        assert gauge(text, "lepton_drift_ks_pvalue", model="dense", feature="x[0]") is not None
        assert gauge(text, "lepton_drift_psi", model="dense", feature="y.confidence") is not None  # outputs too
        send(1.0, 20)  # the window now holds only shifted rows
        report = client.get("/v1/models/dense/drift").json()
        assert report["alert"] and [f["name"] for f in report["features"] if f["drifted"]][0] == "x[2]"
        text = client.get("/metrics").text
        assert gauge(text, "lepton_drift_alert", model="dense") == 1.0
        panel = client.get("/dashboard/data").json()["drift"]["dense"]  # what the dashboard's drift panel draws
        assert panel["alert"] and panel["judged"] and panel["skipped"] == 0
        assert (gauge(text, "lepton_drift_psi", model="dense", feature="x[2]") or 0.0) > 0.2
        p = lepton("drift", "dense", "--url", s.url)  # the server's window, in the terminal
        assert p.returncode == 1 and "DRIFT: x[2]" in p.stdout, p.stdout + p.stderr


def test_the_drift_route_says_when_drift_is_off(server: ServerThread) -> None:
    r = httpx.get(f"{server.url}/v1/models/dense/drift", timeout=30)
    assert r.status_code == 404 and "--drift" in r.json()["error"]


def lepton(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lepton", *args], capture_output=True, text=True, timeout=300)


def test_lepton_drift_reports_a_file_in_the_terminal_and_html(tiny: Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    reference, live = tmp_path / "reference.npz", tmp_path / "live.npz"
    np.savez(reference, x=rng.standard_normal((1000, 4)).astype(np.float32))
    x = rng.standard_normal((600, 4)).astype(np.float32)
    x[300:, 1] += 1.0  # the second half shifted by one standard deviation
    np.savez(live, x=x)
    html, out = tmp_path / "drift.html", tmp_path / "drift.json"
    p = lepton("drift", "dense", "--data", str(live), "--reference", str(reference), "--window", "200",
               "--html", str(html), "--json", str(out))  # fmt: skip
    assert p.returncode == 1, p.stdout + p.stderr
    assert "DRIFT: x[1]" in p.stdout and "first alarm in window" in p.stdout
    timeline = json.loads(out.read_text())["timeline"]
    assert not timeline[0]["alert"] and timeline[-1]["alert"]  # the first window is the unshifted half
    page = html.read_text()
    assert "Drift of dense" in page and "x[1]" in page and "drift-timeline" in page


def test_an_unshifted_file_shows_no_drift(tiny: Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    reference, live = tmp_path / "reference.npz", tmp_path / "live.npz"
    np.savez(reference, x=rng.standard_normal((1000, 4)).astype(np.float32))
    np.savez(live, x=rng.standard_normal((400, 4)).astype(np.float32))
    resolved = resolve_ref("dense", tiny)
    session = open_session("onnxruntime", resolved.artifact, resolved.runtime)
    whole, timeline, _ = drift_of_file("dense", resolved.artifact, session.run, live, reference=reference, window=200)
    session.close()
    assert whole.judged and not whole.alert and timeline and not any(t.alert for t in timeline)


def test_the_reference_is_the_data_the_optimize_run_measured_on(tiny: Store, tmp_path: Path) -> None:
    data = tmp_path / "eval.npz"
    np.savez(data, x=np.random.default_rng(3).standard_normal((300, 4)).astype(np.float32))
    assert stored_data("dense", tiny) is None  # no run yet
    run = tiny.start_run("optimize", "dense", None)
    tiny.finish_run(run, "done", {"options": {"data": str(data)}})
    assert stored_data("dense", tiny) == data
    resolved = resolve_ref("dense", tiny)
    session = open_session("onnxruntime", resolved.artifact, resolved.runtime)
    ref = reference_profile(resolved.artifact.with_(name="dense"), session.run, stored_data("dense", tiny))
    session.close()
    assert ref.source == str(data) and ref.rows == 300


def test_text_drift_through_the_embeddings_route(store: Store, tmp_path: Path) -> None:
    """The reference of a text model is the bundled sentences; the same sentences sent through /v1/embeddings raise
    no alarm, long texts of rare words do (token length and vocabulary)."""
    store_text_model(store, tmp_path, "embedder")
    cfg = ServeConfig(drift=True, drift_window=100)
    sentences = sample_sentences()
    with ServerThread(build_app(cfg, ["embedder"], store=store)) as s, httpx.Client(base_url=s.url, timeout=30) as c:
        for i in range(0, 100, 10):
            r = c.post("/v1/embeddings", json={"model": "embedder", "input": sentences[i : i + 10]})
            assert r.status_code == 200, r.text
        same = c.get("/v1/models/embedder/drift").json()
        assert same["judged"] and not same["alert"], same
        assert {"input_ids.length", "input_ids.tokens", "emb.norm"} <= {f["name"] for f in same["features"]}
        odd = " ".join(["quixotic zygomorphic xylophonist"] * 12)
        for _ in range(10):
            assert c.post("/v1/embeddings", json={"model": "embedder", "input": [odd] * 10}).status_code == 200
        shifted = c.get("/v1/models/embedder/drift").json()
    drifted = {f["name"] for f in shifted["features"] if f["drifted"]}
    assert shifted["alert"] and {"input_ids.length", "input_ids.tokens"} <= drifted


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt-get install chromium)")
def test_the_dashboard_drift_panel_shows_the_window_and_the_drifted_feature(tiny: Store, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    rng = np.random.default_rng(3)
    reference = tmp_path / "reference.npz"
    np.savez(reference, x=rng.standard_normal((1000, 4)).astype(np.float32))
    cfg = ServeConfig(drift=True, drift_data=str(reference), drift_window=200)

    def send(url: str, shift: float, requests: int) -> None:
        for _ in range(requests):
            x = rng.standard_normal((10, 4))
            x[:, 2] += shift
            assert httpx.post(f"{url}/v1/models/dense/predict", json={"inputs": {"x": x.tolist()}}).status_code == 200

    with ServerThread(build_app(cfg, ["dense"], store=tiny)) as s, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{s.url}/dashboard")
            page.wait_for_function("!document.getElementById('drift').hidden", timeout=15000)
            waiting = page.inner_text("#d-state")
            send(s.url, 0.0, 20)
            page.wait_for_function("document.getElementById('d-state').textContent === 'no drift'", timeout=15000)
            calm = page.inner_text("#d-window")
            send(s.url, 1.0, 20)
            page.wait_for_function("document.getElementById('d-state').textContent === 'drift'", timeout=15000)
            first = page.eval_on_selector("#d-features tr", "r => [r.dataset.feature, r.className]")
            window = page.inner_text("#d-window")
        finally:
            browser.close()

    assert not errors
    assert waiting == "waiting"
    assert re.match(r"\d+ live rows against .*reference\.npz \(1000 rows\)$", calm)  # judged every 50 rows
    assert first == ["x[2]", "drifted"]
    assert "drifted: x[2]" in window
