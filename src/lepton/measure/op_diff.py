"""What a pass changed in where the time goes: a variant's op-type table beside its parent's, and, when the variant
is slower, a reason computed from that difference (which op types hold the added time), not a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from lepton.contract import Contract
from lepton.engines.profile import OpProfile, OpTime
from lepton.format import ms as ms_text
from lepton.measure.breakdown import OUTSIDE, block_of, by_op_type

SLOWER = 1.05  # a variant whose profiled wall time is this much above its parent's is explained as slower

FLOAT_COMPUTE = frozenset(
    {"MatMul", "Gemm", "Conv", "ConvTranspose", "FusedConv", "FusedMatMul", "FusedGemm", "Attention"}
    | {"Convolution", "GroupConvolution", "Deconvolution", "FullyConnected"}  # OpenVINO layer types
)
INT8_COMPUTE = frozenset(
    {"MatMulInteger", "ConvInteger", "QLinearConv", "QLinearMatMul", "MatMulIntegerToFloat", "QGemm", "QAttention"}
    | {"DynamicQuantizeMatMul", "quantized::linear_dynamic", "quantized::linear"}
)
# why an op type that a pass adds costs time, said after its share of the added time
_WHY = {
    "DynamicQuantizeLinear": "activations quantized at run time on every call",
    "QuantizeLinear": "conversions to int8 around ops",
    "DequantizeLinear": "conversions back to float around ops without int8 kernels",
    "Cast": "casts between precisions (this CPU provider has few kernels for the lower precision)",
    "ReorderInput": "memory-layout reorders",
    "ReorderOutput": "memory-layout reorders",
    "Reorder": "memory-layout reorders",
    "Transpose": "transposes",
    "ConvInteger": "integer convolutions, slower here than the float ones they replace",
    "MatMulInteger": "integer matrix multiplies",
    OUTSIDE: "the engine's own dispatch, copies and waits between nodes",
}


class OpDelta(Contract):
    """One op type in the parent and in the child: time per call and node counts."""

    op_type: str
    parent_ms: float
    child_ms: float
    parent_nodes: int
    child_nodes: int
    change: Literal["added", "removed", "kept"]

    @property
    def delta_ms(self) -> float:
        return self.child_ms - self.parent_ms


class OpDiff(Contract):
    """A variant's profile against its parent's under the same engine, settings and inputs."""

    engine: str
    batch_size: int
    parent_ms: float  # wall time per call
    child_ms: float
    rows: tuple[OpDelta, ...]  # largest change first
    float_layers: tuple[str, ...] = ()  # blocks whose compute nodes still run in float in a quantized child
    int8_nodes: int = 0  # compute nodes the child runs in int8
    float_nodes: int = 0  # compute nodes the child runs in float
    reason: str | None = None  # why the child is slower, from the rows (None: it is not slower)

    @property
    def ratio(self) -> float:
        """Child time over parent time (above 1: slower)."""
        return self.child_ms / self.parent_ms if self.parent_ms > 0 else 1.0

    @property
    def faster(self) -> list[OpDelta]:
        return [r for r in self.rows if r.delta_ms < 0 and r.change == "kept"]

    @property
    def added(self) -> list[OpDelta]:
        return [r for r in self.rows if r.change == "added"]


def _int8(op: OpTime) -> bool:
    return op.op_type in INT8_COMPUTE or (op.op_type in FLOAT_COMPUTE and op.precision in ("i8", "u8"))


def _float(op: OpTime) -> bool:
    return op.op_type in FLOAT_COMPUTE and op.precision not in ("i8", "u8")


def diff_profiles(parent: OpProfile, child: OpProfile) -> OpDiff:
    """The op-type table of ``child`` beside ``parent``'s, what got faster, what was added, which blocks stayed in
    float, and (when the child is slower by ``SLOWER``) the reason."""
    before = {s.name: s for s in by_op_type(parent)}
    after = {s.name: s for s in by_op_type(child)}
    rows = []
    for op in sorted(set(before) | set(after)):
        b, a = before.get(op), after.get(op)
        change: Literal["added", "removed", "kept"] = "added" if b is None else "removed" if a is None else "kept"
        if op == OUTSIDE:
            change = "kept"
        rows.append(
            OpDelta(
                op_type=op,
                parent_ms=b.ms if b else 0.0,
                child_ms=a.ms if a else 0.0,
                parent_nodes=b.nodes if b else 0,
                child_nodes=a.nodes if a else 0,
                change=change,
            )
        )
    rows.sort(key=lambda r: abs(r.delta_ms), reverse=True)
    int8 = [o for o in child.ops if _int8(o)]
    floats = [o for o in child.ops if _float(o)]
    float_blocks = tuple(dict.fromkeys(block_of(o.node, o.layer) for o in floats)) if int8 else ()
    out = OpDiff(
        engine=child.engine,
        batch_size=child.batch_size,
        parent_ms=parent.wall_ms,
        child_ms=child.wall_ms,
        rows=tuple(rows),
        float_layers=float_blocks,
        int8_nodes=len(int8),
        float_nodes=len(floats),
    )
    return out.with_(reason=slower_reason(out))


def _said(r: OpDelta, share: float, rows: Sequence[OpDelta], int8_layers: int) -> str:
    what = f"{share:.0%} {'outside the nodes' if r.op_type == OUTSIDE else r.op_type}"
    detail = []
    if r.op_type != OUTSIDE:
        detail.append(f"{r.child_nodes} node{'s' * (r.child_nodes != 1)}")
    if r.change == "added":
        detail.append("added by the pass")
    why = _WHY.get(r.op_type)
    if r.op_type == "DynamicQuantizeLinear" and int8_layers:
        why = (
            f"the activations of {int8_layers} int8 layer{'s' * (int8_layers != 1)} quantized at run time on every call"
        )
    if why:
        detail.append(why)
    removed = [x for x in rows if x.change == "removed" and x.delta_ms < 0]
    if r.op_type in INT8_COMPUTE and removed:
        detail.append(f"in place of {removed[0].op_type} ({ms_text(-removed[0].delta_ms)} ms saved)")
    return what + (f" ({'; '.join(detail)})" if detail else "")


def slower_reason(d: OpDiff) -> str | None:
    """Which op types hold the time a slower child added, largest first, until 90% of it is said (at most 3)."""
    if d.ratio < SLOWER:
        return None
    gains = [r for r in d.rows if r.delta_ms > 0]
    gross = sum(r.delta_ms for r in gains)
    if gross <= 0:
        return None
    int8_layers = sum(r.child_nodes for r in d.rows if r.op_type in INT8_COMPUTE)
    parts, said = [], 0.0
    for r in sorted(gains, key=lambda r: r.delta_ms, reverse=True)[:3]:
        share = r.delta_ms / gross
        parts.append(_said(r, share, d.rows, int8_layers))
        said += share
        if said >= 0.9:
            break
    head = (
        f"{d.ratio:.2f}x the parent's time per call on {d.engine} at batch {d.batch_size} "
        f"({ms_text(d.parent_ms)} -> {ms_text(d.child_ms)} ms): of the {ms_text(gross)} ms added, "
    )
    return head + ", ".join(parts)
