"""Causal-LM variants for OpenVINO GenAI: the GGUF read by OpenVINO GenAI, then NNCF weight compression.

``openvino-gguf`` hands a GGUF to OpenVINO GenAI's own reader, which builds a stateful IR (KV cache inside) with
the tokenizer and detokenizer, and saves them (``enable_save_ov_model``): an ``openvino-genai`` folder. Its
``weights`` say which GGUF: ``source`` is the shipped file as it is (its own 4-bit blocks), ``f16`` a GGUF Lepton
writes from the dequantized weights (the float IR that weight compression starts from; it reproduces the
reference's greedy tokens), ``q8_0`` one requantized to 8-bit blocks. (Converting the transformers model to a
stateful IR needs optimum-intel, which conflicts with the pinned transformers: this is the route that works.)

``openvino-compress`` is NNCF ``compress_weights`` on such an IR: int8 or int4 (group size, ratio of layers at
int4, backup precision of the rest).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from lepton.errors import PassError
from lepton.hardware import Hardware
from lepton.ir.artifact import Artifact
from lepton.ir.causal_lm import openvino_gguf_refusal
from lepton.ir.source import CausalLmSource
from lepton.passes.base import PASSES, Pass, PassContext, guarded
from lepton.passes.params import PassParams

IR = "openvino_model.xml"
_FILE_TYPES = {"f16": 1, "q8_0": 7}  # general.file_type of the GGUF written


class OvGgufParams(PassParams):
    weights: Literal["f16", "q8_0", "source"] = "f16"


def write_gguf(source: Path, dest: Path, weights: str) -> None:
    """``source`` rewritten with its matrices dequantized and stored as ``weights`` (f16 or q8_0); the metadata
    (tokenizer, chat template, hyper-parameters) is kept, and vectors stay float32."""
    import gguf
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter

    reader = GGUFReader(source)
    writer = GGUFWriter(dest, reader.fields["general.architecture"].contents())
    for key, f in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        value = _FILE_TYPES[weights] if key == "general.file_type" else f.contents()
        sub = f.types[1] if f.types[0] == GGUFValueType.ARRAY else None
        writer.add_key_value(key, value, f.types[0], sub)
    for t in reader.tensors:
        arr = np.ascontiguousarray(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float32)
        if arr.ndim < 2:
            writer.add_tensor(t.name, arr)
        elif weights == "q8_0":
            q = gguf.quants.quantize(arr, GGMLQuantizationType.Q8_0)
            writer.add_tensor(t.name, q, raw_shape=q.shape, raw_dtype=GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(t.name, arr.astype(np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@PASSES.register("openvino-gguf")
class OpenVinoGguf(Pass[OvGgufParams]):
    """OpenVINO GenAI reads the model's GGUF (as shipped, or rewritten as f16 / q8_0) into a stateful IR."""

    Params = OvGgufParams
    family = "llm"
    accepts: ClassVar[frozenset[str]] = frozenset({"hf-causal"})
    produces: ClassVar[str] = "openvino-genai"
    model_families: ClassVar[frozenset[str]] = frozenset({"causal-lm"})

    def title(self) -> str:
        return {"source": "openvino gguf as shipped", "f16": "openvino f16", "q8_0": "openvino gguf q8_0"}[
            self.params.weights
        ]

    def check(self, artifact: Artifact, hw: Hardware) -> str | None:
        why = super().check(artifact, hw)
        if why:
            return why
        src = artifact.source
        if not isinstance(src, CausalLmSource) or not src.gguf:
            return "the model was not imported from a GGUF (OpenVINO GenAI reads GGUF files); import the .gguf"
        if not Path(src.gguf).is_file():
            return f"the GGUF it was imported from is gone ({src.gguf}); import it again"
        refusal = openvino_gguf_refusal(Path(src.gguf))
        if refusal:
            return f"{refusal}; use genai-build (ONNX Runtime GenAI) for this model"
        return None

    def build(self, artifact: Artifact, ctx: PassContext, work: Path) -> None:
        import openvino_genai as ovg

        assert isinstance(artifact.source, CausalLmSource) and artifact.source.gguf  # check() said so
        gguf_path = work / "model.gguf"
        with guarded(self.name, "writing the GGUF"):
            if self.params.weights == "source":
                shutil.copy2(artifact.source.gguf, gguf_path)
            else:
                write_gguf(Path(artifact.source.gguf), gguf_path, self.params.weights)
        with guarded(self.name, "OpenVINO GenAI reading the GGUF"):
            pipe = ovg.LLMPipeline(str(gguf_path), "CPU", enable_save_ov_model=True)
            del pipe
        gguf_path.unlink()
        if not (work / IR).is_file():
            raise PassError(f"{self.name}: OpenVINO GenAI read the GGUF but saved no {IR}")


class OvCompressParams(PassParams):
    mode: Literal["int8_asym", "int8_sym", "int4_sym", "int4_asym"] = "int8_asym"
    group_size: int = Field(default=64, ge=-1)  # int4: weights per scale (-1: per channel)
    ratio: float = Field(default=1.0, gt=0, le=1)  # int4: share of layers at int4, the rest at backup_mode
    backup_mode: Literal["int8_asym", "int8_sym", "none"] = "int8_asym"


@PASSES.register("openvino-compress")
class OpenVinoCompress(Pass[OvCompressParams]):
    """NNCF weight compression of an OpenVINO GenAI IR: int8, or int4 with a group size, ratio and backup."""

    Params = OvCompressParams
    family = "llm"
    accepts: ClassVar[frozenset[str]] = frozenset({"openvino-genai"})
    produces: ClassVar[str] = "openvino-genai"
    model_families: ClassVar[frozenset[str]] = frozenset({"causal-lm"})

    def title(self) -> str:
        p = self.params
        if p.mode.startswith("int8"):
            return f"openvino nncf {p.mode}"
        return f"openvino nncf {p.mode} g{p.group_size} r{p.ratio:g} backup {p.backup_mode}"

    def build(self, artifact: Artifact, ctx: PassContext, work: Path) -> None:
        import openvino as ov

        from lepton.ir.openvino_ir import ov_core
        from lepton.passes.openvino import _nncf, _quiet

        nncf = _nncf()

        p = self.params
        mode = getattr(nncf.CompressWeightsMode, p.mode.upper())
        kwargs: dict[str, object] = {"mode": mode}
        if p.mode.startswith("int4"):
            kwargs.update(
                group_size=p.group_size,
                ratio=p.ratio,
                backup_mode=getattr(nncf.BackupMode, p.backup_mode.upper()),
            )
        with guarded(self.name, "nncf.compress_weights"), _quiet():
            model = ov_core().read_model(str(artifact.path / IR))
            compressed = nncf.compress_weights(model, **kwargs)
            ov.save_model(compressed, str(work / IR), compress_to_fp16=False)
        for f in artifact.path.iterdir():  # the tokenizer and detokenizer IRs, the Hugging Face tokenizer files
            if f.is_file() and f.name.startswith(("openvino_tokenizer", "openvino_detokenizer")):
                shutil.copy2(f, work / f.name)
