from __future__ import annotations

import itertools
import random

from lepton.navigate.pareto import default_objectives, dominates, pareto_front
from lepton.navigate.recommend import choose, closest_miss, feasible_records
from lepton.navigate.targets import Targets, parse_slo


def rec(i: int, p95: float, usd: float, drop: float, batch: int = 1, threads: int = 2) -> dict:
    return {
        "id": f"t{i}",
        "status": "ok",
        "variant": f"v{i}",
        "engine": "onnxruntime",
        "artifact_id": f"a{i}",
        "threads": threads,
        "batch_size": batch,
        "throughput_per_s": 100.0,
        "latency_ms": {"p50": p95 * 0.8, "p95": p95, "p99": p95 * 1.1},
        "quality": {"cosine": 1 - drop},
        "quality_drop": drop,
        "cost": {"usd_per_1m": usd, "usd_per_month": None},
    }


def test_frontier_is_exactly_the_non_dominated_set() -> None:
    rng = random.Random(0)
    records = [rec(i, rng.uniform(1, 50), rng.uniform(0.1, 2), rng.uniform(0, 0.05)) for i in range(60)]
    objs = default_objectives()
    front = pareto_front(records, objs)
    pts = {r["id"]: tuple(f(r) for f in objs) for r in records}
    front_ids = {r["id"] for r in front}
    for a, b in itertools.permutations(front, 2):
        assert not dominates(pts[a["id"]], pts[b["id"]])
    for r in records:
        if r["id"] not in front_ids:
            assert any(dominates(pts[f["id"]], pts[r["id"]]) for f in front)


def test_choose_by_objective_with_a_reason() -> None:
    records = [rec(1, 10, 1.0, 0.001), rec(2, 5, 2.0, 0.001), rec(3, 30, 0.5, 0.001)]
    t = Targets(parse_slo("p95<=20ms"))
    feasible = feasible_records(records, t, 1)
    assert [r["id"] for r in feasible] == ["t1", "t2"]
    best, reason = choose(feasible, t)
    assert best is not None and best["id"] == "t1"
    assert "cheapest that meets p95<=20ms" in reason and "$1.000 per 1M" in reason
    best, reason = choose(feasible, Targets(parse_slo("p95<=20ms"), objective="latency"))
    assert best is not None and best["id"] == "t2" and "fastest" in reason


def test_a_config_missing_the_slo_at_its_batch_is_out_at_every_batch() -> None:
    slow_b1 = rec(1, 30, 1.0, 0.0, batch=1)
    same_config_b32 = {**rec(2, 300, 0.2, 0.0, batch=32), "artifact_id": "a1"}
    assert feasible_records([slow_b1, same_config_b32], Targets(parse_slo("p95<=20ms")), 1) == []


def test_closest_miss_quotes_the_fastest_and_the_relaxed_recommendation() -> None:
    records = [rec(1, 14.2, 1.0, 0.001), rec(2, 18.0, 0.8, 0.001), rec(3, 13.0, 0.5, 0.2)]
    miss = closest_miss(records, Targets(parse_slo("p95<=12ms")), 1)
    assert miss["text"].startswith("p95<=12ms is met by nothing; the fastest is 14.2 ms")
    assert "with p95<=15ms" in miss["text"] and miss["would_recommend"] == "t1"
