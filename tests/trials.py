"""Build typed ``JudgedTrial`` records for tests of the navigator's rules and the reports (no measuring)."""

from __future__ import annotations

from typing import Any

from lepton.cost.model import CostEstimate
from lepton.engines.base import RuntimeConfig
from lepton.measure.timing import Latency
from lepton.measure.trial import ChainStep
from lepton.navigate.judged import JudgedTrial
from lepton.quality import Quality


def latency(p50: float, p95: float | None = None, p99: float | None = None, spread: float = 0.02) -> Latency:
    """Latency figures with confidence intervals ``spread`` wide on each side."""
    p95 = p95 if p95 is not None else p50 * 1.2
    p99 = p99 if p99 is not None else p95 * 1.1
    mean = (p50 + p95) / 2

    def ci(v: float) -> tuple[float, float]:
        return (round(v * (1 - spread), 6), round(v * (1 + spread), 6))

    return Latency(
        p50=p50,
        p95=p95,
        p99=p99,
        mean=mean,
        min=p50 * 0.9,
        n=100,
        ci95={"p50": ci(p50), "p95": ci(p95), "p99": ci(p99), "mean": ci(mean)},
    )


def trial(
    tid: str,
    *,
    p95: float = 10.0,
    p50: float | None = None,
    usd: float = 1.0,
    drop: float | None = 0.0,
    batch: int = 1,
    threads: int = 2,
    engine: str = "onnxruntime",
    artifact: str | None = None,
    variant: str | None = None,
    throughput: float | None = None,
    capacity: float | None = None,
    month: float | None = None,
    qps: float | None = None,
    cosine: float | None = None,
    accuracy: float | None = None,
    role: str | None = None,
    status: str = "ok",
    chain: tuple[tuple[str, dict[str, Any]], ...] = (),
    parent: str | None = None,
    spread: float = 0.02,
    precise: bool = False,
    **extra: Any,
) -> JudgedTrial:
    """One measured trial; throughput defaults to what ``p50`` implies, cost to ``usd`` per 1M."""
    p50 = p50 if p50 is not None else p95 * 0.8
    lat = latency(p50, p95, spread=spread)
    throughput = throughput if throughput is not None else round(batch * 1000.0 / lat.mean, 3)
    quality = (
        Quality(kind="task", accuracy=accuracy)
        if accuracy is not None
        else Quality(kind="fidelity", cosine=cosine if cosine is not None else 1.0 - (drop or 0.0))
    )
    return JudgedTrial(
        id=tid,
        status=status,  # type: ignore[arg-type]
        role=role,  # type: ignore[arg-type]
        engine=engine,
        variant=variant or f"v{tid}",
        artifact_id=artifact or f"a{tid}",
        batch_size=batch,
        threads=threads,
        runtime=RuntimeConfig(intra_op_threads=threads, batch_size=batch),
        latency_ms=lat,
        throughput_per_s=throughput,
        capacity_per_s=capacity,
        peak_rss_mb=300.0,
        model_mb=20.0,
        quality=quality,
        cost=CostEstimate("aws/c7i.large", 0.089, usd, qps=qps, replicas=1 if qps else None, usd_per_month=month),
        chain=tuple(ChainStep(pass_=name, params=params) for name, params in chain),
        parent_variant=parent,
        quality_drop=drop,
        precise=precise,
        **extra,
    )
