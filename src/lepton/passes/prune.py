"""Pruning: magnitude (unstructured zeros) and structured (whole channels removed, tensors really shrink).

Magnitude pruning is fine-tuned for a few steps when the artifact carries its PyTorch module and the context
has training feeds; otherwise it is applied to the ONNX weights directly and recorded as ``finetuned: false``.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import onnx
from onnx import numpy_helper
from pydantic import Field

from lepton.errors import NotApplicable
from lepton.hardware import Hardware
from lepton.ir.artifact import MODEL_FILE, Artifact
from lepton.passes.base import PASSES, Pass, PassContext, load_model, save_model
from lepton.passes.params import PassParams
from lepton.passes.quantize import gemm_to_matmul

WEIGHT_OPS = ("MatMul", "Gemm", "Conv")


def weight_initializers(model: onnx.ModelProto) -> list[onnx.TensorProto]:
    """The float weight tensors (>= 2 dims) of MatMul/Gemm/Conv nodes."""
    inits = {i.name: i for i in model.graph.initializer}
    seen: dict[str, onnx.TensorProto] = {}
    for n in model.graph.node:
        if n.op_type in WEIGHT_OPS and len(n.input) > 1 and n.input[1] in inits:
            t = inits[n.input[1]]
            if t.data_type == onnx.TensorProto.FLOAT and len(t.dims) >= 2:
                seen[t.name] = t
    return list(seen.values())


def magnitude_mask(w: np.ndarray, sparsity: float) -> np.ndarray:
    """True for the weights kept: the largest ``1 - sparsity`` fraction by magnitude (exact count)."""
    k = int(round(sparsity * w.size))
    keep = np.ones(w.size, dtype=bool)
    if k:
        keep[np.argpartition(np.abs(w).ravel(), k - 1)[:k]] = False
    return keep.reshape(w.shape)


def sparsity_of(model: onnx.ModelProto) -> float:
    """The fraction of zeros over the MatMul/Gemm/Conv weights."""
    arrays = [numpy_helper.to_array(t) for t in weight_initializers(model)]
    total = sum(a.size for a in arrays)
    return sum(int((a == 0).sum()) for a in arrays) / total if total else 0.0


class PruneParams(PassParams):
    sparsity: float = Field(0.25, gt=0, lt=1, description="the fraction of weights (or channels) removed")


class MagnitudeParams(PruneParams):
    sparsity: float = Field(0.5, gt=0, lt=1, description="the fraction of each weight tensor set to zero")
    finetune: bool = True  # when the artifact carries its torch module and the context has training feeds
    finetune_steps: int = Field(30, ge=0)
    learning_rate: float = Field(1e-4, gt=0)


PP = TypeVar("PP", bound=PruneParams)


class _Prune(Pass[PP]):
    """What both pruning passes check: weights to prune (the sparsity is checked by their ``Params``)."""

    def title(self) -> str:
        kind = "structured" if "structured" in self.name else "magnitude"
        return f"prune {kind} {float(self.params.sparsity):.0%}"

    def check(self, artifact: Artifact, hw: Hardware) -> str | None:
        why = super().check(artifact, hw)
        if why:
            return why
        model = onnx.load(str(artifact.model_path), load_external_data=False)
        if not any(n.op_type in WEIGHT_OPS for n in model.graph.node):
            return "no MatMul/Gemm/Conv weights to prune"
        return None


@PASSES.register("prune-magnitude")
class MagnitudePrune(_Prune[MagnitudeParams]):
    """Zero the smallest-magnitude ``sparsity`` fraction of each MatMul/Gemm/Conv weight tensor."""

    Params = MagnitudeParams
    family: ClassVar[str] = "prune"
    needs: ClassVar[frozenset[str]] = frozenset({"cpu"})

    def will_finetune(self, artifact: Artifact, ctx: PassContext) -> bool:
        return bool(self.params.finetune and artifact.torch_module is not None and ctx.train_feeds)

    def cache_params(self, artifact: Artifact, ctx: PassContext) -> dict[str, Any]:
        tuned = self.will_finetune(artifact, ctx)
        out = {**self.params.to_json(), "finetuned": tuned}
        if tuned:
            out["train_data"] = PassContext(ctx.store, ctx.hardware, calibration=ctx.train_feeds).calibration_key()
        return out

    def build(self, artifact: Artifact, ctx: PassContext, work: Path) -> None:
        if self.will_finetune(artifact, ctx):
            p = self.params
            finetune_and_export(artifact, ctx, work, p.sparsity, p.finetune_steps, p.learning_rate)
            return
        model = load_model(artifact)
        weights = weight_initializers(model)
        if not weights:
            raise NotApplicable(f"{self.name}: no float MatMul/Gemm/Conv weight initializers to prune")
        for t in weights:
            w = numpy_helper.to_array(t)
            t.CopyFrom(
                numpy_helper.from_array(np.where(magnitude_mask(w, self.params.sparsity), w, 0).astype(w.dtype), t.name)
            )
        save_model(model, work)


def finetune_and_export(
    artifact: Artifact, ctx: PassContext, work: Path, sparsity: float, steps: int, lr: float
) -> None:
    """Prune the PyTorch source by magnitude, fine-tune a few steps with the masks held, export to ONNX.

    Targets are the context's ``train_targets`` when given (class ids: cross-entropy; floats: MSE), else the
    unpruned module's outputs (distillation)."""
    import torch

    torch.manual_seed(ctx.seed)
    teacher = artifact.torch_module.eval()
    student = copy.deepcopy(teacher)
    masks: dict[str, torch.Tensor] = {}
    for name, mod in student.named_modules():
        if isinstance(mod, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d)):
            w = mod.weight.detach().numpy()
            masks[name] = torch.from_numpy(magnitude_mask(w, sparsity))
    modules = dict(student.named_modules())

    def apply_masks() -> None:
        with torch.no_grad():
            for name, m in masks.items():
                modules[name].weight.mul_(m)

    apply_masks()
    names = artifact.signature.input_names
    feeds = ctx.train_feeds or []
    targets = ctx.train_targets
    opt = torch.optim.Adam(student.parameters(), lr=lr)
    student.train()
    for step in range(steps):
        i = step % len(feeds)
        args = [torch.from_numpy(np.ascontiguousarray(feeds[i][n])) for n in names]
        out = _first(student(*args))
        if targets is not None:
            y = torch.from_numpy(np.asarray(targets[i]))
            loss = (
                torch.nn.functional.cross_entropy(out, y.long())
                if y.dtype in (torch.int64, torch.int32)
                else torch.nn.functional.mse_loss(out, y.float())
            )
        else:
            with torch.no_grad():
                y = _first(teacher(*args))
            loss = torch.nn.functional.mse_loss(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        apply_masks()
    student.eval()
    sig = artifact.signature
    example = tuple(torch.from_numpy(np.ascontiguousarray(feeds[0][n])) for n in names)
    dynamic = {
        t.name: {i: str(d) for i, d in enumerate(t.shape) if not isinstance(d, int)}
        for t in (*sig.inputs, *sig.outputs)
    }
    with warnings.catch_warnings():  # the legacy exporter is chosen on purpose, as in ir.torch_intake
        warnings.filterwarnings("ignore", "You are using the legacy TorchScript-based ONNX export", DeprecationWarning)
        torch.onnx.export(
            student,
            example,
            str(work / MODEL_FILE),
            dynamo=False,
            opset_version=17,
            input_names=names,
            output_names=sig.output_names,
            dynamic_axes={k: v for k, v in dynamic.items() if v},
        )


def _first(out: Any) -> Any:
    if isinstance(out, dict):
        return next(iter(out.values()))
    if isinstance(out, (tuple, list)):
        return out[0]
    return out


# -- structured ---------------------------------------------------------------------------------------------
CHANNEL_UNARY = {
    "Relu",
    "Gelu",
    "FastGelu",
    "Erf",
    "Tanh",
    "Sigmoid",
    "LeakyRelu",
    "Elu",
    "Selu",
    "Softplus",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "Neg",
    "Abs",
    "Sqrt",
    "Exp",
}
CHANNEL_BINARY = {"Add", "Sub", "Mul", "Div"}


@dataclass
class ChannelGroup:
    """One prunable channel dimension: a producer's output channels flowing elementwise into consumers."""

    producer: onnx.NodeProto
    width: int
    per_channel: list[str] = field(default_factory=list)  # 1-D/broadcast initializers sliced along the channel
    consumers: list[onnx.NodeProto] = field(default_factory=list)
    conv: bool = False


def _producer_group(
    model: onnx.ModelProto,
    node: onnx.NodeProto,
    inits: dict[str, onnx.TensorProto],
    consumers_of: dict[str, list[onnx.NodeProto]],
    uses: dict[str, int],
    scalars: set[str],
) -> ChannelGroup | None:
    w = inits.get(node.input[1]) if len(node.input) > 1 else None
    if w is None or uses.get(w.name, 0) != 1 or w.data_type != onnx.TensorProto.FLOAT:
        return None
    conv = node.op_type == "Conv"
    if conv:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if attrs.get("group", 1) != 1:
            return None
        width = w.dims[0]
    elif len(w.dims) == 2:
        width = w.dims[1]
    else:
        return None
    group = ChannelGroup(node, width, conv=conv)
    if conv and len(node.input) > 2 and node.input[2]:
        group.per_channel.append(node.input[2])
    graph_outputs = {o.name for o in model.graph.output}
    region, frontier = {node.output[0]}, [node.output[0]]
    pending: list[onnx.NodeProto] = []  # elementwise nodes waiting for another region input (x * gelu(x))

    def visit(c: onnx.NodeProto, t: str) -> str:
        if c.op_type in ("MatMul", "Conv", "Gemm") and len(c.input) > 1 and c.input[0] == t:
            cw = inits.get(c.input[1])
            ok = cw is not None and uses.get(cw.name, 0) == 1 and cw.data_type == onnx.TensorProto.FLOAT
            ok = ok and c.op_type != "Gemm" and conv == (c.op_type == "Conv")
            if c.op_type == "Conv" and any(a.name == "group" and a.i != 1 for a in c.attribute):
                ok = False
            if ok and c not in group.consumers:
                group.consumers.append(c)
            return "ok" if ok else "bad"
        batchnorm = conv and c.op_type == "BatchNormalization"
        if c.op_type not in CHANNEL_UNARY and c.op_type not in CHANNEL_BINARY and not batchnorm:
            return "bad"  # reshape, layer norm, ...: cannot shrink here
        if batchnorm and c.input[0] not in region:
            return "bad"
        slices = []
        for other in c.input[1:] if batchnorm else c.input:
            if other in region or other in scalars or not other:
                continue
            o = inits.get(other)
            if o is not None:
                if uses.get(other, 0) != 1 or not _per_channel_shape(o, width, conv):
                    return "bad"
                slices.append(other)
            else:
                return "wait"  # an activation not (yet) known to share the channel layout
        group.per_channel.extend(s for s in slices if s not in group.per_channel)
        if c.output[0] not in region:
            region.add(c.output[0])
            frontier.append(c.output[0])
        return "ok"

    while frontier or pending:
        if not frontier:
            progress = False
            for c in list(pending):
                t = next(i for i in c.input if i in region)
                verdict = visit(c, t)
                if verdict == "bad":
                    return None
                if verdict == "ok":
                    pending.remove(c)
                    progress = True
            if not progress:
                return None  # mixes with a tensor from outside (a residual add): not prunable
            continue
        t = frontier.pop()
        if t in graph_outputs:
            return None
        for c in consumers_of.get(t, []):
            verdict = visit(c, t)
            if verdict == "bad":
                return None
            if verdict == "wait" and c not in pending:
                pending.append(c)
            elif verdict == "ok" and c in pending:
                pending.remove(c)
    return group if group.consumers else None


def _per_channel_shape(t: onnx.TensorProto, width: int, conv: bool) -> bool:
    dims = list(t.dims)
    if conv:
        return dims in ([width], [width, 1, 1], [1, width, 1, 1])
    return len(dims) >= 1 and dims[-1] == width and all(d == 1 for d in dims[:-1])


def channel_groups(model: onnx.ModelProto) -> list[ChannelGroup]:
    """Every producer whose output channels can be removed together with the consumers' input rows."""
    inits = {i.name: i for i in model.graph.initializer}
    scalars = {i.name for i in model.graph.initializer if int(np.prod(i.dims)) == 1}
    scalars |= {
        n.output[0]
        for n in model.graph.node
        if n.op_type == "Constant"
        and int(np.prod(n.attribute[0].t.dims if n.attribute[0].type == onnx.AttributeProto.TENSOR else [1])) == 1
    }
    consumers_of: dict[str, list[onnx.NodeProto]] = {}
    uses: dict[str, int] = {}
    for n in model.graph.node:
        for i in n.input:
            consumers_of.setdefault(i, []).append(n)
            uses[i] = uses.get(i, 0) + 1
    groups = []
    for n in model.graph.node:
        if n.op_type in ("MatMul", "Conv"):
            g = _producer_group(model, n, inits, consumers_of, uses, scalars)
            if g is not None:
                groups.append(g)
    return groups


def _slice(t: onnx.TensorProto, keep: np.ndarray, axis: int) -> None:
    arr = numpy_helper.to_array(t)
    t.CopyFrom(numpy_helper.from_array(np.take(arr, keep, axis=axis).astype(arr.dtype), t.name))


def shrink(model: onnx.ModelProto, groups: Iterable[ChannelGroup], sparsity: float) -> dict[str, int]:
    """Remove the least important ``sparsity`` fraction of channels of each group; returns new widths."""
    inits = {i.name: i for i in model.graph.initializer}
    widths = {}
    for g in groups:
        w = numpy_helper.to_array(inits[g.producer.input[1]])
        out_axis = 0 if g.conv else 1
        score = np.linalg.norm(np.moveaxis(w, out_axis, 0).reshape(g.width, -1), axis=1)
        for c in g.consumers:
            cw = numpy_helper.to_array(inits[c.input[1]])
            score = score * np.linalg.norm(np.moveaxis(cw, 1 if g.conv else 0, 0).reshape(g.width, -1), axis=1)
        n_keep = max(1, int(round(g.width * (1 - sparsity))))
        keep = np.sort(np.argsort(-score, kind="stable")[:n_keep])
        _slice(inits[g.producer.input[1]], keep, out_axis)
        for name in g.per_channel:
            t = inits[name]
            _slice(t, keep, 0 if g.conv and len(t.dims) in (1, 3) else len(t.dims) - 1 if not g.conv else 1)
        for c in g.consumers:
            _slice(inits[c.input[1]], keep, 1 if g.conv else 0)
        widths[g.producer.name or g.producer.output[0]] = n_keep
    del model.graph.value_info[:]  # the shapes in between changed; the runtime infers them again
    return widths


@PASSES.register("prune-structured")
class StructuredPrune(_Prune[PruneParams]):
    """Remove whole output channels (MatMul columns, Conv filters) and the matching input rows downstream.

    Only chains the graph allows are shrunk: producer -> elementwise ops -> consumer weight. Attention heads
    are left alone (their channels pass through Reshape to heads); the lineage lists the widths it changed.
    Not fine-tuned (``finetuned: false``).
    """

    Params = PruneParams
    family: ClassVar[str] = "prune"
    needs: ClassVar[frozenset[str]] = frozenset({"cpu"})

    def cache_params(self, artifact: Artifact, ctx: PassContext) -> dict[str, Any]:
        return {**self.params.to_json(), "finetuned": False}

    def build(self, artifact: Artifact, ctx: PassContext, work: Path) -> None:
        model = load_model(artifact)
        gemm_to_matmul(model)
        groups = channel_groups(model)
        if not groups:
            raise NotApplicable(
                f"{self.name}: no channel chain the graph allows shrinking (MatMul/Conv -> elementwise -> "
                "MatMul/Conv with its own weights); attention heads and residual paths cannot be shrunk"
            )
        shrink(model, groups, self.params.sparsity)
        save_model(model, work)
