"""Where one call's time goes: an engine's ``OpProfile`` grouped by op type and by layer (block).

A block is named from the node's path: exporters name nodes after the module that made them
(``/encoder/layer.0/attention/self/query/MatMul``, PyTorch ``encoder.layer.0.attention``), and the block is that
path up to its first numbered part (``encoder/layer/0``: a transformer layer, a conv stage). The time no node
accounts for (the engine's own dispatch, copies in and out) is a row of its own, ``(outside nodes)``, so the
rows add up to the wall time of the calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from lepton.contract import Contract
from lepton.engines.profile import OpProfile, OpTime

OUTSIDE = "(outside nodes)"
_NUMBERED = re.compile(r"^\d+$|_\d+$")
# layer-type words that end a path (the op itself), not a module
_OP_WORDS = re.compile(r"^[A-Z][A-Za-z]*(_\d+)?$|WithoutBiases|_output_\d+")


class Share(Contract):
    """One group's time per call: its name, milliseconds, the fraction of the wall time, how many nodes."""

    name: str
    ms: float
    fraction: float
    nodes: int


def block_of(node: str, layer: str = "") -> str:
    """The block a node belongs to (see the module): ``/encoder/layer.0/attention/MatMul`` -> ``encoder/layer/0``;
    a flat name (``conv1``, ``fc_quant``) is its own block, without a quantizer's suffix."""
    path = (layer or node).replace(".", "/")
    if "_/" in path:  # OpenVINO names a reorder after both ends: x_abcd_acdb_/0/Conv -> the consumer
        path = path.rsplit("_/", 1)[1]
    parts = [p for p in path.split("/") if p]
    if not layer:
        while len(parts) > 1 and _OP_WORDS.search(parts[-1]):
            parts.pop()
    if len(parts) <= 1:
        flat = parts[0] if parts else node
        return re.sub(r"_(quant|QuantizeLinear|DequantizeLinear|output_\d+)$", "", flat)
    for i, p in enumerate(parts):
        if _NUMBERED.search(p):
            return "/".join(parts[: i + 1])
    return "/".join(parts[:2])


def _group(profile: OpProfile, key: Callable[[OpTime], str]) -> tuple[Share, ...]:
    sums: dict[str, tuple[float, int]] = {}
    for op in profile.ops:
        ms, n = sums.get(key(op), (0.0, 0))
        sums[key(op)] = (ms + op.ms, n + 1)
    outside = profile.wall_ms - profile.kernel_ms
    if outside > 0:
        sums[OUTSIDE] = (outside, 0)
    wall = max(profile.wall_ms, profile.kernel_ms, 1e-12)
    rows = [Share(name=k, ms=ms, fraction=ms / wall, nodes=n) for k, (ms, n) in sums.items()]
    return tuple(sorted(rows, key=lambda s: s.ms, reverse=True))


def by_op_type(profile: OpProfile) -> tuple[Share, ...]:
    """Time per op type (``Conv``, ``MatMulInteger``, ``DynamicQuantizeLinear``; OpenVINO ``FullyConnected``)."""
    return _group(profile, lambda o: o.op_type)


def by_layer(profile: OpProfile) -> tuple[Share, ...]:
    """Time per block (see ``block_of``)."""
    return _group(profile, lambda o: block_of(o.node, o.layer))


def by_kernel(profile: OpProfile) -> tuple[Share, ...]:
    """Time per primitive the engine chose (OpenVINO: ``brgemm_avx512_amx_i8``, ``jit_avx512_f32``, ``ref_any``)."""
    return _group(profile, lambda o: o.kernel or o.op_type)


def top(rows: Iterable[Share], n: int) -> list[Share]:
    return list(rows)[:n]
