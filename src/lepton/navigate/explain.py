"""Plain-language explanations: hardware notes before a pass runs, causes when a variant comes out slower."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from lepton.hardware import Hardware
from lepton.navigate.judged import JudgedTrial


def hardware_notes(hw: Hardware) -> list[str]:
    """What this machine gains from each precision, said before any variant is tried."""
    notes = []
    if hw.cpu_limit in ("affinity", "cgroup"):  # fewer CPUs than the host has: say so, and what follows
        notes.append(f"CPUs: {hw.cpu_note()}; sessions get {hw.physical_cores} thread(s) unless a setting says")
    if hw.has_gpu:
        notes.append(f"GPU present ({', '.join(hw.gpus)}): fp16/bf16 and int8 kernels run there")
    if hw.int8_accel:
        notes.append(
            f"int8: {hw.int8_accel} present, int8 matrix multiplies use it (signed int8 weights hit the fast kernels)"
        )
    else:
        notes.append("int8: no VNNI/AMX on this CPU; int8 still shrinks the model but may gain little speed")
    if hw.bf16_native:
        notes.append(f"bf16: {hw.bf16_native} present, but ONNX Runtime's CPU provider has few bf16 kernels")
    if hw.fp16_native:
        notes.append(
            f"fp16: {hw.fp16_native} present, but ONNX Runtime's CPU provider runs most fp16 ops through casts"
        )
    elif not hw.has_gpu:
        notes.append("fp16: no native fp16 on this CPU and no GPU: fp16 would only add casts")
    return notes


_CAUSES = {
    "quantize-dynamic": "activations are quantized at run time on every call; on short inputs that overhead can "
    "outweigh the int8 matrix multiplies (and unsigned-int8 weights miss the VNNI kernels)",
    "quantize-static": "QDQ pairs around ops without int8 kernels add Quantize/DequantizeLinear work",
    "fp16": "the CPU provider lacks fp16 kernels for most ops, so Cast nodes convert back and forth",
    "bf16": "the CPU provider lacks bf16 kernels for most ops, so Cast nodes convert back and forth",
    "prune-magnitude": "zeroed weights stay dense: unstructured sparsity saves no work on dense kernels",
    "fuse-transformer": "the fused kernels do not pay at this size, or they block ORT's own fusions",
    "optimize-graph": "the offline-optimized graph fixed a layout that this session would have chosen better",
}


def slower_notes(
    trials: Sequence[JudgedTrial], cause_of: Callable[[JudgedTrial, JudgedTrial], str | None] | None = None
) -> dict[str, str]:
    """One note per variant that came out slower than its parent chain under the same runtime and batch.

    Trials are matched on (variant, engine, threads, batch size, kind of machine); a variant is called slower
    when its median throughput ratio to the parent is below 0.95. ``cause_of(child, parent)`` (the variant's
    slowest setting and its parent's) gives the measured reason where it can (``navigate.profiled``: the
    profilers' op-type diff); the table of likely causes says it otherwise.
    """
    by_key = {(t.variant, t.engine_label, t.threads, t.batch_size, t.hardware_kind): t for t in trials if t.measured}
    ratios: dict[str, list[float]] = {}
    parents: dict[str, str] = {}
    last_pass: dict[str, str] = {}
    worst: dict[str, tuple[float, JudgedTrial, JudgedTrial]] = {}
    for (variant, engine, threads, batch, kind), t in by_key.items():
        parent = by_key.get((t.parent_variant or "", engine, threads, batch, kind))
        if parent is not None:
            ratio = t.throughput / parent.throughput
            ratios.setdefault(variant, []).append(ratio)
            if variant not in worst or ratio < worst[variant][0]:
                worst[variant] = (ratio, t, parent)
            parents[variant] = parent.variant
            last_pass[variant] = t.last_pass or ""
    notes = {}
    for variant, rs in ratios.items():
        median = float(np.median(rs))
        if median >= 0.95:
            continue
        cause = _CAUSES.get(last_pass[variant], "the pass changed the graph in a way this runtime does not reward")
        measured = cause_of(*worst[variant][1:]) if cause_of is not None else None
        slower = sum(1 for x in rs if x < 0.95)
        notes[variant] = (
            f"slower than its parent ({parents[variant]}) in {slower} of {len(rs)} settings, median "
            f"{median:.2f}x the throughput. " + (f"Profiled: {measured}" if measured else f"Likely cause: {cause}")
        )
    return notes
