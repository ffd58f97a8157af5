"""Int8 for OpenVINO with NNCF: post-training quantization, and quantization under an accuracy bound.

Both read ONNX (or OpenVINO IR) and write OpenVINO IR (``model.xml`` + ``model.bin``), which only the
``openvino`` engine opens. Calibration uses the run's own data (``PassContext.feeds``). Transformers get
NNCF's transformer preset with SmoothQuant on MatMuls; other models (CNNs, MLPs) the default preset.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
from pydantic import Field

from lepton.errors import NotApplicable, PassError
from lepton.hardware import Hardware
from lepton.ir.artifact import MODEL_FILES, Artifact
from lepton.ir.openvino_ir import port_name, read_model
from lepton.passes.base import BUILD_MEMORY, PASSES, Feeds, Pass, PassContext, Proposal
from lepton.passes.params import PassParams

QUANTIZABLE_OV = frozenset({"MatMul", "Convolution", "GroupConvolution", "ConvolutionBackpropData"})
QUANTIZABLE_ONNX = frozenset({"MatMul", "Gemm", "Conv", "ConvTranspose"})
QUANTIZED_ONNX = frozenset(
    {"QuantizeLinear", "DequantizeLinear", "MatMulInteger", "ConvInteger", "DynamicQuantizeLinear", "QLinearConv"}
    | {"QLinearMatMul", "QAttention", "MatMulNBits"}
)


def _nncf() -> Any:
    """NNCF, imported with its usage telemetry off."""
    from lepton.settings import no_telemetry

    no_telemetry()
    import nncf

    return nncf


@contextmanager
def _quiet() -> Iterator[None]:
    """NNCF logs INFO/WARNING lines on its own stdout handler and draws progress bars: noise for callers."""
    from nncf.common.logging import nncf_logger

    old = nncf_logger.level
    nncf_logger.setLevel(logging.ERROR)
    try:
        with redirect_stdout(io.StringIO()):
            yield
    finally:
        nncf_logger.setLevel(old)


def op_types(artifact: Artifact) -> set[str]:
    """The operator types in the graph (ONNX op types, or OpenVINO op type names for IR)."""
    if artifact.format == "onnx":
        import onnx

        model = onnx.load(str(artifact.model_path), load_external_data=False)
        return {n.op_type for n in model.graph.node}
    return {op.get_type_name() for op in read_model(artifact.model_path).get_ops()}


def looks_like_transformer(ov_model: Any) -> bool:
    """Softmax and MatMul plus a layer norm (OpenVINO MVN, or a decomposed ReduceMean): an encoder."""
    ops = {op.get_type_name() for op in ov_model.get_ops()}
    return "MatMul" in ops and "Softmax" in ops and bool(ops & {"MVN", "ReduceMean"})


def int8_layer_count(ov_model: Any) -> int:
    """How many FakeQuantize nodes (int8 quantization points) an OpenVINO model holds."""
    return sum(1 for op in ov_model.get_ops() if op.get_type_name() == "FakeQuantize")


class NncfParams(PassParams):
    """The params of NNCF post-training int8 (the accuracy-controlled twin extends them)."""

    model_type: Literal["auto", "transformer", "default"] = "auto"
    preset: Literal["auto", "performance", "mixed"] = "auto"
    smooth_quant_alpha: float = Field(0.95, le=1, description="SmoothQuant on MatMuls, in [0, 1]; negative: off")
    subset_size: int = Field(300, ge=1, description="the calibration batches used at most")
    fast_bias_correction: bool = True
    ignored_nodes: tuple[str, ...] = ()  # OpenVINO op names kept in float


class NncfAccuracyParams(NncfParams):
    """NNCF int8 params plus the quality bound: ``max_drop`` of ``drop_type``, at most ``max_iterations``."""

    max_drop: float = Field(0.01, ge=0, lt=1)
    drop_type: Literal["absolute", "relative"] = "absolute"
    max_iterations: int = Field(0, ge=0, description="how many layers may be reverted to float; 0: no limit")


NP = TypeVar("NP", bound=NncfParams)


class _NncfInt8(Pass[NP]):
    """Shared checks and steps of the NNCF passes (not registered itself)."""

    family: ClassVar[str] = "quantize"
    needs: ClassVar[frozenset[str]] = frozenset({"cpu"})
    accepts: ClassVar[frozenset[str]] = frozenset({"onnx", "openvino"})
    produces: ClassVar[str] = "openvino"
    calibrates: ClassVar[bool] = True
    build_memory: ClassVar[float | None] = BUILD_MEMORY["nncf"]

    def cache_params(self, artifact: Artifact, ctx: PassContext) -> dict[str, Any]:
        return {**self.params.to_json(), "calibration": ctx.calibration_key()}

    def check(self, artifact: Artifact, hw: Hardware) -> str | None:
        why = super().check(artifact, hw)
        if why:
            return why
        for pkg in ("openvino", "nncf"):
            if importlib.util.find_spec(pkg) is None:
                return f"the {pkg} package is not installed; pip install openvino==2026.4.1 nncf==3.4.0"
        ops = op_types(artifact)
        if ops & QUANTIZED_ONNX or "FakeQuantize" in ops:
            return "the model is already quantized"
        if not ops & (QUANTIZABLE_ONNX if artifact.format == "onnx" else QUANTIZABLE_OV):
            return "no MatMul/Gemm/Conv to quantize"
        return None

    def _model_and_data(self, artifact: Artifact, ctx: PassContext) -> tuple[Any, list[Feeds]]:
        model = read_model(artifact.model_path, PassError)
        names = artifact.signature.input_names
        return model, [{n: f[n] for n in names} for f in ctx.feeds(artifact)]

    def _options(self, model: Any, n_items: int) -> tuple[dict[str, Any], Any]:
        """The keyword arguments NNCF's quantize functions share, and the advanced quantization parameters."""
        nncf = _nncf()
        from nncf.quantization.advanced_parameters import (
            AdvancedQuantizationParameters,
            AdvancedSmoothQuantParameters,
        )

        p = self.params
        transformer = p.model_type == "transformer" or (p.model_type == "auto" and looks_like_transformer(model))
        alphas = AdvancedSmoothQuantParameters(matmul=p.smooth_quant_alpha)
        return {
            "preset": None if p.preset == "auto" else nncf.QuantizationPreset(p.preset),
            "model_type": nncf.ModelType.TRANSFORMER if transformer else None,
            "subset_size": min(p.subset_size, n_items),
            "fast_bias_correction": p.fast_bias_correction,
            "ignored_scope": nncf.IgnoredScope(names=list(p.ignored_nodes)) if p.ignored_nodes else None,
        }, AdvancedQuantizationParameters(smooth_quant_alphas=alphas)

    def _save(self, model: Any, artifact: Artifact, work: Path) -> None:
        import openvino as ov

        if not int8_layer_count(model):
            raise NotApplicable(f"{self.name}: the result has no int8 layer left (every one stayed float)")
        wanted = artifact.signature
        got_in = [port_name(p, wanted.input_names) for p in model.inputs]
        got_out = [port_name(p, wanted.output_names) for p in model.outputs]
        if sorted(got_in) != sorted(wanted.input_names) or sorted(got_out) != sorted(wanted.output_names):
            raise PassError(f"{self.name}: the quantized model's inputs/outputs ({got_in} -> {got_out}) lost names")
        # float weights stay float32: OpenVINO would halve them to fp16 by default, changing the outputs
        ov.save_model(model, str(work / MODEL_FILES["openvino"]), compress_to_fp16=False)


