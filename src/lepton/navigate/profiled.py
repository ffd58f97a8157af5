"""Profiling a variant beside its parent: the op-type diff that says why a variant came out slower.

``lepton explain`` and the optimize verdict share it: the two artifacts run under the same engine, runtime settings
and inputs, each under the engine's own profiler (``Engine.profile``), and ``measure.op_diff`` compares them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from lepton.engines.base import ENGINES, RuntimeConfig
from lepton.engines.profile import OpProfile
from lepton.errors import LeptonError
from lepton.ir.artifact import Artifact
from lepton.measure.interference import Watch
from lepton.measure.op_diff import OpDiff, diff_profiles
from lepton.measure.trial import Trial
from lepton.store.store import Store

QUICK_RUNS = 5  # profiled calls per model when the verdict asks why a variant is slower (after one warm-up)


def profile_artifact(
    artifact: Artifact, engine: str, config: RuntimeConfig, feeds: Mapping[str, np.ndarray], runs: int, warmup: int = 1
) -> OpProfile:
    """``artifact`` under ``engine``'s own profiler with ``config`` on ``feeds``."""
    return ENGINES.get(engine)().profile(artifact, config, feeds, runs=runs, warmup=warmup)


def profile_pair(
    parent: Artifact,
    child: Artifact,
    engine: str,
    config: RuntimeConfig,
    feeds: Mapping[str, np.ndarray],
    runs: int = QUICK_RUNS,
) -> tuple[OpProfile, OpProfile, OpDiff]:
    """Both artifacts profiled the same way (parent first), and their diff."""
    before = profile_artifact(parent, engine, config, feeds, runs)
    after = profile_artifact(child, engine, config, feeds, runs)
    return before, after, diff_profiles(before, after)


def cause_from_profiles(
    store: Store, batch_of: Callable[[int], Mapping[str, np.ndarray]], runs: int = QUICK_RUNS
) -> Callable[[Trial, Trial], str | None]:
    """A function (child trial, parent trial) -> the measured reason the child is slower (None when profiling
    does not show it slower, or the engine cannot be profiled): what ``navigate.explain.slower_notes`` cites."""

    def cause(child: Trial, parent: Trial) -> str | None:
        if child.hardware_kind is not None:  # measured on a node of a cluster: profiling here would not say
            return None
        watch = Watch()
        try:
            feeds = batch_of(child.batch_size)
            watch.start_block()
            _, _, diff = profile_pair(
                store.artifact(parent.artifact_id),
                store.artifact(child.artifact_id),
                child.engine,
                child.runtime,
                feeds,
                runs,
            )
        except LeptonError:
            return None
        watch.end_block()
        disturbed = watch.disturbance()
        if diff.reason and disturbed is not None:  # a reason from disturbed timings is said as such
            return f"{diff.reason} (NOT A FACT, {disturbed.text})"
        return diff.reason

    return cause
