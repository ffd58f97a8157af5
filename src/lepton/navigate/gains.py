"""Gains over the baseline: one computation, with a confidence interval on every ratio.

The terminal, the JSON and the HTML report all quote ``OptimizeResult.gains``; nothing else computes a gain.
A ratio's interval combines the two measurements' intervals on the log scale (each side's 95% interval read as
+-1.96 standard errors); it sees only the noise inside this run, so a gain must also clear ``MIN_GAIN`` before
the navigator calls it real (run-to-run drift on shared machines is a few percent).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lepton.measure.timing import Estimate
from lepton.measure.trial import Trial
from lepton.navigate.result import Gain, Ratio

MIN_GAIN = 1.05  # a gain below 5% is within what a rerun on a shared machine moves
_Z = 1.959964


def ratio(better: Estimate, worse: Estimate) -> Ratio:
    """``better / worse`` with its 95% interval (the two measurements taken as independent)."""
    x = better.value / worse.value
    se = math.hypot(_log_se(better), _log_se(worse))
    return Ratio(x=round(x, 3), low=round(x * math.exp(-_Z * se), 3), high=round(x * math.exp(_Z * se), 3))


def _log_se(e: Estimate) -> float:
    if e.low <= 0 or e.high <= 0:
        return 0.0
    return (math.log(e.high) - math.log(e.low)) / (2 * _Z)


def latency_ratio(base: Trial, cand: Trial, metric: str) -> Ratio:
    """Times lower latency (``metric``) of ``cand`` than ``base``."""
    return ratio(base.latency.estimate(metric), cand.latency.estimate(metric))


def capacity_ratio(base: Trial, cand: Trial) -> Ratio:
    """Times more items per second one replica of ``cand`` serves; also times cheaper per 1M (same price)."""
    return ratio(cand.capacity_estimate(), base.capacity_estimate())


def cost_ratio(base: Trial, cand: Trial) -> Ratio:
    """Times cheaper per 1M inferences: the costs' ratio, with the capacity ratio's relative interval."""
    cap = capacity_ratio(base, cand)
    x = base.usd_per_1m / cand.usd_per_1m
    return Ratio(x=round(x, 3), low=round(x * cap.low / cap.x, 3), high=round(x * cap.high / cap.x, 3))


def objective_ratio(base: Trial, cand: Trial, objective: str, slo_metric: str) -> Ratio:
    """The gain that decides a recommendation under ``objective`` (cost, latency or throughput)."""
    if objective == "latency":
        return latency_ratio(base, cand, slo_metric)
    if objective == "throughput":
        return capacity_ratio(base, cand)
    return cost_ratio(base, cand)


def quoted_trial(rec: Trial, trials: Sequence[Trial], batch_size: int) -> Trial | None:
    """The recommended variant's trial quoted at ``batch_size``: its fastest current setting there, a precise
    measurement first (the runtime a server would pick for that batch size)."""
    mine = [
        t
        for t in trials
        if t.artifact_id == rec.artifact_id
        and t.engine == rec.engine
        and t.options_text == rec.options_text
        and t.batch_size == batch_size
        and t.measured
        and t.superseded_by is None
        and t.is_baseline == rec.is_baseline
        and t.hardware_kind == rec.hardware_kind
    ]
    if rec.batch_size == batch_size:
        return rec
    return max(mine, key=lambda t: (t.precise, t.throughput), default=None)


def gain(base: Trial, mine: Trial) -> Gain:
    """``mine`` against ``base`` at ``base``'s batch size: every ratio with its interval."""
    single = ratio(mine.throughput_estimate(), base.throughput_estimate())
    loaded = capacity_ratio(base, mine)
    p50 = latency_ratio(base, mine, "p50")
    cost = cost_ratio(base, mine)
    return Gain(
        batch_size=base.batch_size,
        trial=mine.id,
        baseline_trial=base.id,
        threads=mine.threads,
        throughput_x=loaded.x,
        single_stream_throughput_x=single.x,
        p50_x=p50.x,
        cost_x=cost.x,
        ci95={
            "throughput_x": (loaded.low, loaded.high),
            "single_stream_throughput_x": (single.low, single.high),
            "p50_x": (p50.low, p50.high),
            "cost_x": (cost.low, cost.high),
        },
    )


def gains(rec: Trial, trials: Sequence[Trial]) -> list[Gain]:
    """The recommended variant against the baseline at each batch size both were measured at (on a cluster: the
    baseline on the same kind of machine)."""
    out = []
    baselines = (t for t in trials if t.is_baseline and t.measured and t.superseded_by is None)
    for base in (t for t in baselines if t.hardware_kind == rec.hardware_kind):
        mine = quoted_trial(rec, trials, base.batch_size)
        if mine is None or mine.id == base.id:
            continue
        out.append(gain(base, mine))
    return sorted(out, key=lambda g: g.batch_size)