@PASSES.register("quantize-nncf")
class NncfInt8(_NncfInt8[NncfParams]):
    """Post-training int8 with NNCF for OpenVINO, calibrated on the run's data; writes OpenVINO IR.

    ``model_type`` "auto" picks NNCF's transformer preset (with SmoothQuant at ``smooth_quant_alpha`` on
    MatMuls) for encoders and the default preset for CNNs/MLPs. ``subset_size`` caps the calibration batches
    used (NNCF counts each batch as one sample). ``ignored_nodes`` (OpenVINO op names) stay float.
    """

    Params = NncfParams
    proposals: ClassVar[tuple[Proposal, ...]] = (Proposal(after=("model",), rank=12),)
    recovered_by: ClassVar[str | None] = "quantize-nncf-accuracy"

    def title(self) -> str:
        return "int8 NNCF"

    def build(self, artifact: Artifact, ctx: PassContext, work: Path) -> None:
        nncf = _nncf()
        model, feeds = self._model_and_data(artifact, ctx)
        options, advanced = self._options(model, len(feeds))
        with _quiet():
            quantized = nncf.quantize(model, nncf.Dataset(feeds), advanced_parameters=advanced, **options)
        self._save(quantized, artifact, work)


class FidelityMetric:
    """NNCF's validation function: quality of a compiled model on indexed batches, higher is better.

    With labels: the task metric (accuracy; an error metric such as RMSE is negated). Without: the mean
    cosine of each row's first float output to the float model's (compiled in f32 once, up front).
    Returns (metric over all rows, one value per batch) so NNCF can rank layers per batch.
    """

    def __init__(self, model: Any, feeds: list[Feeds], task: str, labels: list[np.ndarray] | None) -> None:
        from lepton.ir.openvino_ir import ov_core

        compiled = ov_core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        floats = [i for i, p in enumerate(compiled.outputs) if np.dtype(p.get_element_type().to_dtype()).kind == "f"]
        self.output = floats[0] if floats else 0
        self.task = task
        self.labels = labels
        self.reference = None if labels is not None else [compiled(f)[self.output] for f in feeds]

    def _one(self, i: int, out: np.ndarray) -> tuple[float, int]:
        from lepton.quality import fidelity, primary_metric, task_metrics

        if self.labels is not None:
            name, value, higher = primary_metric(self.task, task_metrics(self.task, self.labels[i], {"out": out}))
            return (value if higher else -value), len(out)
        assert self.reference is not None
        return fidelity(self.reference[i], out)["cosine"], len(out)

    def __call__(self, compiled: Any, items: Sequence[tuple[int, Feeds]]) -> tuple[float, list[float]]:
        values, rows = [], []
        for i, feeds in items:
            value, n = self._one(i, np.asarray(compiled(feeds)[self.output]))
            values.append(value)
            rows.append(n)
        return float(np.average(values, weights=rows)), values


