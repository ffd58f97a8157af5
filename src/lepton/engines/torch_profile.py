"""PyTorch's profiler on the eager baseline: top-level aten ops, each under the innermost module that ran it.

Every leaf module (one with no children: a Linear, a Conv2d, a LayerNorm) is wrapped in a ``record_function``
range while profiled, so an op is attributed to its layer; an op is counted where it was called from Python (its
aten children are inside its time), so the op times add up to the time of the forward call.
"""

from __future__ import annotations

from typing import Any

from lepton.engines.base import RuntimeConfig
from lepton.engines.profile import Feeds, OpProfile, mean_per_call, timed_calls
from lepton.ir.artifact import Artifact

_MARK = "lepton.layer::"


def _mark_layers(module: Any) -> list[Any]:
    """Hooks that open a profiler range named after each leaf module around its forward; returns the handles."""
    import torch

    open_ranges: list[Any] = []
    handles = []
    for name, m in module.named_modules():
        if not name or any(True for _ in m.children()):
            continue

        def pre(_m: Any, _args: Any, name: str = name) -> None:
            rf = torch.profiler.record_function(_MARK + name)
            rf.__enter__()
            open_ranges.append(rf)

        def post(_m: Any, _args: Any, _out: Any) -> None:
            if open_ranges:
                open_ranges.pop().__exit__(None, None, None)

        handles += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
    return handles


def profile_torch(artifact: Artifact, config: RuntimeConfig, feeds: Feeds, runs: int, warmup: int) -> OpProfile:
    """``torch.profiler`` over ``runs`` calls of the eager session (after ``warmup``): each top-level op's CPU time
    per call, by op and layer."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from lepton.engines.torch_eager import TorchEagerEngine

    session = TorchEagerEngine().open(artifact, config)
    handles = _mark_layers(session.module)
    try:
        timed_calls(lambda: session.run(feeds), warmup, 0)
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            wall = timed_calls(lambda: session.run(feeds), 0, runs)
    finally:
        for h in handles:
            h.remove()
        session.close()
    items = []
    for e in prof.events():
        if e.name.startswith(_MARK):
            continue
        layer, parent, nested = "", e.cpu_parent, False
        while parent is not None:
            if not parent.name.startswith(_MARK):
                nested = True
                break
            layer = layer or parent.name[len(_MARK) :]
            parent = parent.cpu_parent
        if nested:
            continue
        op = e.name.removeprefix("aten::")
        node = f"{layer}/{op}" if layer else op
        items.append(
            (
                (node, op, "", layer, "f32" if session.precision == "f32" else session.precision),
                e.cpu_time_total / 1000.0,
            )
        )
    batch = next(iter(feeds.values())).shape[0] if feeds else 1
    return OpProfile(
        engine="torch", runs=runs, batch_size=batch, wall_ms=sum(wall) / len(wall), ops=mean_per_call(items, runs)
    )
