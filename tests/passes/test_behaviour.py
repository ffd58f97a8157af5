"""What each family really does, on the digits MLP and the small CNN."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from pass_helpers import commit, fake_hardware, run

from lepton.errors import NotApplicable, PassError
from lepton.ir.artifact import Artifact
from lepton.passes import PassContext, apply_chain, apply_pass, create
from lepton.passes.prune import sparsity_of
from lepton.passes.quantize import DynamicInt8
from lepton.store import Store


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((a.argmax(1) == b.argmax(1)).mean())


def test_dynamic_int8_makes_a_weight_dominated_mlp_over_2x_smaller_and_keeps_predictions(
    mlp: Artifact, digits: tuple[np.ndarray, np.ndarray], ctx_for: Callable[..., PassContext]
) -> None:
    x, _ = digits
    q = apply_pass(mlp, create("quantize-dynamic"), ctx_for())
    ops = {n.op_type for n in onnx.load(str(q.model_path)).graph.node}
    assert "MatMulInteger" in ops and "Gemm" not in ops  # the Gemm nodes were rewritten and quantized
    assert (mlp.path / "model.onnx").stat().st_size > 2 * (q.path / "model.onnx").stat().st_size
    assert agreement(run(mlp, {"x": x}), run(q, {"x": x})) > 0.97


@pytest.mark.parametrize("method", ["minmax", "entropy", "percentile"])
def test_static_qdq_runs_with_each_calibration_method(
    method: str,
    mlp: Artifact,
    digits: tuple[np.ndarray, np.ndarray],
    digits_feeds: list[dict[str, np.ndarray]],
    ctx_for: Callable[..., PassContext],
) -> None:
    x, _ = digits
    q = apply_pass(mlp, create("quantize-static", calibrate_method=method), ctx_for(calibration=digits_feeds))
    graph = onnx.load(str(q.model_path)).graph
    assert sum(n.op_type == "QuantizeLinear" for n in graph.node) >= 3
    assert q.lineage.pass_params["calibration"] != "synthetic-0"  # the real feeds are part of the cache key
    assert agreement(run(mlp, {"x": x}), run(q, {"x": x})) > 0.9


def test_static_qdq_keeps_excluded_nodes_in_float(
    mlp: Artifact, digits_feeds: list[dict[str, np.ndarray]], ctx_for: Callable[..., PassContext]
) -> None:
    q = apply_pass(mlp, create("quantize-static", nodes_to_exclude=["fc2"]), ctx_for(calibration=digits_feeds))
    graph = onnx.load(str(q.model_path)).graph
    fc2 = next(n for n in graph.node if n.name == "fc2")
    producers = {o: n.op_type for n in graph.node for o in n.output}
    assert producers.get(fc2.input[0]) != "DequantizeLinear"


def test_magnitude_pruning_zeroes_the_requested_fraction(mlp: Artifact, ctx_for: Callable[..., PassContext]) -> None:
    pruned = apply_pass(mlp, create("prune-magnitude", sparsity=0.6), ctx_for())
    assert sparsity_of(onnx.load(str(pruned.model_path))) == pytest.approx(0.6, abs=0.002)
    assert sparsity_of(onnx.load(str(mlp.model_path))) < 0.01
    assert pruned.lineage.pass_params["finetuned"] is False


def test_magnitude_pruning_fine_tunes_a_torch_source(
    store: Store, tmp_path: Path, digits: tuple[np.ndarray, np.ndarray], ctx_for: Callable[..., PassContext]
) -> None:
    import torch

    x, y = digits
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)).eval()
    path = tmp_path / "net.onnx"
    torch.onnx.export(
        net,
        (torch.from_numpy(x[:2]),),
        str(path),
        dynamo=False,
        input_names=["x"],
        output_names=["logits"],
        dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
    )
    art = commit(store, path, torch_module=net)
    feeds = [{"x": x[i : i + 64]} for i in range(0, 640, 64)]
    targets = [y[i : i + 64] for i in range(0, 640, 64)]
    ctx = ctx_for(train_feeds=feeds, train_targets=targets)
    tuned = apply_pass(art, create("prune-magnitude", sparsity=0.5, finetune_steps=5), ctx)
    assert tuned.lineage.pass_params["finetuned"] is True
    assert sparsity_of(onnx.load(str(tuned.model_path))) == pytest.approx(0.5, abs=0.01)  # masks held
    assert run(tuned, {"x": x[:8]}).shape == (8, 10)


def test_structured_pruning_really_shrinks_mlp_channels(
    mlp: Artifact, digits: tuple[np.ndarray, np.ndarray], ctx_for: Callable[..., PassContext]
) -> None:
    x, _ = digits
    pruned = apply_pass(mlp, create("prune-structured", sparsity=0.25), ctx_for())
    dims = {i.name: list(i.dims) for i in onnx.load(str(pruned.model_path)).graph.initializer}
    assert dims["w0"] == [64, 192] and dims["b0"] == [192] and dims["w1"] == [192, 96] and dims["w2"] == [96, 10]
    assert pruned.size_mb < 0.8 * mlp.size_mb
    assert agreement(run(mlp, {"x": x}), run(pruned, {"x": x})) > 0.8


def test_structured_pruning_shrinks_conv_filters_through_batchnorm(
    cnn: Artifact, ctx_for: Callable[..., PassContext]
) -> None:
    pruned = apply_pass(cnn, create("prune-structured", sparsity=0.5), ctx_for())
    dims = {i.name: list(i.dims) for i in onnx.load(str(pruned.model_path)).graph.initializer}
    assert dims["c1w"] == [4, 1, 3, 3] and dims["bn_v"] == [4] and dims["c2w"] == [16, 4, 3, 3]
    assert run(pruned, {"x": np.ones((2, 1, 8, 8), np.float32)}).shape == (2, 10)


def test_structured_pruning_says_why_when_no_chain_can_shrink(
    store: Store, tmp_path: Path, ctx_for: Callable[..., PassContext]
) -> None:
    w = numpy_helper.from_array(np.ones((4, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        "one",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        [w],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "one.onnx"))
    art = commit(store, tmp_path / "one.onnx")
    with pytest.raises(NotApplicable, match="no channel chain"):
        apply_pass(art, create("prune-structured"), ctx_for())


def test_fp16_is_refused_without_native_fp16_or_gpu(mlp: Artifact) -> None:
    plain = fake_hardware(flags=("avx2", "avx512f", "avx512_vnni"))
    why = create("fp16").check(mlp, plain)
    assert why is not None and "no native fp16" in why and "avx512_fp16" in why
    assert create("fp16").check(mlp, fake_hardware(flags=("avx512_fp16",))) is None
    assert create("fp16").check(mlp, fake_hardware(gpus=("NVIDIA H100",))) is None


def test_bf16_is_refused_on_cpu_and_builds_bf16_weights_for_a_gpu(
    mlp: Artifact, ctx_for: Callable[..., PassContext]
) -> None:
    why = create("bf16").check(mlp, fake_hardware(flags=("avx512_bf16",)))
    assert why is not None and "GPU" in why and "avx512_bf16" in why
    art = apply_pass(mlp, create("bf16"), ctx_for(hardware=fake_hardware(gpus=("NVIDIA H100",))))
    model = onnx.load(str(art.model_path))
    assert {i.data_type for i in model.graph.initializer if i.name.startswith("w")} == {TensorProto.BFLOAT16}
    assert model.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT  # io kept in float32


def test_quantize_says_why_when_there_is_nothing_to_quantize(
    store: Store, tmp_path: Path, ctx_for: Callable[..., PassContext]
) -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "relu.onnx"))
    art = commit(store, tmp_path / "relu.onnx")
    assert "no MatMul" in (create("quantize-dynamic").check(art, ctx_for().hardware) or "")
    with pytest.raises(NotApplicable, match="quantize-dynamic: no MatMul"):
        apply_pass(art, create("quantize-dynamic"), ctx_for())


def test_a_pass_crashing_on_an_exotic_graph_raises_pass_error(
    store: Store, tmp_path: Path, ctx_for: Callable[..., PassContext]
) -> None:
    node = helper.make_node("FancyOp", ["x"], ["y"], domain="org.example.custom")
    graph = helper.make_graph(
        [node],
        "exotic",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("org.example.custom", 1)]
    )
    onnx.save(model, str(tmp_path / "exotic.onnx"))
    art = commit(store, tmp_path / "exotic.onnx")
    with pytest.raises(PassError, match="optimize-graph failed.*FancyOp") as info:
        apply_pass(art, create("optimize-graph"), ctx_for())
    assert info.value.__cause__ is not None
    assert list(store.tmp_dir.iterdir()) == []  # nothing half-built left behind


def test_second_apply_chain_reuses_every_step(
    mlp: Artifact, ctx_for: Callable[..., PassContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    original = DynamicInt8.build

    def counting(self: DynamicInt8, *args: object) -> None:
        calls.append(self.name)
        original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(DynamicInt8, "build", counting)
    chain = [create("prune-magnitude", sparsity=0.3), create("quantize-dynamic")]
    first = apply_chain(mlp, chain, ctx_for())
    mtime = first.path.stat().st_mtime_ns
    second = apply_chain(mlp, [create("prune-magnitude", sparsity=0.3), create("quantize-dynamic")], ctx_for())
    assert second.id == first.id and calls == ["quantize-dynamic"]
    assert first.path.stat().st_mtime_ns == mtime
    assert second.lineage.pass_name == "quantize-dynamic"
    other = apply_chain(
        mlp,
        [create("prune-magnitude", sparsity=0.3), create("quantize-dynamic", per_channel=False)],
        ctx_for(),
    )
    assert other.id != first.id and calls == ["quantize-dynamic", "quantize-dynamic"]


def test_static_int8_is_quiet_on_a_model_that_declares_its_output_shape_wrong(
    store: Store, ctx_for: Callable[..., PassContext], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Public models declare output shapes they do not produce (ddddocr's OCR: [1, seqlen] for [seq, 1, 8210]);
    ONNX Runtime's calibration sessions then log a warning on every run, thousands of lines on a user's terminal."""
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        "wrong_shape",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "n"])],  # really [batch, 4]
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "wrong.onnx"))
    art = commit(store, tmp_path / "wrong.onnx")
    feeds = [{"x": np.random.default_rng(i).standard_normal((8, 4)).astype(np.float32)} for i in range(4)]
    capfd.readouterr()

    q = apply_pass(art, create("quantize-static"), ctx_for(calibration=feeds))

    assert q.lineage.parent == art.id
    assert "VerifyOutputSizes" not in capfd.readouterr().err
