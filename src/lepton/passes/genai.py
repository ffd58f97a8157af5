"""Causal-LM variants for ONNX Runtime GenAI: its model builder, run on the baseline Hugging Face folder.

``python -m onnxruntime_genai.models.builder -i HF_DIR -o OUT -p fp32|int8|int4 -e cpu`` (run through
``lepton.passes.genai_builder``, which lets it read transformers 5's Gemma-3 config) writes ``model.onnx``
(+ ``model.onnx.data``) with a KV cache, ``genai_config.json`` and the tokenizer: a ``genai-onnx`` folder. Int4 and
int8 are weight-only (MatMulNBits) with a block size and an accuracy level (the minimum precision of activations:
4 = int8, 1 = fp32); int4 takes RTN or k-quant, and can keep the LM head (``last_matmul``) at int8. (The builder's
``mixed_layers:int8`` gave a model that does not load here: it is not offered.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import ClassVar, Literal

from lepton.errors import PassError
from lepton.hardware import Hardware
from lepton.ir.artifact import Artifact
from lepton.passes.base import PASSES, Pass, PassContext, Proposal
from lepton.passes.params import PassParams
from lepton.settings import offline_hub

BUILD_TIMEOUT_S = 1800


class GenAiBuildParams(PassParams):
    precision: Literal["fp32", "int8", "int4"] = "int8"
    algo: Literal["default", "rtn", "k_quant"] = "default"  # int4/int8 weight-only quantization method
    block_size: Literal[16, 32, 64, 128, 256] = 32
    accuracy_level: Literal[0, 1, 2, 3, 4] = 4  # activations of quantized MatMuls: 4 int8, 3 bf16, 2 fp16, 1 fp32
    last_matmul_int8: bool = False  # int4 only: the LM head at int8


@PASSES.register("genai-build")
class GenAiBuild(Pass[GenAiBuildParams]):
    """ONNX Runtime GenAI's model builder: fp32, int8 or int4 (RTN / k-quant) ONNX with a KV cache."""

    Params = GenAiBuildParams
    family = "llm"
    accepts: ClassVar[frozenset[str]] = frozenset({"hf-causal"})
    produces: ClassVar[str] = "genai-onnx"
    model_families: ClassVar[frozenset[str]] = frozenset({"causal-lm"})
    proposals: ClassVar[tuple[Proposal, ...]] = (
        Proposal({"precision": "int8"}, rank=10),
        Proposal({"precision": "int4", "algo": "k_quant", "last_matmul_int8": True}, rank=20),
        Proposal({"precision": "int4", "algo": "rtn", "block_size": 32}, rank=30),
        Proposal({"precision": "fp32"}, rank=40),
    )

    def title(self) -> str:
        p = self.params
        if p.precision == "fp32":
            return "ort-genai fp32"
        algo = "" if p.algo == "default" else f" {p.algo}"
        head = " head int8" if p.last_matmul_int8 else ""
        return f"ort-genai {p.precision}{algo} b{p.block_size} acc{p.accuracy_level}{head}"

    def check(self, artifact: Artifact, hw: Hardware) -> str | None:
        why = super().check(artifact, hw)
        if why:
            return why
        p = self.params
        if p.last_matmul_int8 and p.precision != "int4":
            return "last_matmul_int8 keeps the LM head at int8 inside an int4 model; use it with precision int4"
        if p.precision == "fp32" and p.algo != "default":
            return "fp32 is not quantized: leave algo at default"
        return None

    def command(self, artifact: Artifact, work: Path, cache: Path) -> list[str]:
        p = self.params
        # the builder itself, through lepton.passes.genai_builder (which fixes its reading of Gemma-3 configs)
        cmd = [sys.executable, "-m", "lepton.passes.genai_builder", "-i", str(artifact.path), "-o", str(work)]
        cmd += ["-p", p.precision, "-e", "cpu", "-c", str(cache)]
        extra: list[str] = []
        if p.precision != "fp32":
            extra += [f"block_size={p.block_size}", f"accuracy_level={p.accuracy_level}"]
            if p.algo != "default":
                extra.append(f"algo_config={p.algo}")
            if p.last_matmul_int8:
                extra.append("matmul_mixed_precision=last_matmul:int8")
        return cmd + (["--extra_options", *extra] if extra else [])

    def build(self, artifact: Artifact, ctx: PassContext, work: Path) -> None:
        offline_hub()  # the builder reads the local folder only; the child inherits the setting
        with ctx.store.workdir() as cache:
            proc = subprocess.run(
                self.command(artifact, work, cache),
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT_S,
                check=False,
            )
        if proc.returncode != 0 or not (work / "genai_config.json").is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise PassError(f"genai-build: the ONNX Runtime GenAI builder failed ({tail[0][:300]})")
