"""Gated rollout end to end: a real server on loopback, a real client driving traffic, tiny models built here.

A good candidate (equal outputs) is promoted through the ramp; a bad one (outputs ~5% off in cosine) and a slow
one are rolled back; no request fails during any of them; every event is stored and survives a restart.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from serve_helpers import B, ServerThread, W, dense_model, store_model
from typer.testing import CliRunner

from lepton.cli import app as cli
from lepton.serve import ServeConfig, build_app
from lepton.serve.config import plan_rollout
from lepton.serve.rollout_state import RolloutEvent
from lepton.serve.sequential import PROMOTE, ROLLBACK, Sprt, agrees, latency_breach
from lepton.store import rollouts as stored
from lepton.store.store import Store

BENT = W + 0.5 * np.random.default_rng(1).standard_normal(W.shape).astype(np.float32)  # cosine ~0.95 to W


def twin_model(path: Path) -> Path:
    """The dense model again, with other bytes (a doc string): equal outputs, another artifact."""
    model = onnx.load(dense_model(path))
    model.doc_string = "the same function, another file"
    onnx.save(model, path)
    return path


def slow_model(path: Path, width: int = 768, layers: int = 64) -> Path:
    """The dense model's outputs plus 0 x (a deep tanh MLP of the input): equal outputs, many times slower.

    Slow in absolute terms too: the guard never calls a candidate slow by less than 1 ms (its floor), and 16
    layers ran in 0.78 ms of one thread on AMD EPYC Zen 4, so that test promoted it; 64 run in about 3.5 ms."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(W, "w"), numpy_helper.from_array(B, "b")]
    inits.append(numpy_helper.from_array((rng.standard_normal((4, width)) * 0.1).astype(np.float32), "a0"))
    nodes = [helper.make_node("MatMul", ["x", "a0"], ["h0"])]
    for i in range(layers):
        inits.append(
            numpy_helper.from_array((rng.standard_normal((width, width)) * 0.03).astype(np.float32), f"a{i + 1}")
        )
        nodes.append(helper.make_node("MatMul", [f"h{i}", f"a{i + 1}"], [f"m{i}"]))
        nodes.append(helper.make_node("Tanh", [f"m{i}"], [f"h{i + 1}"]))
    inits.append(numpy_helper.from_array(np.zeros((width, 3), dtype=np.float32), "zero"))
    nodes += [
        helper.make_node("MatMul", [f"h{layers}", "zero"], ["nothing"]),
        helper.make_node("MatMul", ["x", "w"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["xwb"]),
        helper.make_node("Add", ["xwb", "nothing"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "slow",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def failing_model(path: Path) -> Path:
    """The dense model's outputs plus 0 x table[int(100 * x[:, 0])]: right at the warm-up's 0.5, an index out of
    range (a run-time error) for most rows of random inputs."""
    inits = [
        numpy_helper.from_array(W, "w"),
        numpy_helper.from_array(B, "b"),
        numpy_helper.from_array(np.zeros((60, 3), dtype=np.float32), "table"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "start"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "end"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis"),
        numpy_helper.from_array(np.array(100.0, dtype=np.float32), "hundred"),
    ]
    nodes = [
        helper.make_node("Slice", ["x", "start", "end", "axis"], ["first"]),  # [b, 1]
        helper.make_node("Mul", ["first", "hundred"], ["scaled"]),
        helper.make_node("Cast", ["scaled"], ["index"], to=TensorProto.INT64),
        helper.make_node("Gather", ["table", "index"], ["picked"]),  # [b, 1, 3]
        helper.make_node("Squeeze", ["picked", "axis"], ["zero"]),  # [b, 3] of zeros
        helper.make_node("MatMul", ["x", "w"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["xwb"]),
        helper.make_node("Add", ["xwb", "zero"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "failing",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """One store for the module's servers (each test's rollout has a plan of its own, so an id of its own)."""
    tmp_path = tmp_path_factory.mktemp("rollout")
    store = Store(tmp_path / "home")
    store_model(store, dense_model(tmp_path / "dense.onnx"), "dense")
    store_model(store, twin_model(tmp_path / "twin.onnx"), "twin")
    store_model(store, dense_model(tmp_path / "bent.onnx", w=BENT), "bent")
    store_model(store, slow_model(tmp_path / "slow.onnx"), "slow")
    store_model(store, failing_model(tmp_path / "failing.onnx"), "failing")
    return store


def config(candidate: str, **plan: Any) -> ServeConfig:
    settings: dict[str, Any] = {"shadow": True, "canary": "10%", "steps": "50%,100%", "min_samples": 40}
    settings.update(step_requests=10, **plan)
    return ServeConfig(token="sekret", rollout=plan_rollout(candidate, **settings))


def drive(url: str, until: set[str], limit: int = 1500, threads: int = 4) -> tuple[Counter[int], dict[str, Any]]:
    """Send random rows from ``threads`` clients until the rollout's phase is in ``until`` (or ``limit`` requests);
    the statuses of every request and the rollout's last status."""
    rng = np.random.default_rng(0)
    statuses: Counter[int] = Counter()
    status: dict[str, Any] = {}

    def one(x: np.ndarray) -> int:
        body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": x.tolist()}]}
        return httpx.post(f"{url}/v2/models/dense/infer", json=body, timeout=30).status_code

    with ThreadPoolExecutor(threads) as pool:
        sent = 0
        while sent < limit:
            statuses.update(pool.map(one, rng.uniform(-1, 1, (20, 4)).astype(np.float32)))
            sent += 20
            status = httpx.get(f"{url}/admin/rollout/dense").json()
            if status["phase"] in until:
                break
    return statuses, status


def test_a_good_candidate_is_promoted_through_the_ramp_and_no_request_fails(models: Store) -> None:
    with ServerThread(build_app(config("dense=twin"), ["dense"], store=models)) as s:
        statuses, status = drive(s.url, {"promoted", "rolled_back"})
        data = httpx.get(f"{s.url}/dashboard/data").json()

    assert statuses == Counter({200: statuses.total()})
    assert status["phase"] == "promoted" and status["share"] == 1.0
    actions = [(e["action"], e["by"], e["share"]) for e in status["events"]]
    assert actions == [
        ("start", "server", 0.1),
        ("promote", "test", 0.1),
        ("step", "ramp", 0.5),
        ("promote", "ramp", 1.0),
    ]
    decided = RolloutEvent.from_json(status["events"][1])
    assert decided.evidence.compared >= 40 and decided.evidence.disagreements == 0
    assert decided.evidence.llr <= decided.evidence.lower
    assert decided.evidence.candidate is not None and decided.evidence.candidate.p95 is not None
    stored_events = stored.events(models, rollout_id=status["rollout_id"])
    assert [e["action"] for e in stored_events] == [a for a, _, _ in actions]
    assert data["rollouts"]["dense"]["phase"] == "promoted"


def test_a_candidate_five_percent_off_is_rolled_back_by_the_test(models: Store) -> None:
    with ServerThread(build_app(config("dense=bent"), ["dense"], store=models)) as s:
        statuses, status = drive(s.url, {"promoted", "rolled_back"})

    assert statuses == Counter({200: statuses.total()})
    assert status["phase"] == "rolled_back" and status["share"] == 0.0
    last = RolloutEvent.from_json(status["events"][-1])
    assert (last.action, last.by) == ("rollback", "test")
    assert "--max-drop" in last.reason
    assert last.evidence.compared >= 40  # never before the minimum count
    assert last.evidence.llr >= last.evidence.upper
    assert last.evidence.mean_cosine is not None and 0.85 < last.evidence.mean_cosine < 0.99
    assert statuses.total() <= 400  # decided within a few hundred requests


def test_a_slow_candidate_is_rolled_back_at_once_by_the_latency_guard(models: Store) -> None:
    with ServerThread(build_app(config("dense=slow", min_samples=200), ["dense"], store=models)) as s:
        statuses, status = drive(s.url, {"promoted", "rolled_back"})

    assert statuses == Counter({200: statuses.total()})
    last = RolloutEvent.from_json(status["events"][-1])
    assert (last.action, last.by, last.phase) == ("rollback", "guard", "rolled_back")
    assert last.reason.startswith("latency: ")
    assert last.evidence.compared < 200  # before the test could have decided: the guard acts at once
    assert last.evidence.disagreements == 0  # its outputs are right; only its latency is not


def test_a_candidate_that_fails_is_rolled_back_at_once_and_its_canary_requests_still_succeed(models: Store) -> None:
    with ServerThread(build_app(config("dense=failing", canary="50%"), ["dense"], store=models)) as s:
        statuses, status = drive(s.url, {"promoted", "rolled_back"}, limit=200)

    assert statuses == Counter({200: statuses.total()})  # answered by the incumbent instead
    last = RolloutEvent.from_json(status["events"][-1])
    assert (last.action, last.by, last.phase) == ("rollback", "guard", "rolled_back")
    assert last.reason.startswith("the candidate failed")
    assert last.evidence.candidate is not None and last.evidence.candidate.errors >= 1
    assert statuses.total() <= 40  # at once: within the first rounds of requests


def test_the_agreement_bound_is_the_max_drop_the_candidate_was_chosen_under(store: Store, tmp_path: Path) -> None:
    from lepton.navigate.deployment import Deployment

    base = store_model(store, dense_model(tmp_path / "dense.onnx"), "dense")
    variant = store_model(store, twin_model(tmp_path / "twin.onnx"), "twin")
    run_id = store.start_run("optimize", "dense", base.id)
    store.finish_run(run_id, "done", {"options": {"max_drop": 0.2}}, Deployment(artifact_id=variant.id))
    cfg = ServeConfig(rollout=plan_rollout("dense:recommended", shadow=True))
    with ServerThread(build_app(cfg, ["dense:base"], store=store)) as s:
        status = httpx.get(f"{s.url}/admin/rollout/dense").json()

    assert status["plan"]["max_drop"] == 0.2
    assert status["events"][0]["candidate_artifact"] == variant.id


def test_the_rollout_flags_are_checked_before_the_server_starts() -> None:
    from lepton.errors import UserError

    with pytest.raises(UserError, match="nothing would reach the candidate"):
        plan_rollout("dense=twin")
    with pytest.raises(UserError, match="--sample is the share of requests shadowed"):
        plan_rollout("dense=twin", sample="10%")
    with pytest.raises(UserError, match="must rise and end at 100%"):
        plan_rollout("dense=twin", shadow=True, steps="5%,50%")
    with pytest.raises(UserError, match="untested"):
        plan_rollout("dense=twin", canary="100%")
    with pytest.raises(UserError, match="one server process"):
        ServeConfig(workers=2, rollout=plan_rollout("dense=twin", shadow=True))
    plan = plan_rollout("dense=twin", canary="10%", steps="5%,25%,100%")
    assert (plan.canary, plan.shadow_rate, plan.steps) == (0.1, 0.0, (0.05, 0.25, 1.0))


def test_admin_routes_promote_and_abort_and_the_decision_survives_a_restart(models: Store) -> None:
    cfg = config("dense=bent", min_samples=10_000)
    with ServerThread(build_app(cfg, ["dense"], store=models)) as s:
        assert httpx.post(f"{s.url}/admin/rollout/dense/abort").status_code == 401
        r = httpx.post(
            f"{s.url}/admin/rollout/dense/abort",
            json={"reason": "manual check"},
            headers={"Authorization": "Bearer sekret"},
        )
        assert r.status_code == 200 and r.json()["phase"] == "rolled_back"
        again = httpx.post(f"{s.url}/admin/rollout/dense/promote", headers={"Authorization": "Bearer sekret"})
        assert again.status_code == 409
        assert httpx.get(f"{s.url}/admin/rollout/nothing").status_code == 404

    with ServerThread(build_app(cfg, ["dense"], store=models)) as s:  # the same rollout, restarted
        status = httpx.get(f"{s.url}/admin/rollout/dense").json()
    assert status["phase"] == "rolled_back" and status["share"] == 0.0
    assert [e["action"] for e in status["events"]] == ["start", "rollback", "resume"]
    assert status["events"][1]["by"] == "admin" and status["events"][1]["reason"] == "manual check"


def test_lepton_rollout_prints_the_stored_history(models: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEPTON_HOME", str(models.home))
    with ServerThread(build_app(config("dense=twin", canary="50%", min_samples=1000), ["dense"], store=models)) as s:
        httpx.post(f"{s.url}/admin/rollout/dense/promote", headers={"Authorization": "Bearer sekret"})

    result = CliRunner().invoke(cli, ["rollout", "dense"])
    missing = CliRunner().invoke(cli, ["rollout", "nobody"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("rollout dense:") and "candidate dense=twin" in lines[0]
    assert any(" promote " in line and "by admin" in line for line in lines)
    assert any(line.strip().startswith("evidence:") for line in lines)
    assert missing.exit_code != 0 and "no rollout of 'nobody'" in str(missing.exception or missing.output)


def test_the_sprt_decides_only_after_the_minimum_count_and_at_villes_bounds() -> None:
    sprt = Sprt(q0=0.01, q1=0.10, alpha=0.05, beta=0.05, min_samples=50)
    assert sprt.decide(49, 0) is None  # all agreeing, but too few
    assert sprt.decide(50, 0) == PROMOTE  # 50 x log(0.9/0.99) < log(0.05)
    assert sprt.decide(50, 49) == ROLLBACK
    assert sprt.decide(50, 2) is None  # not enough evidence either way
    assert sprt.upper == pytest.approx(np.log(20)) and sprt.lower == pytest.approx(np.log(0.05))
    assert agrees(0.995, 0.01) and not agrees(0.985, 0.01)
    assert latency_breach(3.0, 1.0, bound_ms=None, ratio=1.5) is not None
    assert latency_breach(1.4, 1.0, bound_ms=None, ratio=1.5) is None
    assert latency_breach(1.9, 1.0, bound_ms=None, ratio=1.5) is None  # within the 1 ms floor
    assert latency_breach(25.0, None, bound_ms=20.0, ratio=1.5) is not None


def test_the_sprt_false_rollback_rate_stays_under_alpha_when_checked_after_every_request() -> None:
    """Continuous monitoring: a candidate disagreeing at exactly q0, checked after every one of 2,000 requests."""
    sprt = Sprt(q0=0.01, q1=0.10, alpha=0.05, beta=0.05, min_samples=1)
    rng = np.random.default_rng(0)
    rolled_back = 0
    for _ in range(400):
        bad = np.cumsum(rng.random(2000) < 0.01)
        verdicts = (sprt.decide(n + 1, int(d)) for n, d in enumerate(bad))
        rolled_back += next((v for v in verdicts if v is not None), None) == ROLLBACK
    assert rolled_back / 400 <= 0.05


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt-get install chromium)")
def test_the_dashboard_shows_both_variants_side_by_side_and_the_decision(models: Store) -> None:
    from playwright.sync_api import sync_playwright

    cfg = config("dense=twin", canary="50%", min_samples=10_000)
    with ServerThread(build_app(cfg, ["dense"], store=models)) as s, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{s.url}/dashboard")
            page.wait_for_function("!document.getElementById('rollout').hidden", timeout=15000)
            drive(s.url, set(), limit=60, threads=2)
            page.wait_for_function(
                "[...document.querySelectorAll('#r-variants tr')].length === 2 && "
                "Number(document.querySelector('#r-variants tr[data-variant=candidate] td:nth-child(3)')"
                ".textContent) > 0",
                timeout=15000,
            )
            rows = page.eval_on_selector_all("#r-variants tr", "rs => rs.map(r => r.innerText)")
            evaluating = page.inner_text("#r-phase")
            httpx.post(f"{s.url}/admin/rollout/dense/abort", headers={"Authorization": "Bearer sekret"})
            page.wait_for_function("document.getElementById('r-phase').textContent === 'rolled back'", timeout=15000)
            events = page.inner_text("#r-events")
            test_line = page.inner_text("#r-test")
        finally:
            browser.close()

    assert not errors
    assert evaluating == "evaluating"
    assert rows[0].startswith("incumbent") and rows[1].startswith("candidate")
    assert "rollback -> rolled back 0% (by admin)" in events
    assert test_line.startswith("SPRT: ") and "agreement 1.000" in test_line


def test_serve_refuses_a_candidate_that_resolves_to_nothing_before_it_starts(
    models: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEPTON_HOME", str(models.home))
    result = CliRunner().invoke(cli, ["serve", "dense", "--candidate", "nothing", "--shadow", "--port", "1"])
    assert result.exit_code != 0
    assert str(result.exception).startswith("--candidate nothing: no model or file 'nothing'")
