"""Cost arithmetic: USD per 1M inferences, replicas needed at a target QPS, USD per month."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from lepton.cost.catalog import PricePoint
from lepton.errors import UserError

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
    usd_per_1m = price.usd_per_hour / (throughput_per_s * 3600.0) * 1e6
    if qps is None:
        return CostEstimate(price.instance, price.usd_per_hour, usd_per_1m, max_utilization=max_utilization)
    if qps <= 0:
        raise UserError(f"--qps must be positive; got {qps}")
    replicas = max(1, math.ceil(qps / (throughput_per_s * max_utilization) - 1e-9))
    return CostEstimate(
        price.instance,
        price.usd_per_hour,
        usd_per_1m,
        qps=qps,
        replicas=replicas,
        usd_per_month=replicas * price.usd_per_hour * price.hours_per_month,
        max_utilization=max_utilization,
    )
