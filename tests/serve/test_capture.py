"""Captured traffic: a real server keeps a bounded sample in the store, a replay sends it to another server at the
recorded arrival times (the replayed requests equal the captured ones), and ``--data captured:NAME`` reads it."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from serve_helpers import ServerThread, dense_model, store_model

import lepton
from lepton.errors import UserError
from lepton.measure.workload import load_workload
from lepton.serve import ServeConfig, build_app
from lepton.serve.capture import captured_data, from_npz
from lepton.serve.replay import ReplaySpec, parse_speed, replay
from lepton.store import rollouts as stored
from lepton.store.store import Store


def wait_for(store: Store, model: str, count: int) -> None:
    deadline = time.monotonic() + 20
    while stored.capture_count(store, model) < count:
        assert time.monotonic() < deadline, f"{stored.capture_count(store, model)} of {count} captured"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """'dense' served with --capture 100% and at most 25 rows kept; 30 requests sent, 10-40 ms apart."""
    tmp_path = tmp_path_factory.mktemp("captured")
    store = Store(tmp_path / "home")
    store_model(store, dense_model(tmp_path / "dense.onnx"), "dense")
    cfg = ServeConfig(capture_rate=1.0, capture_max_rows=25)
    rng = np.random.default_rng(0)
    with ServerThread(build_app(cfg, ["dense"], store=store)) as s:
        for x in rng.uniform(-1, 1, (30, 2, 4)).astype(np.float32):
            body = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": x.ravel().tolist()}]}
            assert httpx.post(f"{s.url}/v2/models/dense/infer", json=body).status_code == 200
            time.sleep(float(rng.uniform(0.01, 0.04)))
        wait_for(store, "dense", 25)
        time.sleep(0.2)  # the writer has finished: rotation keeps the newest 25
    return store


def test_capture_keeps_the_newest_requests_with_their_served_output(captured: Store) -> None:
    caps = stored.captures(captured, "dense")
    assert len(caps) == 25  # 30 sent, the cap is 25: the oldest 5 were rotated out
    first = caps[0]
    x, y = from_npz(first.inputs)["x"], from_npz(first.outputs)["y"]
    assert x.shape == (2, 4) and y.shape == (2, 3)
    from serve_helpers import B, W

    assert np.allclose(y, x @ W + B, atol=1e-5)  # the output it was served
    assert all(a.t < b.t for a, b in zip(caps, caps[1:], strict=False)) and first.latency_s > 0


def test_replay_sends_the_captured_requests_at_their_arrival_times(captured: Store, tmp_path: Path) -> None:
    other = Store(tmp_path / "other-home")
    store_model(other, dense_model(tmp_path / "dense2.onnx"), "dense")
    caps = stored.captures(captured, "dense")
    with ServerThread(build_app(ServeConfig(capture_rate=1.0), ["dense"], store=other)) as s:
        result = replay(ReplaySpec("dense", s.url, speed=2.0, max_in_flight=4), captured)
        wait_for(other, "dense", 25)

    assert result.requests == result.ok == 25
    assert result.seconds >= 0.9 * result.recorded_s / 2  # at the recorded times, twice as fast
    replayed = stored.captures(other, "dense")
    sent = sorted(from_npz(c.inputs)["x"].tobytes() for c in caps)
    got = sorted(from_npz(c.inputs)["x"].tobytes() for c in replayed)
    assert got == sent  # the replayed requests equal the captured ones, bit for bit
    gaps = np.diff([c.t for c in replayed])
    assert gaps.sum() == pytest.approx(result.recorded_s / 2, rel=0.5, abs=0.2)


def test_captured_traffic_is_data_for_optimize(captured: Store) -> None:
    path = captured_data(captured, "captured:dense")
    workload = load_workload(captured.model_artifact("dense"), path)  # type: ignore[arg-type]  # --data's reader
    assert workload.n_rows == 50  # 25 requests of 2 rows
    first = from_npz(stored.captures(captured, "dense")[0].inputs)["x"]
    assert np.array_equal(workload.rows["x"][:2], first)
    with pytest.raises(UserError, match="nothing is captured for 'nobody'"):  # optimize reads captured:NAME
        lepton.optimize("dense", data="captured:nobody", store=captured)


def test_speed_and_share_are_written_as_people_write_them() -> None:
    from lepton.serve.config import parse_share

    assert parse_speed("2x") == 2.0 and parse_speed("0.5") == 0.5
    assert parse_share("1%", "--capture") == 0.01 and parse_share("0.1", "--sample") == 0.1
    with pytest.raises(UserError, match="--speed"):
        parse_speed("fast")
    with pytest.raises(UserError, match="--canary"):
        parse_share("150%", "--canary")


def test_capture_rotation_also_keeps_within_the_byte_cap(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    blob = b"x" * 1000
    for i in range(10):
        new = [stored.NewCapture(float(i), 0.001, blob, blob)]
        stored.add_captures(store, "m", new, max_rows=100, max_bytes=5000)

    kept = stored.captures(store, "m")
    assert [c.t for c in kept] == [8.0, 9.0]  # 2,000 bytes each: the newest two fit in 5,000
    assert stored.captures(store, "other") == []


def test_captured_traffic_is_a_drift_reference_and_live_data(captured: Store, tmp_path: Path) -> None:
    same = lepton.drift("dense", data="captured:dense", reference="captured:dense", window=20, store=captured)
    assert same.exit_code == 0 and not same.report.alert and same.report.window_rows == 50
    assert "captures" in same.report.reference  # the capture, not the model's evaluation data

    x = np.random.default_rng(5).uniform(-1, 1, (200, 4)).astype(np.float32)  # as the captured requests were sent
    x[:, 2] += 1.0  # one feature shifted by more than one standard deviation
    np.savez(live := tmp_path / "live.npz", x=x)
    shifted = lepton.drift("dense", data=live, reference="captured:dense", window=100, store=captured,
                           json=tmp_path / "drift.json")  # fmt: skip
    assert shifted.exit_code == 1 and shifted.report.alert
    assert [f.name for f in shifted.report.features if f.drifted][0] == "x[2]"
    assert (tmp_path / "drift.json").exists()
    with pytest.raises(UserError, match="nothing is captured for 'nobody'"):
        lepton.drift("dense", data=live, reference="captured:nobody", store=captured)
