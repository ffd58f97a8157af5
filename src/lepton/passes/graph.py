"""Graph passes: ONNX Runtime's transformer fusion for encoders, and portable offline graph optimization."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import onnx

from lepton.cost.hardware import Hardware
from lepton.errors import NotApplicable
from lepton.ir.artifact import Artifact
from lepton.ir.family import looks_like_encoder
from lepton.passes.base import PASSES, Pass, PassContext, Proposal, count_ops, save_model

PORTABLE_LEVELS = ("basic", "extended")
LAYER_NORM_OPSET = 17
ENCODER_TYPES = {
    "bert": "bert",
    "roberta": "bert",
    "xlm-roberta": "bert",
    "mpnet": "bert",
    "distilbert": "bert",
    "electra": "bert",
    "deberta": "bert",
    "albert": "bert",
}


def hf_config(artifact: Artifact) -> dict[str, Any]:
    """The Hugging Face ``config.json`` the artifact came from, or {}."""
    path = artifact.source.get("path")
    if not path:
        return {}
    cfg = Path(path) / "config.json"
    try:
        return json.loads(cfg.read_text()) if cfg.is_file() else {}
    except (OSError, ValueError):
        return {}


@PASSES.register("fuse-transformer")
class FuseTransformer(Pass):
    """Fuse attention, layer norm, GELU and embeddings with ONNX Runtime's transformer optimizer.

    ``num_heads``/``hidden_size`` of 0 are read from the Hugging Face config, else detected from the graph.
    Only the Python fusions run (``opt_level=0``), so the result stays portable across machines.
    """

    family: ClassVar[str] = "graph"
    needs: ClassVar[frozenset[str]] = frozenset({"cpu"})
    proposals: ClassVar[tuple[Proposal, ...]] = (Proposal(rank=40),)
    model_families: ClassVar[frozenset[str]] = frozenset({"transformer"})

    def __init__(self, *, model_type: str = "auto", num_heads: int = 0, hidden_size: int = 0) -> None:
        self.model_type = model_type
        self.num_heads = num_heads
        self.hidden_size = hidden_size

    def check(self, artifact: Artifact, hw: Hardware) -> str | None:
        why = super().check(artifact, hw)
        if why:
            return why
        if self.num_heads < 0 or self.hidden_size < 0:
            return "num_heads and hidden_size must be >= 0 (0: read from the config or the graph)"
        model = onnx.load(str(artifact.model_path), load_external_data=False)
        if count_ops(model, ("Attention", "MultiHeadAttention")):
            return "the graph is already fused (it has Attention nodes)"
        if not looks_like_encoder(model):
            return "no transformer encoder pattern (MatMul + Softmax + layer norm) in the graph"
        return None

    def min_opset(self, artifact: Artifact) -> int:
        return LAYER_NORM_OPSET  # the fused graph holds ai.onnx LayerNormalization (opset 17)

    def _settings(self, artifact: Artifact) -> tuple[str, int, int]:
        cfg = hf_config(artifact)
        model_type = self.model_type
        if model_type == "auto":
            model_type = ENCODER_TYPES.get(str(cfg.get("model_type", "bert")), "bert")
        heads = self.num_heads or int(cfg.get("num_attention_heads", 0) or cfg.get("n_heads", 0) or 0)
        hidden = self.hidden_size or int(cfg.get("hidden_size", 0) or cfg.get("dim", 0) or 0)
        return model_type, heads, hidden

    def title(self) -> str:
        return "fusion"

    def build(self, artifact: Artifact, ctx: PassContext, work: Path) -> None:
        from onnxruntime.transformers.optimizer import optimize_model

        model_type, heads, hidden = self._settings(artifact)
        opt = optimize_model(
            str(artifact.model_path),
            model_type=model_type,
            num_heads=heads,
            hidden_size=hidden,
            opt_level=0,
            use_gpu=False,
        )
        stats = {k: v for k, v in opt.get_fused_operator_statistics().items() if v}
        if not stats:
            raise NotApplicable(f"{self.name}: the optimizer found nothing to fuse in this graph")
        opt.topological_sort()
        save_model(opt.model, work)


@PASSES.register("optimize-graph")
class OptimizeGraph(Pass):
    """ONNX Runtime's offline graph optimization (constant folding, redundant node removal, fusions).

    Only the portable levels are offered: ``all`` adds layouts specific to the CPU it ran on.
    """

    family: ClassVar[str] = "graph"
    needs: ClassVar[frozenset[str]] = frozenset({"cpu"})
    proposals: ClassVar[tuple[Proposal, ...]] = (Proposal({"level": "extended"}, rank=40),)
    model_families: ClassVar[frozenset[str]] = frozenset({"conv", "recurrent", "generic"})

    def __init__(self, *, level: str = "extended") -> None:
        self.level = level

    def title(self) -> str:
        return "graph-opt"

    def check(self, artifact: Artifact, hw: Hardware) -> str | None:
        why = super().check(artifact, hw)
        if why:
            return why
        if self.level not in PORTABLE_LEVELS:
            return (
                f"level {self.level!r} is not portable; use one of {', '.join(PORTABLE_LEVELS)} "
                "(the runtime applies the rest when it opens the model)"
            )
        return None

    def build(self, artifact: Artifact, ctx: PassContext, work: Path) -> None:
        from lepton.ir.onnx_intake import ort_session

        ort_session(artifact.model_path, level=self.level, save_to=work / "ort.onnx")  # ORT as the optimizer
        model = onnx.load(str(work / "ort.onnx"))
        (work / "ort.onnx").unlink()
        save_model(model, work)
