"""Shadow copies run off the answer path: a bounded, low-priority queue that drops (and counts) what it cannot run.

A real server on loopback, a real client; the candidate is a model that takes tens of milliseconds of CPU per row
on one thread while the incumbent takes microseconds, so a copy on the answer path could not hide.
"""

from __future__ import annotations

import threading
import time
from functools import partial
from pathlib import Path

import httpx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from serve_helpers import B, ServerThread, W, dense_model, store_model

from lepton.serve import ServeConfig, build_app
from lepton.serve.config import plan_rollout
from lepton.serve.offpath import OffPath
from lepton.store.store import Store


def heavy_model(path: Path, width: int = 1024, rows: int = 256, layers: int = 4) -> Path:
    """The dense model's outputs plus 0 x (``layers`` tanh layers of one shared ``width`` square matrix over the
    input's projection repeated ``rows`` times): equal outputs, ~1G multiply-adds per request at the defaults
    (tens of ms on one thread), 4 MB of weights."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(W, "w"),
        numpy_helper.from_array(B, "b"),
        numpy_helper.from_array((rng.standard_normal((4, width)) * 0.1).astype(np.float32), "a0"),
        numpy_helper.from_array((rng.standard_normal((width, width)) * 0.03).astype(np.float32), "a"),
        numpy_helper.from_array(np.zeros((width, 3), dtype=np.float32), "zero"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array([1, rows, 1], dtype=np.int64), "repeat"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "a0"], ["p"]),  # [b, width]
        helper.make_node("Unsqueeze", ["p", "axis1"], ["p3"]),  # [b, 1, width]
        helper.make_node("Expand", ["p3", "repeat"], ["h0"]),  # [b, rows, width]
    ]
    for i in range(layers):
        nodes.append(helper.make_node("MatMul", [f"h{i}", "a"], [f"m{i}"]))
        nodes.append(helper.make_node("Tanh", [f"m{i}"], [f"h{i + 1}"]))
    nodes += [
        helper.make_node("MatMul", [f"h{layers}", "zero"], ["z3"]),  # [b, rows, 3] of zeros
        helper.make_node("ReduceSum", ["z3", "axis1"], ["nothing"], keepdims=0),  # [b, 3]
        helper.make_node("MatMul", ["x", "w"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["xwb"]),
        helper.make_node("Add", ["xwb", "nothing"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "heavy",
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
    tmp = tmp_path_factory.mktemp("offpath")
    store = Store(tmp / "home")
    store_model(store, dense_model(tmp / "dense.onnx"), "dense")
    store_model(store, heavy_model(tmp / "heavy.onnx"), "heavy")
    store_model(store, heavy_model(tmp / "slower.onnx", rows=32), "slower")  # a few ms: beyond the 1 ms floor
    return store


def shadow_everything(candidate: str) -> ServeConfig:
    """Shadow every request; the test and the latency guard held open (nothing decides)."""
    plan = plan_rollout(candidate, shadow=True, min_samples=100_000, min_latency=100_000)
    return ServeConfig(token="sekret", rollout=plan)


def infer(client: httpx.Client, url: str, x: np.ndarray) -> float:
    body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": x.tolist()}]}
    t0 = time.perf_counter()
    r = client.post(f"{url}/v2/models/dense/infer", json=body)
    assert r.status_code == 200, r.text
    return time.perf_counter() - t0


def settled(url: str, requests: int, timeout_s: float = 60.0) -> dict[str, object]:
    """The rollout's status once every shadow copy was either compared or dropped."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = httpx.get(f"{url}/admin/rollout/dense").json()
        ev = status["evidence"]
        if ev["compared"] + ev["dropped"] >= requests or time.monotonic() > deadline:
            return dict(status)
        time.sleep(0.1)


def test_a_slow_shadow_does_not_delay_the_incumbents_answers_and_what_it_drops_is_counted(models: Store) -> None:
    rng = np.random.default_rng(0)
    with ServerThread(build_app(shadow_everything("dense=heavy"), ["dense"], store=models)) as s:
        with httpx.Client(timeout=30) as client:
            infer(client, s.url, rng.uniform(-1, 1, 4).astype(np.float32))  # connect
            seconds = [infer(client, s.url, x) for x in rng.uniform(-1, 1, (30, 4)).astype(np.float32)]
        status = settled(s.url, 31)
        metrics = httpx.get(f"{s.url}/metrics").text

    ev = status["evidence"]
    assert isinstance(ev, dict)
    cand = ev["candidate"]
    shadow_ms = cand["shadow_cpu_p50"]
    assert shadow_ms is not None and shadow_ms > 0
    # on the answer path, 30 sequential requests would take at least 30 copies' CPU time
    assert sum(seconds) * 1000 < 30 * shadow_ms / 3, (sum(seconds), shadow_ms)
    # every selected copy was compared or dropped; a dropped one is no trial of the test
    assert ev["compared"] + ev["dropped"] == 31
    assert ev["dropped"] > 0 and ev["compared"] >= 1
    assert cand["shadowed"] == ev["compared"] and ev["disagreements"] == 0
    assert f'lepton_rollout_shadow_dropped_total{{model="dense"}} {float(ev["dropped"])}' in metrics
    assert status["phase"] == "evaluating"


def test_the_off_path_queue_holds_at_most_its_capacity_and_drops_the_rest() -> None:
    started, release = threading.Event(), threading.Event()
    ran: list[int] = []
    offpath = OffPath(3, name="test-offpath")

    def hold() -> None:
        started.set()
        release.wait(10)

    try:
        assert offpath.submit(hold)
        assert started.wait(10)  # the thread runs the first job: the queue is empty again
        accepted = [offpath.submit(partial(ran.append, i)) for i in range(5)]
        assert accepted == [True, True, True, False, False]
        assert (offpath.depth, offpath.dropped, offpath.submitted) == (3, 2, 4)
        release.set()
        deadline = time.monotonic() + 10
        while len(ran) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ran == [0, 1, 2]  # oldest first
    finally:
        release.set()
        offpath.close()
    assert offpath.lowered  # the thread runs at a lower priority (Linux)
    assert not offpath.submit(lambda: None)  # closed: nothing more runs


def test_the_latency_guard_compares_both_variants_on_one_thread_on_the_same_requests(models: Store) -> None:
    plan = plan_rollout("dense=slower", shadow=True, min_samples=100_000, min_latency=10)
    with ServerThread(build_app(ServeConfig(rollout=plan), ["dense"], store=models)) as s:
        rng = np.random.default_rng(1)
        deadline = time.monotonic() + 90  # the off-path thread runs at nice 19: on a busy machine it waits
        with httpx.Client(timeout=30) as client:
            while time.monotonic() < deadline:
                infer(client, s.url, rng.uniform(-1, 1, 4).astype(np.float32))
                if httpx.get(f"{s.url}/admin/rollout/dense").json()["phase"] == "rolled_back":
                    break
                time.sleep(0.01)
        status = httpx.get(f"{s.url}/admin/rollout/dense").json()

    last = status["events"][-1]
    assert (last["action"], last["by"]) == ("rollback", "guard")
    assert last["reason"].startswith("latency: CPU p50 per request (one thread, same requests)")
    assert last["evidence"]["incumbent"]["shadowed"] >= 10  # the incumbent timed on the same requests
