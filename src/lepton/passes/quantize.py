"""Int8 quantization with ONNX Runtime's tools: dynamic (weights ahead of time) and static QDQ."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any, ClassVar, Literal

import onnx
from onnx import helper, numpy_helper
from pydantic import Field

from lepton.errors import PassError
from lepton.hardware import Hardware
from lepton.ir.artifact import MODEL_FILE, Artifact
from lepton.passes.base import (
    BUILD_MEMORY,
    PASSES,
    Fallback,
    Feeds,
    Pass,
    PassContext,
    Proposal,
    load_model,
    save_model,
)
from lepton.passes.calibration import HISTOGRAM_METHODS, calibrate_in_batches
from lepton.passes.opset import OpsetConversionError
from lepton.passes.params import PassParams

IntType = Literal["qint8", "quint8"]
# Measured on public CNNs on these machines (FACTS.md): dynamic int8 ran 0.13-0.5x of fp32 there.
_ON_CNNS = {
    "conv": "on CNNs dynamic int8 ran 0.13-0.5x of fp32 here (activations are quantized at run time on every "
    "call, and convolutions gain little from it)"
}
DYNAMIC_OPS = ("MatMul", "Gemm", "Attention", "Conv")
STATIC_OPS = ("MatMul", "Gemm", "Conv")
PER_CHANNEL_OPSET = 13  # DequantizeLinear's axis attribute (per-channel scales) arrived in opset 13


def quant_type(name: str) -> Any:
    from onnxruntime.quantization import QuantType

    return {"qint8": QuantType.QInt8, "quint8": QuantType.QUInt8}[name]


def quantizable_nodes(model: onnx.ModelProto, op_types: Sequence[str]) -> list[str]:
    """Names of nodes the quantizer would touch: the ops asked for, with a constant weight for MatMul/Gemm."""
    inits = {i.name for i in model.graph.initializer}
    consts = {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    names = []
    for n in model.graph.node:
        if n.op_type not in op_types:
            continue
        if n.op_type in ("MatMul", "Gemm") and not (len(n.input) > 1 and n.input[1] in inits | consts):
            continue
        names.append(n.name)
    return names


def gemm_to_matmul(model: onnx.ModelProto) -> int:
    """Rewrite plain Gemm nodes (constant B, alpha=beta=1, no transA) as MatMul + Add, which the dynamic
    quantizer handles (it has no integer Gemm). Returns how many were rewritten; node names are kept."""
    inits = {i.name: i for i in model.graph.initializer}
    new_nodes: list[onnx.NodeProto] = []
    rewritten = 0
    for n in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        plain = attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0 and not attrs.get("transA", 0)
        if n.op_type != "Gemm" or not plain or n.input[1] not in inits:
            new_nodes.append(n)
            continue
        b = inits[n.input[1]]
        if attrs.get("transB", 0):
            arr = numpy_helper.to_array(b).T.copy()
            b.CopyFrom(numpy_helper.from_array(arr, b.name))
        has_bias = len(n.input) > 2 and n.input[2]
        mm_out = n.output[0] + "_matmul" if has_bias else n.output[0]
        new_nodes.append(helper.make_node("MatMul", [n.input[0], n.input[1]], [mm_out], name=n.name))
        if has_bias:
            new_nodes.append(helper.make_node("Add", [mm_out, n.input[2]], [n.output[0]], name=n.name + "_bias"))
        rewritten += 1
    if rewritten:
        del model.graph.node[:]
        model.graph.node.extend(new_nodes)
    return rewritten


def constants_to_initializers(model: onnx.ModelProto) -> int:
    """Move ``Constant`` nodes holding a tensor into initializers (in place); returns how many moved.

    Some exporters (Paddle's) keep every weight in a Constant node; ONNX Runtime's quantizers only quantize
    weights that are initializers ("Expected conv2d_0.w_0 to be an initializer").
    """
    kept: list[onnx.NodeProto] = []
    moved = 0
    for n in model.graph.node:
        value = next((a.t for a in n.attribute if a.name == "value" and a.type == onnx.AttributeProto.TENSOR), None)
        if n.op_type != "Constant" or value is None or len(n.attribute) != 1:
            kept.append(n)
            continue
        tensor = onnx.TensorProto()
        tensor.CopyFrom(value)
        tensor.name = n.output[0]
        model.graph.initializer.append(tensor)
        moved += 1
    if moved:
        del model.graph.node[:]
        model.graph.node.extend(kept)
    return moved


def _check_quant(artifact: Artifact, op_types: Sequence[str]) -> str | None:
    model = onnx.load(str(artifact.model_path), load_external_data=False)
    if any(i.data_type == onnx.TensorProto.INT8 for i in model.graph.initializer) or any(
        n.op_type in ("MatMulInteger", "DynamicQuantizeLinear", "QuantizeLinear", "QAttention")
        for n in model.graph.node
    ):
        return "the model is already quantized"
    if not quantizable_nodes(model, op_types):
        return f"no {'/'.join(op_types)} with constant weights to quantize"
    return None


class DynamicParams(PassParams):
    weight_type: IntType = "qint8"
    per_channel: bool = True
    op_types: tuple[str, ...] = Field(DYNAMIC_OPS, min_length=1)
    nodes_to_exclude: tuple[str, ...] = ()  # node names kept in float
    reduce_range: bool = False


@PASSES.register("quantize-dynamic")
class DynamicInt8(Pass[DynamicParams]):
    """Quantize weights to int8 ahead of time; activations are quantized at run time (per batch).

    Signed per-channel weights are the default: per-tensor loses fidelity on transformers, and unsigned
    weights miss the VNNI kernels on x86 (FACTS.md). ``nodes_to_exclude`` keeps sensitive nodes in float
    (see ``lepton.passes.sensitivity``).
    """

    Params = DynamicParams
    family: ClassVar[str] = "quantize"
    build_memory: ClassVar[float | None] = BUILD_MEMORY["quantize-dynamic"]
    needs: ClassVar[frozenset[str]] = frozenset({"cpu"})
    proposals: ClassVar[tuple[Proposal, ...]] = (
        Proposal({"per_channel": True, "weight_type": "qint8"}, after=("graph", "model"), rank=10, unlikely=_ON_CNNS),
        Proposal({"per_channel": False, "weight_type": "qint8"}, after=("graph",), rank=30, unlikely=_ON_CNNS),
    )
    keeps_nodes_in_float: ClassVar[bool] = True
    batch_dependent: ClassVar[bool] = True  # activation scales come from the whole batch of each call

    def title(self) -> str:
        out = "int8 dynamic " + ("per-channel" if self.params.per_channel else "per-tensor")
        return out + (" uint8-weights" if self.params.weight_type == "quint8" else "")

    def check(self, artifact: Artifact, hw: Hardware) -> str | None:
        return super().check(artifact, hw) or _check_quant(artifact, self.params.op_types)

    def build(self, artifact: Artifact, ctx: PassContext, work: Path) -> None:
        from onnxruntime.quantization import quantize_dynamic

        p = self.params
        model = load_model(artifact)
        constants_to_initializers(model)
        if "Gemm" in p.op_types:
            gemm_to_matmul(model)
        with _quiet():
            quantize_dynamic(
                model,
                work / MODEL_FILE,
                op_types_to_quantize=[t for t in p.op_types if t != "Gemm"],
                per_channel=p.per_channel,
                reduce_range=p.reduce_range,
                weight_type=quant_type(p.weight_type),
                nodes_to_exclude=list(p.nodes_to_exclude),
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},  # needed on fused graphs (FACTS.md)
            )


class _Reader:
    """A CalibrationDataReader over a list of feed dicts (only the model's inputs are passed)."""

    def __init__(self, feeds: list[Feeds], names: Sequence[str]) -> None:
        self._it: Iterator[Feeds] = iter([{n: f[n] for n in names} for f in feeds])

    def get_next(self) -> Feeds | None:
        return next(self._it, None)


class StaticParams(PassParams):
    calibrate_method: Literal["minmax", "entropy", "percentile"] = "minmax"
    per_channel: bool = True
    activation_type: IntType = "quint8"
    weight_type: IntType = "qint8"
    op_types: tuple[str, ...] = Field(STATIC_OPS, min_length=1)
    nodes_to_exclude: tuple[str, ...] = ()  # node names kept in float
    percentile: float = Field(99.999, gt=0, le=100)
    symmetric_activations: bool = False
    preprocess: bool = True
    max_batches: int = Field(16, ge=1)


@PASSES.register("quantize-static")
class StaticInt8(Pass[StaticParams]):
    """Static int8 in QDQ format: activation ranges calibrated ahead of time on real (or synthesized) feeds.

    ``calibrate_method``: minmax, entropy or percentile. ``nodes_to_exclude`` keeps sensitive nodes in float.
    """

    Params = StaticParams
    family: ClassVar[str] = "quantize"
    calibrates: ClassVar[bool] = True
    build_memory: ClassVar[float | None] = BUILD_MEMORY["quantize-static"]
    needs: ClassVar[frozenset[str]] = frozenset({"cpu"})
    # after fusion the histogram calibrators fail on the fused ops, so static QDQ goes on the model as it is
    proposals: ClassVar[tuple[Proposal, ...]] = (
        Proposal({"calibrate_method": "percentile", "per_channel": True}, after=("model",), rank=20),
    )
    keeps_nodes_in_float: ClassVar[bool] = True

    def cache_params(self, artifact: Artifact, ctx: PassContext) -> dict[str, Any]:
        return {**self.params.to_json(), "calibration": ctx.calibration_key()}

    def min_opset(self, artifact: Artifact) -> int:
        return PER_CHANNEL_OPSET if self.params.per_channel else 0

    def fallback(self, error: PassError) -> Fallback | None:
        """When per-channel needs an opset conversion that fails, quantize per-tensor (the lineage says why)."""
        if not isinstance(error, OpsetConversionError) or not self.params.per_channel:
            return None
        stand_in = StaticInt8(**{**self.params.model_dump(), "per_channel": False})
        return Fallback(stand_in, f"per-tensor: per-channel needs opset {PER_CHANNEL_OPSET} and {error}"[:300])

    def title(self) -> str:
        return f"int8 static QDQ {self.params.calibrate_method}" + (" per-channel" if self.params.per_channel else "")

    def check(self, artifact: Artifact, hw: Hardware) -> str | None:
        return super().check(artifact, hw) or _check_quant(artifact, self.params.op_types)

    def build(self, artifact: Artifact, ctx: PassContext, work: Path) -> None:
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process

        p = self.params
        src: Path = artifact.model_path
        model = load_model(artifact)
        fused = any(n.domain == "com.microsoft" for n in model.graph.node)
        if constants_to_initializers(model):
            src = work / "lifted.onnx"
            save_model(model, work, src.name)
        if p.preprocess and not fused:
            pre = work / "pre.onnx"
            # symbolic shape inference fails on exported encoders ("Incomplete symbolic shape inference")
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
            src = pre
        feeds = ctx.feeds(artifact)[: p.max_batches]
        method = {
            "minmax": CalibrationMethod.MinMax,
            "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile,
        }[p.calibrate_method]
        extra: dict[str, Any] = {
            "DefaultTensorType": onnx.TensorProto.FLOAT,
            "ActivationSymmetric": p.symmetric_activations,
        }
        if p.calibrate_method == "percentile":
            extra["CalibPercentile"] = p.percentile

        cache: Path | None = None
        if p.calibrate_method in HISTOGRAM_METHODS:  # ORT's own would hold every batch's activations at once
            with _quiet():
                cache = calibrate_in_batches(
                    src,
                    lambda: iter(feeds),
                    method=p.calibrate_method,
                    op_types=p.op_types,
                    options=extra,
                    cache=work / "calibration.json",
                )

        def run(options: dict[str, Any]) -> None:
            with _quiet():
                quantize_static(
                    str(src),
                    str(work / MODEL_FILE),
                    None if cache else _Reader(feeds, artifact.signature.input_names),
                    quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=list(p.op_types),
                    per_channel=p.per_channel,
                    activation_type=quant_type(p.activation_type),
                    weight_type=quant_type(p.weight_type),
                    nodes_to_exclude=list(p.nodes_to_exclude),
                    calibrate_method=method,
                    extra_options=options,
                    calibration_cache_path=cache,
                )

        try:
            run(extra)
        except ValueError as e:
            # onnxruntime 1.32's per-channel int32-bias scale check fails on biases that are not 1-D
            # (a [1, N] bias after MatMul, as tf2onnx writes it): run again without that adjustment
            if "truth value of an array" not in str(e):
                raise
            run({**extra, "QDQDisableWeightAdjustForInt32Bias": True})
        for scratch in ("lifted.onnx", "pre.onnx", "calibration.json"):
            (work / scratch).unlink(missing_ok=True)
        for leftover in work.glob("augmented_model*.onnx"):
            leftover.unlink()


@contextmanager
def _quiet() -> Iterator[None]:
    """The quantizer logs a pre-processing hint on the root logger at WARNING on every call, the calibrators
    print progress to stdout, and their own ONNX Runtime sessions log a warning on every run of a model whose
    declared output shape is wrong (ddddocr's OCR model: thousands of lines): noise for Lepton's callers.
    ONNX Runtime has no getter for its default severity, so it goes back to its default (warning)."""
    import onnxruntime as ort

    root = logging.getLogger()
    old = root.level
    root.setLevel(max(old, logging.ERROR))
    ort.set_default_logger_severity(3)
    try:
        with redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(old)
        ort.set_default_logger_severity(2)
