"""What an engine's own profiler says one call spends, node by node: the ``OpProfile`` contract.

Each engine fills it from its own profiler (``Engine.profile``): ONNX Runtime's profiling JSON (node events with
their op type), OpenVINO's per-layer performance counters (``PERF_COUNT``: layer type and the primitive it ran,
brgemm/AMX, jit, ref), PyTorch's profiler for the eager baseline (top-level aten ops, grouped by module).

The calls that are profiled are also timed from outside (``wall_ms``: the mean wall time of exactly those calls),
so a breakdown can say how much of the time the kernels account for (``covered``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from lepton.contract import Contract

Feeds = Mapping[str, np.ndarray]


class OpTime(Contract):
    """One node of the executed graph, its mean time per call.

    ``node``: the node's name as the engine ran it (ORT and OpenVINO keep the ONNX names where they do not fuse);
    ``op_type``: its operator (ONNX op type, OpenVINO layer type, aten op); ``kernel``: the primitive that ran
    it where the engine says (OpenVINO ``brgemm_avx512_amx``, ``jit_avx512``, ``ref``; ORT its provider);
    ``layer``: the module it belongs to where the engine knows (torch), else empty (grouped by name later).
    """

    node: str
    op_type: str
    kernel: str = ""
    layer: str = ""
    ms: float
    precision: str = ""  # the precision it ran in, where the engine says (OpenVINO: i8, u8, f32, bf16)


class OpProfile(Contract):
    """A profiled variant: every node's mean time per call over ``runs`` calls after ``warmup``."""

    engine: str
    runs: int
    batch_size: int
    wall_ms: float  # mean wall time of the profiled calls, timed around the engine's run
    ops: tuple[OpTime, ...]
    # mean time of a call inside the engine where its profiler says (ORT's ``model_run`` event): what is outside the
    # nodes splits into the engine's own work between nodes and the call around it (binding, input/output copies)
    engine_ms: float | None = None

    @property
    def kernel_ms(self) -> float:
        """What the nodes account for per call."""
        return float(sum(o.ms for o in self.ops))

    @property
    def between_nodes_ms(self) -> float | None:
        """Time inside the engine's run but in no node (its executor: allocations, fences), where it says."""
        return max(0.0, self.engine_ms - self.kernel_ms) if self.engine_ms is not None else None

    @property
    def around_call_ms(self) -> float | None:
        """Time of a call outside the engine's run (language binding, input and output copies), where it says."""
        return max(0.0, self.wall_ms - self.engine_ms) if self.engine_ms is not None else None

    @property
    def covered(self) -> float:
        """The nodes' time as a fraction of the wall time (1.0: every millisecond is in some node)."""
        return self.kernel_ms / self.wall_ms if self.wall_ms > 0 else 0.0


def timed_calls(call: Callable[[], object], warmup: int, runs: int) -> list[float]:
    """Run ``call`` ``warmup`` times untimed, then ``runs`` times, each timed; returns milliseconds."""
    for _ in range(warmup):
        call()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        call()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def mean_per_call(items: Sequence[tuple[tuple[str, str, str, str, str], float]], runs: int) -> tuple[OpTime, ...]:
    """Sum the times of ``(node, op_type, kernel, layer, precision) -> ms`` events over ``runs`` calls into one
    ``OpTime`` per node, the mean per call, in the order nodes first ran."""
    totals: dict[tuple[str, str, str, str, str], float] = {}
    for key, ms in items:
        totals[key] = totals.get(key, 0.0) + ms
    return tuple(
        OpTime(node=n, op_type=o, kernel=k, layer=layer, precision=p, ms=ms / runs)
        for (n, o, k, layer, p), ms in totals.items()
    )
