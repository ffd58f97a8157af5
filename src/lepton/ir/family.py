"""What kind of network a graph is, read from its ops: passes declare which families they are worth trying on."""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import onnx

from lepton.ir.artifact import Artifact

FAMILIES = ("transformer", "conv", "recurrent", "generic")
_RECURRENT = ("LSTM", "GRU", "RNN", "Scan", "Loop")
_CONV = ("Conv", "ConvTranspose", "QLinearConv", "ConvInteger")


def looks_like_encoder(model: onnx.ModelProto) -> bool:
    """Softmax between MatMuls plus a layer norm (decomposed or fused), or fused attention: a transformer."""
    ops = {n.op_type for n in model.graph.node}
    if ops & {"Attention", "MultiHeadAttention"}:
        return True
    has_norm = bool(ops & {"LayerNormalization", "SkipLayerNormalization", "ReduceMean"})
    return "MatMul" in ops and "Softmax" in ops and has_norm


def family_of(model: onnx.ModelProto) -> str:
    """transformer, recurrent, conv or generic (MLPs, tree ensembles, anything else)."""
    ops = Counter(n.op_type for n in model.graph.node)
    if looks_like_encoder(model):
        return "transformer"
    if any(ops[o] for o in _RECURRENT):
        return "recurrent"
    if any(ops[o] for o in _CONV):
        return "conv"
    return "generic"


@functools.lru_cache(maxsize=64)
def _family_at(path: str, _mtime: float) -> str:
    return family_of(onnx.load(path, load_external_data=False))


@functools.lru_cache(maxsize=256)
def _ops_at(path: str, _mtime: float) -> frozenset[str]:
    return frozenset(n.op_type for n in onnx.load(path, load_external_data=False).graph.node)


def op_types(artifact: Artifact) -> frozenset[str]:
    """The op types in ``artifact``'s ONNX graph (read once per file; empty for other formats)."""
    if artifact.format != "onnx":
        return frozenset()
    path = Path(artifact.model_path)
    return _ops_at(str(path), path.stat().st_mtime)


def model_family(artifact: Artifact) -> str:
    """The family of ``artifact``'s graph (read once per file)."""
    path = Path(artifact.model_path)
    return _family_at(str(path), path.stat().st_mtime)
