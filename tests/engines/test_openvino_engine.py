"""The OpenVINO engine on real OpenVINO sessions: conformance, settings read back, clear errors, concurrency."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from engine_helpers import commit, token_reference

from lepton.cost.catalog import PricePoint
from lepton.engines import ENGINES, RuntimeConfig, open_session
from lepton.engines.openvino import OpenVinoSession
from lepton.errors import EngineError, EngineUnavailable, UserError
from lepton.hardware import detect_hardware
from lepton.ir.artifact import Artifact
from lepton.measure.timing import TimingPlan, measure_concurrent
from lepton.measure.trial import Reference, TrialSpec, measure_trial, run_all
from lepton.measure.workload import synthesize_workload
from lepton.store import Store


def ov_session(artifact: Artifact, runtime: RuntimeConfig | None = None) -> OpenVinoSession:
    """An OpenVINO session, typed as one (its ``settings`` say what it compiled with)."""
    session = open_session("openvino", artifact, runtime or RuntimeConfig())
    assert isinstance(session, OpenVinoSession)
    return session


def images(rows: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, 3, 16, 16)).astype(np.float32)


def test_the_engine_is_registered_with_its_formats_and_options() -> None:
    engine = ENGINES.get("openvino")()
    hw = detect_hardware()

    choices = engine.option_choices(hw)

    assert engine.unavailable() is None  # it runs on this (AMD) CPU, though not officially supported
    assert engine.formats == {"onnx", "openvino"} and set(engine.options) == {"hint", "streams", "precision"}
    assert choices["hint"] == ("latency", "throughput")
    assert choices["precision"] == (("f32", "bf16") if hw.bf16_native else ("f32",))
    assert engine.threads_used(RuntimeConfig(intra_op_threads=1)) == 1


def test_onnx_runs_with_the_signature_and_onnxruntime_outputs(cnn: Artifact) -> None:
    x = images(5)
    session = ov_session(cnn)

    out = session.run({"x": x})

    assert session.input_names == cnn.signature.input_names
    assert list(out) == session.output_names == cnn.signature.output_names
    assert out["logits"].shape == (5, 10) and out["logits"].dtype == np.float32
    expected = open_session("onnxruntime", cnn).run({"x": x})["logits"]
    np.testing.assert_allclose(out["logits"], expected, rtol=1e-4, atol=1e-5)  # f32: no silent bf16


def test_openvino_ir_opens_and_matches_the_onnx_it_came_from(cnn: Artifact, cnn_ir: Artifact) -> None:
    x = images(3)

    from_ir = ov_session(cnn_ir).run({"x": x})["logits"]

    assert cnn_ir.format == "openvino" and cnn_ir.model_path.name == "model.xml"
    np.testing.assert_allclose(from_ir, ov_session(cnn).run({"x": x})["logits"], rtol=1e-5, atol=1e-6)


def test_an_ir_declares_the_signature_of_the_onnx_it_came_from(tokens: Artifact, store: Store) -> None:
    from engine_helpers import commit_ir

    from lepton.ir.openvino_ir import read_model, signature_of

    sig = signature_of(read_model(commit_ir(store, tokens).model_path))

    assert [(t.name, t.dtype) for t in sig.inputs] == [("input_ids", "int64"), ("attention_mask", "int64")]
    assert [(t.name, t.dtype) for t in sig.outputs] == [("emb", "float32")]
    assert [len(t.shape) for t in sig.inputs] == [2, 2] and all(isinstance(d, str) for d in sig.inputs[0].shape)
    assert sig.outputs[0].shape[1] == 8


def test_symbolic_batch_and_sequence_run_at_any_size(tokens: Artifact) -> None:
    session = ov_session(tokens)
    rng = np.random.default_rng(0)

    for batch, length in [(1, 3), (5, 17), (2, 128), (7, 1)]:
        ids = rng.integers(0, 50, size=(batch, length)).astype(np.int64)
        mask = (rng.random((batch, length)) > 0.3).astype(np.int64)
        mask[:, 0] = 1
        out = session.run({"input_ids": ids, "attention_mask": mask})["emb"]
        np.testing.assert_allclose(out, token_reference(ids, mask), rtol=1e-5, atol=1e-6)


def test_threads_streams_and_hint_are_honoured_and_read_back(cnn: Artifact) -> None:
    one = ov_session(cnn, RuntimeConfig(intra_op_threads=1))
    two = ov_session(cnn, RuntimeConfig(intra_op_threads=2, options={"hint": "throughput", "streams": "2"}))

    assert one.settings["threads"] == 1 and one.settings["streams"] == 1 and one.settings["hint"] == "latency"
    assert two.settings["threads"] == 2 and two.settings["streams"] == 2 and two.settings["hint"] == "throughput"


def test_precision_is_explicit_and_what_was_used_is_recorded(cnn: Artifact) -> None:
    import openvino as ov

    default = ov_session(cnn)
    left_alone = ov.Core().compile_model(str(cnn.model_path), "CPU")  # what OpenVINO picks by itself

    assert default.settings["precision"] == "f32"
    assert default.settings["float_layers"] == 3 and default.settings["int8_layers"] == 0
    if detect_hardware().bf16_native:
        assert left_alone.get_property("INFERENCE_PRECISION_HINT").get_type_name() == "bf16"  # why it is explicit
        bf16 = ov_session(cnn, RuntimeConfig(options={"precision": "bf16"}))
        assert bf16.settings["precision"] == "bf16"
        x = images(4)
        a, b = bf16.run({"x": x})["logits"], default.run({"x": x})["logits"]
        assert not np.array_equal(a, b) and np.allclose(a, b, atol=0.1)
    else:
        with pytest.raises(EngineUnavailable, match="native bf16"):
            ov_session(cnn, RuntimeConfig(options={"precision": "bf16"}))


@pytest.mark.parametrize(
    ("feeds", "message"),
    [
        ({"x": images(2).astype(np.float64)}, "input 'x' takes float32; got float64"),
        ({"x": images(2)[0]}, r"input 'x' takes shape \?x3x16x16 \(\? is any size\); got 3x16x16"),
        ({"x": np.zeros((2, 3, 8, 8), np.float32)}, "got 2x3x8x8"),
        ({"image": images(2)}, "missing input 'x'; the model needs x"),
    ],
    ids=["dtype", "rank", "fixed-dim", "missing"],
)
def test_an_input_it_cannot_take_is_one_clear_error(cnn: Artifact, feeds: dict[str, np.ndarray], message: str) -> None:
    session = ov_session(cnn)

    with pytest.raises(EngineError, match=message):
        session.run(feeds)

    assert session.run({"x": images(1)})["logits"].shape == (1, 10)  # the session still works


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"hint": "fastest"}, "hint 'fastest' is not one of latency, throughput"),
        ({"streams": "many"}, "streams must be 'auto' or a positive integer"),
        ({"precision": "int4"}, "precision 'int4' is not one of f32, bf16"),
        ({"graph": "all"}, "unknown runtime option 'graph'"),
    ],
)
def test_bad_options_are_user_errors(cnn: Artifact, options: dict[str, str], message: str) -> None:
    with pytest.raises(UserError, match=message):
        ov_session(cnn, RuntimeConfig(options=options))


def test_models_it_cannot_read_are_engine_errors(store: Store, tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example")],
        "custom",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    m.ir_version = 8
    onnx.save(m, str(tmp_path / "custom.onnx"))
    art = commit(store, tmp_path / "custom.onnx")

    with pytest.raises(EngineError, match="OpenVINO cannot read .*Frobnicate"):
        ov_session(art)


def test_onnxruntime_refuses_openvino_ir_and_says_which_engine(cnn_ir: Artifact) -> None:
    why = ENGINES.get("onnxruntime")().unavailable(cnn_ir)

    assert why is not None and "openvino" in why and "model.xml" in why
    with pytest.raises(EngineUnavailable, match="use --engine openvino"):
        open_session("onnxruntime", cnn_ir)


def test_runtime_options_round_trip_through_json_and_old_json_still_loads() -> None:
    rc = RuntimeConfig(intra_op_threads=2, batch_size=8, options={"streams": 2, "hint": "throughput"})  # type: ignore[dict-item]  # an int is read as "2"

    assert rc.options == {"hint": "throughput", "streams": "2"}
    assert RuntimeConfig.from_json(rc.to_json()) == rc and hash(RuntimeConfig.from_json(rc.to_json())) == hash(rc)
    assert RuntimeConfig.from_json({"intra_op_threads": 1, "batch_size": 4}).options == {}
    with pytest.raises(UserError, match="runtime option"):
        RuntimeConfig(options={"streams": 1.5})  # type: ignore[dict-item]


def test_concurrent_callers_share_one_session_and_get_their_own_answers(cnn: Artifact) -> None:
    session = ov_session(cnn, RuntimeConfig(options={"hint": "throughput", "streams": "2"}))
    inputs = [images(4, seed=i) for i in range(8)]
    expected = [open_session("onnxruntime", cnn).run({"x": x})["logits"] for x in inputs]
    wrong: list[int] = []
    barrier = threading.Barrier(4)

    def caller(k: int) -> None:
        barrier.wait()
        for rep in range(25):
            i = (k + rep) % len(inputs)
            if not np.allclose(session.run({"x": inputs[i]})["logits"], expected[i], rtol=1e-4, atol=1e-5):
                wrong.append(i)

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = measure_concurrent(session.run, [{"x": x} for x in inputs], callers=3, requests=30)

    assert wrong == []
    assert session.pool_size >= 2  # calls ran on several infer requests, not one behind a lock
    assert stats.requests == 30 and stats.latency.n == 30


def test_closed_session_says_so(cnn: Artifact) -> None:
    session = ov_session(cnn)
    session.close()

    with pytest.raises(EngineError, match="closed"):
        session.run({"x": images(1)})


def test_a_trial_on_openvino_records_what_the_engine_used(cnn: Artifact) -> None:
    w = synthesize_workload(cnn, rows=16)
    reference = Reference(outputs=run_all(open_session("onnxruntime", cnn), w), description="ort fp32")
    runtime = RuntimeConfig(intra_op_threads=1, batch_size=4, options={"hint": "latency"})

    rec = measure_trial(
        "t1",
        TrialSpec("openvino", cnn, runtime),
        w,
        reference,
        PricePoint("test", 0.36, "test", "given"),
        plan=TimingPlan(warmup=1, min_runs=10, min_seconds=0.0),
    )

    assert rec.status == "ok" and rec.engine == "openvino" and rec.threads == 1
    assert rec.engine_settings["precision"] == "f32" and rec.engine_settings["threads"] == 1
    assert rec.runtime.options == {"hint": "latency"} and rec.to_json()["runtime"]["options"] == {"hint": "latency"}
    assert rec.quality.cosine == pytest.approx(1.0, abs=1e-6)
