"""Reduced float precision: fp16 and bf16 weights and compute, inputs and outputs kept in float32."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import onnx
from onnx import numpy_helper

from lepton.hardware import Hardware
from lepton.ir.artifact import Artifact
from lepton.passes.base import PASSES, Pass, PassContext, Proposal, load_model, save_model
from lepton.passes.params import PassParams


def _float_weights(artifact: Artifact) -> bool:
    model = onnx.load(str(artifact.model_path), load_external_data=False)
    return any(i.data_type == onnx.TensorProto.FLOAT for i in model.graph.initializer)


def to_float16(model: onnx.ModelProto, op_block_list: Sequence[str] = ()) -> onnx.ModelProto:
    """ONNX Runtime's float16 converter (the onnxconverter-common one), with float32 inputs and outputs."""
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    blocked = list(DEFAULT_OP_BLOCK_LIST) + list(op_block_list)
    out = convert_float_to_float16(model, keep_io_types=True, op_block_list=blocked, disable_shape_infer=False)
    OnnxModel(out).topological_sort()  # the converter appends the input casts at the end
    return out  # type: ignore[no-any-return]


class FloatParams(PassParams):
    op_block_list: tuple[str, ...] = ()  # op types kept in float32, besides ORT's default block list


@PASSES.register("fp16")
class Float16(Pass[FloatParams]):
    """Convert weights and compute to float16 (inputs/outputs stay float32).

    Pays off on GPUs and on CPUs with native fp16 math (AVX512-FP16, AMX-FP16); elsewhere every op is
    emulated through casts and runs slower, so ``check`` refuses.
    """

    Params = FloatParams
    family: ClassVar[str] = "precision"
    needs: ClassVar[frozenset[str]] = frozenset({"fp16"})
    proposals: ClassVar[tuple[Proposal, ...]] = (Proposal(after=("graph",), rank=50),)

    def check(self, artifact: Artifact, hw: Hardware) -> str | None:
        if wrong_format := self.format_check(artifact):
            return wrong_format
        if not hw.has_gpu and not hw.fp16_native:
            return "no native fp16 on this CPU (avx512_fp16/amx_fp16 absent) and no GPU: fp16 would run slower"
        if not _float_weights(artifact):
            return "the model has no float32 weights to convert"
        return None

    def build(self, artifact: Artifact, ctx: PassContext, work: Path) -> None:
        save_model(to_float16(load_model(artifact), self.params.op_block_list), work)


def _bf16_bits(arr: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), rounding to nearest even."""
    bits = np.ascontiguousarray(arr, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def fp16_to_bf16(fp16: onnx.ModelProto, original: onnx.ModelProto) -> onnx.ModelProto:
    """Retype a float16-converted model as bfloat16, taking weights from the float32 original (no fp16
    clipping or rounding on the way)."""
    f16, bf16 = onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16
    source = {i.name: i for i in original.graph.initializer}
    for init in fp16.graph.initializer:
        if init.data_type != f16:
            continue
        base = numpy_helper.to_array(source[init.name]) if init.name in source else numpy_helper.to_array(init)
        bits = _bf16_bits(base.astype(np.float32))
        init.CopyFrom(onnx.helper.make_tensor(init.name, bf16, list(init.dims), bits.tobytes(), raw=True))
    for node in fp16.graph.node:
        for a in node.attribute:
            if node.op_type == "Cast" and a.name == "to" and a.i == f16:
                a.i = bf16
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == f16:
                arr = numpy_helper.to_array(a.t).astype(np.float32)
                a.t.CopyFrom(
                    onnx.helper.make_tensor(a.t.name, bf16, list(a.t.dims), _bf16_bits(arr).tobytes(), raw=True)
                )
    for vi in list(fp16.graph.value_info) + list(fp16.graph.input) + list(fp16.graph.output):
        if vi.type.tensor_type.elem_type == f16:
            vi.type.tensor_type.elem_type = bf16
    return fp16


@PASSES.register("bf16")
class BFloat16(Pass[FloatParams]):
    """Convert weights and compute to bfloat16 (inputs/outputs stay float32): float32's range, half the bytes.

    Only where ONNX Runtime has bf16 kernels: the CUDA provider. Its CPU provider has none for MatMul/Gemm
    on x86 even where the CPU has AVX512-BF16, so ``check`` refuses on CPU-only machines.
    """

    Params = FloatParams
    family: ClassVar[str] = "precision"
    needs: ClassVar[frozenset[str]] = frozenset({"gpu", "bf16"})
    proposals: ClassVar[tuple[Proposal, ...]] = (Proposal(after=("graph",), rank=51),)

    def check(self, artifact: Artifact, hw: Hardware) -> str | None:
        if wrong_format := self.format_check(artifact):
            return wrong_format
        if not hw.has_gpu:
            native = f" (this CPU has {hw.bf16_native}, but" if hw.bf16_native else " ("
            return (
                f"ONNX Runtime has bf16 kernels only on GPU (CUDA){native} its CPU provider has no bf16 "
                "MatMul/Gemm on x86) and this machine has no GPU"
            )
        if not _float_weights(artifact):
            return "the model has no float32 weights to convert"
        return None

    def build(self, artifact: Artifact, ctx: PassContext, work: Path) -> None:
        original = load_model(artifact)
        fp16 = to_float16(load_model(artifact), self.params.op_block_list)
        save_model(fp16_to_bf16(fp16, original), work)
