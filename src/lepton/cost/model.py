"""Cost arithmetic: USD per 1M inferences, replicas needed at a target QPS, USD per month."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from lepton.cost.catalog import PricePoint
from lepton.errors import UserError
from lepton.options import positive_qps

DEFAULT_MAX_UTILIZATION = 0.8  # keep 20% headroom per replica for bursts


@dataclass(frozen=True)
class CostEstimate:
    instance: str
    usd_per_hour: float
    usd_per_1m: float
    qps: float | None = None
    replicas: int | None = None
    usd_per_month: float | None = None
    max_utilization: float = DEFAULT_MAX_UTILIZATION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def usd_per_1m(usd_per_hour: float, throughput_per_s: float) -> float:
    """USD per million inferences of one replica kept busy at ``throughput_per_s`` on a ``usd_per_hour`` machine."""
    return usd_per_hour / (throughput_per_s * 3600.0) * 1e6


def replicas_for(qps: float, throughput_per_s: float, max_utilization: float = DEFAULT_MAX_UTILIZATION) -> int:
    """Replicas that carry ``qps`` with each loaded to at most ``max_utilization`` of its ``throughput_per_s``."""
    positive_qps(qps)
    return max(1, math.ceil(qps / (throughput_per_s * max_utilization) - 1e-9))


def estimate_cost(
    throughput_per_s: float,
    price: PricePoint,
    *,
    qps: float | None = None,
    max_utilization: float = DEFAULT_MAX_UTILIZATION,
) -> CostEstimate:
    """Price a measured throughput (inferences/s of one replica on ``price``'s machine).

    Cost per 1M inferences assumes the replica is kept busy; at a target ``qps`` each replica is loaded
    to at most ``max_utilization`` of its measured throughput, and the month has the price's ``hours_per_month``
    hours (the catalog's).
    """
    if throughput_per_s <= 0:
        raise ValueError(f"throughput must be positive to be priced; got {throughput_per_s}")
    if not 0 < max_utilization <= 1:
        raise UserError(f"max utilization must be in (0, 1]; got {max_utilization}")
    per_1m = usd_per_1m(price.usd_per_hour, throughput_per_s)
    if qps is None:
        return CostEstimate(price.instance, price.usd_per_hour, per_1m, max_utilization=max_utilization)
    replicas = replicas_for(qps, throughput_per_s, max_utilization)
    return CostEstimate(
        price.instance,
        price.usd_per_hour,
        per_1m,
        qps=qps,
        replicas=replicas,
        usd_per_month=replicas * price.usd_per_hour * price.hours_per_month,
        max_utilization=max_utilization,
    )
