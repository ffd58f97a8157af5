"""Gains over the baseline: one computation, with a confidence interval on every ratio.

The terminal, the JSON and the HTML report all quote ``OptimizeResult.gains``; nothing else computes a gain.
Where the verification measured the two side by side in alternating blocks (``measure.paired``), a gain is the
median of the per-pair ratios with its order-statistic interval. Otherwise (a cluster's nodes) a ratio's
interval combines the two measurements' intervals on the log scale (each side's 95% interval read as +-1.96
standard errors). Either sees only the noise inside this run, so a gain must also clear ``MIN_GAIN`` before the
navigator calls it real (run-to-run drift on shared machines is a few percent). A gain whose measurements other
processes disturbed carries their ``Disturbance``: it is flagged, never quoted as fact.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from lepton.measure.interference import Disturbance
from lepton.measure.paired import PairedRatios
from lepton.measure.timing import Estimate
from lepton.navigate.judged import JudgedTrial
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


def latency_ratio(base: JudgedTrial, cand: JudgedTrial, metric: str) -> Ratio:
    """Times lower latency (``metric``) of ``cand`` than ``base``."""
    return ratio(base.latency.estimate(metric), cand.latency.estimate(metric))


def capacity_ratio(base: JudgedTrial, cand: JudgedTrial) -> Ratio:
    """Times more items per second one replica of ``cand`` serves; also times cheaper per 1M (same price)."""
    return ratio(cand.capacity_estimate(), base.capacity_estimate())


def cost_ratio(base: JudgedTrial, cand: JudgedTrial, cap: Ratio | None = None) -> Ratio:
    """Times cheaper per 1M inferences: the costs' ratio, with the capacity ratio's relative interval."""
    cap = cap or capacity_ratio(base, cand)
    x = base.usd_per_1m / cand.usd_per_1m
    return Ratio(x=round(x, 3), low=round(x * cap.low / cap.x, 3), high=round(x * cap.high / cap.x, 3))


def objective_ratio(
    base: JudgedTrial, cand: JudgedTrial, objective: str, slo_metric: str, paired: PairedRatios | None = None
) -> Ratio:
    """The gain that decides a recommendation under ``objective`` (cost, latency or throughput); from the two's
    paired comparison where there is one (a p50 objective, capacity and cost)."""
    loaded = _from(paired.loaded) if paired is not None and paired.loaded is not None else None
    if objective == "latency":
        if paired is not None and slo_metric == "p50":
            return _from(paired.p50)
        return latency_ratio(base, cand, slo_metric)
    if objective == "throughput":
        return loaded or capacity_ratio(base, cand)
    return cost_ratio(base, cand, loaded)


def quoted_trial(rec: JudgedTrial, trials: Sequence[JudgedTrial], batch_size: int) -> JudgedTrial | None:
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


def _from(e: Estimate) -> Ratio:
    return Ratio(x=round(e.value, 3), low=round(e.low, 3), high=round(e.high, 3))


Pairings = Mapping[tuple[str, str], PairedRatios]  # (baseline trial id, variant trial id) -> their comparison


def gain(base: JudgedTrial, mine: JudgedTrial, paired: PairedRatios | None = None) -> Gain:
    """``mine`` against ``base`` at ``base``'s batch size: every ratio with its interval, from their paired
    comparison where there is one."""
    if paired is not None:
        single, p50 = _from(paired.single_stream), _from(paired.p50)
        loaded = _from(paired.loaded) if paired.loaded is not None else capacity_ratio(base, mine)
        disturbed = paired.disturbed
    else:
        single = ratio(mine.throughput_estimate(), base.throughput_estimate())
        loaded = capacity_ratio(base, mine)
        p50 = latency_ratio(base, mine, "p50")
        disturbed = Disturbance.merge([d for d in (base.disturbed, mine.disturbed) if d is not None])
    cost = cost_ratio(base, mine, loaded)
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
        pairs=paired.pairs if paired is not None else 0,
        disturbed=disturbed,
    )


def gains(rec: JudgedTrial, trials: Sequence[JudgedTrial], pairings: Pairings | None = None) -> list[Gain]:
    """The recommended variant against the baseline at each batch size both were measured at (on a cluster: the
    baseline on the same kind of machine); from their paired comparison where there is one."""
    out = []
    baselines = (t for t in trials if t.is_baseline and t.measured and t.superseded_by is None)
    for base in (t for t in baselines if t.hardware_kind == rec.hardware_kind):
        mine = quoted_trial(rec, trials, base.batch_size)
        if mine is None or mine.id == base.id:
            continue
        out.append(gain(base, mine, (pairings or {}).get((base.id, mine.id))))
    return sorted(out, key=lambda g: g.batch_size)
