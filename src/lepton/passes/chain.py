"""Apply passes one after another, reusing every step a previous call already built."""

from __future__ import annotations

from collections.abc import Sequence

from lepton.ir.artifact import Artifact
from lepton.passes.base import Pass, PassContext


def cached(artifact: Artifact, p: Pass, ctx: PassContext) -> Artifact | None:
    """The artifact ``p`` made from ``artifact`` with the same params (and context data) before, if stored."""
    return ctx.store.find_cached(artifact.id, p.name, p.cache_params(artifact, ctx))


def apply_chain(artifact: Artifact, passes: Sequence[Pass], ctx: PassContext) -> Artifact:
    """Run ``passes`` in order; each step is cached by (parent id, pass name, params).

    Raises NotApplicable (with the pass name) or PassError from the first step that fails.
    """
    current = artifact
    for p in passes:
        hit = cached(current, p, ctx)
        current = hit if hit is not None else p.apply(current, ctx)
    return current


def describe(passes: Sequence[Pass]) -> str:
    """A one-line label for a chain: ``fuse-transformer > quantize-dynamic(per_channel=True)``."""
    return " > ".join(repr(p) for p in passes) or "baseline"
