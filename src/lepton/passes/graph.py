"""Graph passes: ONNX Runtime's transformer fusion for encoders, and portable offline graph optimization."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import onnx
from pydantic import Field

from lepton.errors import NotApplicable
from lepton.hardware import Hardware
from lepton.ir.artifact import Artifact
from lepton.ir.family import looks_like_encoder
from lepton.ir.source import HfSource
from lepton.passes.base import BUILD_MEMORY, PASSES, Pass, PassContext, Proposal, count_ops, save_model
from lepton.passes.params import PassParams

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


class FusionParams(PassParams):
    model_type: str = Field("auto", min_length=1, description="ORT's model type; auto: from the HF source")
    num_heads: int = Field(0, ge=0, description="0: read from the HF source or the graph")
    hidden_size: int = Field(0, ge=0, description="0: read from the HF source or the graph")


@PASSES.register("fuse-transformer")
class FuseTransformer(Pass[FusionParams]):
    """Fuse attention, layer norm, GELU and embeddings with ONNX Runtime's transformer optimizer.

    ``num_heads``/``hidden_size`` of 0 are what Hugging Face intake recorded from the model's config (the
    artifact's ``HfSource``, so it works wherever the artifact is shipped), else detected from the graph.
    Only the Python fusions run (``opt_level=0``), so the result stays portable across machines.
    """

    Params = FusionParams
    family: ClassVar[str] = "graph"
    build_memory: ClassVar[float | None] = BUILD_MEMORY["fusion"]
    needs: ClassVar[frozenset[str]] = frozenset({"cpu"})
    proposals: ClassVar[tuple[Proposal, ...]] = (Proposal(rank=40),)
    model_families: ClassVar[frozenset[str]] = frozenset({"transformer"})

    def check(self, artifact: Artifact, hw: Hardware) -> str | None:
        why = super().check(artifact, hw)
        if why:
            return why
        model = onnx.load(str(artifact.model_path), load_external_data=False)
        if count_ops(model, ("Attention", "MultiHeadAttention")):
            return "the graph is already fused (it has Attention nodes)"
        if not looks_like_encoder(model):
            return "no transformer encoder pattern (MatMul + Softmax + layer norm) in the graph"
        return None

    def min_opset(self, artifact: Artifact) -> int:
        return LAYER_NORM_OPSET  # the fused graph holds ai.onnx LayerNormalization (opset 17)

    def _settings(self, artifact: Artifact) -> tuple[str, int, int]:
        src = artifact.source if isinstance(artifact.source, HfSource) else HfSource()
        model_type = self.params.model_type
        if model_type == "auto":
            model_type = ENCODER_TYPES.get(src.model_type or "bert", "bert")
        return model_type, self.params.num_heads or src.num_heads, self.params.hidden_size or src.hidden_size

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


class GraphOptParams(PassParams):
    # only the portable levels: "all" adds layouts specific to the CPU it ran on (the runtime applies the rest
    # when it opens the model)
    level: Literal["basic", "extended"] = "extended"


@PASSES.register("optimize-graph")
class OptimizeGraph(Pass[GraphOptParams]):
    """ONNX Runtime's offline graph optimization (constant folding, redundant node removal, fusions).

    Only the portable levels are offered: ``all`` adds layouts specific to the CPU it ran on.
    """

    Params = GraphOptParams
    family: ClassVar[str] = "graph"
    build_memory: ClassVar[float | None] = BUILD_MEMORY["graph"]  # ORT's optimizer, like fusion
    needs: ClassVar[frozenset[str]] = frozenset({"cpu"})
    proposals: ClassVar[tuple[Proposal, ...]] = (Proposal({"level": "extended"}, rank=40),)
    model_families: ClassVar[frozenset[str]] = frozenset({"conv", "recurrent", "generic"})

    def title(self) -> str:
        return "graph-opt"

    def build(self, artifact: Artifact, ctx: PassContext, work: Path) -> None:
        from lepton.ir.onnx_intake import ort_session

        ort_session(artifact.model_path, level=self.params.level, save_to=work / "ort.onnx")  # ORT as the optimizer
        model = onnx.load(str(work / "ort.onnx"))
        (work / "ort.onnx").unlink()
        save_model(model, work)
