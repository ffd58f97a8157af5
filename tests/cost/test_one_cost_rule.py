"""One $/1M and replica rule (``cost.model``) and one ``--qps`` check (``options.positive_qps``): the live
metrics, the Ray replica plan, the price model and every face that takes ``--qps`` agree."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lepton.cost.catalog import PricePoint
from lepton.cost.model import estimate_cost
from lepton.distributed.serving import plan_replicas
from lepton.engines.base import RuntimeConfig
from lepton.errors import UserError
from lepton.ir.artifact import Artifact
from lepton.measure.bench import BenchOptions
from lepton.measure.prediction import Prediction
from lepton.navigate.deployment import Deployment
from lepton.navigate.targets import Targets
from lepton.serve.config import ServeConfig
from lepton.serve.metrics import ModelStats
from lepton.serve.refs import ResolvedModel

PRICE = PricePoint("test", 0.36, "test", "given")


@pytest.mark.parametrize("rate", [100.0, 37.5, 2500.0])
def test_the_live_cost_per_million_is_the_price_models(rate: float) -> None:
    stats = ModelStats(PRICE.usd_per_hour, Prediction())
    stats.current.rows = int(rate * 2)
    point = stats.roll(now=0.0, elapsed=2.0)
    assert point.usd_per_1m == round(estimate_cost(rate, PRICE).usd_per_1m, 6)


@pytest.mark.parametrize(("qps", "capacity"), [(500.0, 100.0), (80.0, 100.0), (81.0, 100.0), (0.5, 3.0)])
def test_the_ray_replica_plan_is_the_price_models(qps: float, capacity: float, tiny_artifact: Artifact) -> None:
    d = Deployment(artifact_id=tiny_artifact.id, throughput_per_s=capacity)
    model = ResolvedModel("mlp", tiny_artifact, RuntimeConfig(intra_op_threads=1), deployment=d)
    plan = plan_replicas(ServeConfig(), [model], qps)
    assert plan.min_replicas == estimate_cost(capacity, PRICE, qps=qps).replicas


CHECKS: dict[str, Callable[[float], object]] = {
    "optimize": lambda q: Targets(qps=q),
    "bench": lambda q: BenchOptions.build(qps=q),
    "cost": lambda q: estimate_cost(100.0, PRICE, qps=q),
}


@pytest.mark.parametrize("face", list(CHECKS))
@pytest.mark.parametrize("qps", [0.0, -3.0, float("nan")])
def test_every_face_refuses_a_non_positive_qps_with_one_message(face: str, qps: float) -> None:
    with pytest.raises(UserError, match=r"^--qps must be a number > 0 \(requests/s\); got "):
        CHECKS[face](qps)


def test_serve_on_ray_refuses_a_non_positive_qps_with_the_same_message(tiny_artifact: Artifact) -> None:
    model = ResolvedModel("mlp", tiny_artifact, RuntimeConfig(), deployment=None)
    with pytest.raises(UserError, match=r"^--qps must be a number > 0 \(requests/s\); got 0"):
        plan_replicas(ServeConfig(), [model], 0.0)
