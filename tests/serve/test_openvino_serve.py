"""Serving an OpenVINO winner: ``NAME:recommended`` opens the int8 OpenVINO IR with the engine and settings its
trial was measured with, answers the Open Inference Protocol like in-process OpenVINO, and runs on streams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from serve_helpers import ServerThread, dense_model, store_model

from lepton.engines import RuntimeConfig, open_session
from lepton.errors import EngineUnavailable
from lepton.hardware import detect_hardware
from lepton.ir.artifact import Artifact
from lepton.navigate.deployment import Deployment
from lepton.passes import PassContext, apply_pass, create
from lepton.serve import ServeConfig, build_app
from lepton.serve.metrics import Metrics
from lepton.serve.models import open_lanes, open_model
from lepton.serve.refs import resolve_ref
from lepton.store.store import Store

MEASURED = RuntimeConfig(intra_op_threads=2, batch_size=4, options={"hint": "throughput", "streams": "2"})


def recommend(store: Store, base: Artifact, variant: Artifact, runtime: RuntimeConfig, engine: str | None) -> None:
    """Record a finished optimize run whose recommendation is ``variant`` (what the navigator writes)."""
    run_id = store.start_run("optimize", base.name, base.id)
    if engine:  # what the navigator writes
        deployment = Deployment(artifact_id=variant.id, engine=engine, runtime=runtime, throughput_per_s=1000.0)
        store.finish_run(run_id, "done", {}, deployment)
        return
    legacy: dict[str, Any] = {  # a run written before the engine was recorded
        "recommended_artifact": variant.id,
        "recommended_runtime": runtime.to_json(),
        "prediction": {"throughput_per_s": 1000.0},
    }
    store.finish_run(run_id, "done", legacy)


@pytest.fixture
def winner(store: Store, tmp_path: Path) -> tuple[Artifact, Artifact]:
    """'dense' and its NNCF int8 OpenVINO variant, recommended with 2 streams under the throughput hint."""
    base = store_model(store, dense_model(tmp_path / "dense.onnx"), "dense")
    rng = np.random.default_rng(0)
    ctx = PassContext(store=store, hardware=detect_hardware(), calibration=[{"x": rng.random((8, 4), np.float32)}])
    variant = apply_pass(base, create("quantize-nncf"), ctx)
    recommend(store, base, variant, MEASURED, "openvino")
    return base, variant


def test_recommended_openvino_variant_answers_v2_like_in_process_openvino(
    store: Store, winner: tuple[Artifact, Artifact]
) -> None:
    _, variant = winner
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    app = build_app(ServeConfig(), ["dense:recommended"], store=store)

    with ServerThread(app) as server:
        client = triton.InferenceServerClient(server.url.removeprefix("http://"))
        inp = triton.InferInput("x", [3, 4], "FP32")
        inp.set_data_from_numpy(x)
        result = client.infer("dense", [inp], outputs=[triton.InferRequestedOutput("y")])
        config = client.get_model_config("dense")
        served = app.state.server.registry.get("dense")

    expected = open_session("openvino", variant, MEASURED).run({"x": x})["y"]
    np.testing.assert_allclose(result.as_numpy("y"), expected, rtol=1e-6, atol=1e-7)
    assert variant.format == "openvino" and served.resolved.artifact.id == variant.id
    assert served.engine == "openvino" and config["backend"] == "openvino" and config["platform"] == "openvino"
    assert config["runtime"] == MEASURED.to_json() and config["max_batch_size"] == 4
    settings = served.sessions[0].settings
    assert settings["streams"] == 2 and settings["hint"] == "throughput" and settings["int8_layers"] == 1


def test_resolve_carries_the_engine_and_old_runs_default_to_onnxruntime(
    store: Store, winner: tuple[Artifact, Artifact]
) -> None:
    base, _ = winner

    resolved = resolve_ref("dense:recommended", store)
    recommend(store, base, base, RuntimeConfig(batch_size=2), None)  # a run from before engines were recorded
    older = resolve_ref("dense:recommended", store)

    assert resolved.engine == "openvino" and resolved.runtime == MEASURED
    assert older.engine == "onnxruntime" and older.artifact.id == base.id


def test_engine_flag_wins_and_a_wrong_one_is_a_clear_error(store: Store, winner: tuple[Artifact, Artifact]) -> None:
    resolved = resolve_ref("dense:recommended", store)
    base = resolve_ref("dense:base", store)

    with pytest.raises(EngineUnavailable, match="use --engine openvino"):
        open_model("dense:recommended", resolved, ServeConfig(engine="onnxruntime"), Metrics(), None)
    on_openvino = open_model("dense:base", base, ServeConfig(engine="openvino"), Metrics(), None)

    assert on_openvino.engine == "openvino" and on_openvino.platform == "openvino"


def test_serve_refuses_an_engine_that_cannot_open_the_model_before_starting(
    store: Store, winner: tuple[Artifact, Artifact], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lepton.errors import UserError
    from lepton.resolve import resolve_models

    monkeypatch.setenv("LEPTON_HOME", str(store.home))

    with pytest.raises(UserError, match="engine 'onnxruntime' cannot serve it: .*use --engine openvino"):
        resolve_models(["dense:recommended"], None, "onnxruntime")
    assert resolve_models(["dense:recommended"], None)[0][1].engine == "openvino"


def test_openvino_lanes_are_streams_of_one_session_plus_the_solo_session(
    store: Store, winner: tuple[Artifact, Artifact]
) -> None:
    from dataclasses import replace

    measured = resolve_ref("dense:recommended", store)  # measured with 2 streams: that session is the lanes
    latency = replace(measured, runtime=RuntimeConfig(intra_op_threads=2, options={"hint": "latency"}))
    cfg = ServeConfig()

    lanes, sessions = open_lanes(
        cfg, measured, open_session("openvino", measured.artifact, measured.runtime), "openvino"
    )
    solo_session = open_session("openvino", latency.artifact, latency.runtime)
    auto, auto_sessions = open_lanes(cfg, latency, solo_session, "openvino")

    assert len(lanes.parallel) == 2 and lanes.solo is None and len(sessions) == 1
    assert len(auto.parallel) == 2 and auto.solo is not None and len(auto_sessions) == 2
    wide = auto_sessions[0].settings  # type: ignore[attr-defined]
    assert wide["streams"] == 2 and wide["hint"] == "throughput" and wide["threads"] == 2
    x = {"x": np.ones((2, 4), np.float32)}
    np.testing.assert_allclose(auto.parallel[0](x)["y"], auto.solo(x)["y"], rtol=1e-6)