@PASSES.register("quantize-nncf-accuracy")
class NncfInt8AccuracyControl(_NncfInt8[NncfAccuracyParams]):
    """Int8 with NNCF under a quality bound: layers that cost the most quality return to float until the drop
    is at most ``max_drop`` (``drop_type`` absolute or relative) on the run's data; writes OpenVINO IR.

    Quality is task accuracy when the context has labels for its calibration batches, else the mean cosine to
    the float model's outputs (fidelity). ``max_iterations`` bounds how many layers may be reverted.
    """

    Params = NncfAccuracyParams

    def cache_params(self, artifact: Artifact, ctx: PassContext) -> dict[str, Any]:
        out = super().cache_params(artifact, ctx)
        labels = ctx.labels_for(artifact)
        if labels is not None:
            h = hashlib.sha256()
            for arr in labels:
                h.update(np.ascontiguousarray(arr).tobytes())
            out["labels"] = h.hexdigest()[:12]
        return out

    def title(self) -> str:
        return f"int8 NNCF accuracy-controlled (max drop {self.params.max_drop:g})"

    def build(self, artifact: Artifact, ctx: PassContext, work: Path) -> None:
        nncf = _nncf()
        from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

        model, feeds = self._model_and_data(artifact, ctx)
        options, advanced = self._options(model, len(feeds))
        labels = ctx.labels_for(artifact)
        metric = FidelityMetric(model, feeds, artifact.task, labels)
        items = list(enumerate(feeds))
        restorer = AdvancedAccuracyRestorerParameters()
        if self.params.max_iterations:
            restorer.max_num_iterations = self.params.max_iterations
        with _quiet():
            quantized = nncf.quantize_with_accuracy_control(
                model,
                nncf.Dataset(items, lambda item: item[1]),
                nncf.Dataset(items),
                metric,
                max_drop=self.params.max_drop,
                drop_type=nncf.DropType(self.params.drop_type),
                advanced_quantization_parameters=advanced,
                advanced_accuracy_restorer_parameters=restorer,
                **options,
            )
        self._save(quantized, artifact, work)
