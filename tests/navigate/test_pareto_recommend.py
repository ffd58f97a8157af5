from __future__ import annotations

import itertools
import random

from trials import trial

from lepton.navigate.pareto import default_objectives, dominates, pareto_front
from lepton.navigate.recommend import choose, closest_miss, describe, feasible_trials
from lepton.navigate.targets import Targets
from lepton.slo import parse_slo


def test_frontier_is_exactly_the_non_dominated_set() -> None:
    rng = random.Random(0)
    trials = [
        trial(f"t{i}", p95=rng.uniform(1, 50), usd=rng.uniform(0.1, 2), drop=rng.uniform(0, 0.05)) for i in range(60)
    ]
    objs = default_objectives()
    front = pareto_front(trials, objs)
    pts = {t.id: tuple(f(t) for f in objs) for t in trials}
    front_ids = {t.id for t in front}
    for a, b in itertools.permutations(front, 2):
        assert not dominates(pts[a.id], pts[b.id])
    for t in trials:
        if t.id not in front_ids:
            assert any(dominates(pts[f.id], pts[t.id]) for f in front)


def test_choose_by_objective() -> None:
    trials = [trial("t1", p95=10, usd=1.0), trial("t2", p95=5, usd=2.0), trial("t3", p95=30, usd=0.5)]
    t = Targets(parse_slo("p95<=20ms"))
    feasible = feasible_trials(trials, t, 1)
    assert [x.id for x in feasible] == ["t1", "t2"]
    best = choose(feasible, t)
    assert best is not None and best.id == "t1"
    assert "$1.000 per 1M" in describe(best)
    fastest = choose(feasible, Targets(parse_slo("p95<=20ms"), objective="latency"))
    assert fastest is not None and fastest.id == "t2"


def test_a_config_missing_the_slo_at_its_batch_is_out_at_every_batch() -> None:
    slow_b1 = trial("t1", p95=30, batch=1, artifact="a1")
    same_config_b32 = trial("t2", p95=300, usd=0.2, batch=32, artifact="a1")
    assert feasible_trials([slow_b1, same_config_b32], Targets(parse_slo("p95<=20ms")), 1) == []


def test_closest_miss_quotes_the_fastest_and_the_relaxed_recommendation() -> None:
    trials = [trial("t1", p95=14.2, drop=0.001), trial("t2", p95=18.0, usd=0.8, drop=0.001)]
    trials.append(trial("t3", p95=13.0, usd=0.5, drop=0.2))
    miss = closest_miss(trials, Targets(parse_slo("p95<=12ms")), 1)
    assert miss.text.startswith("p95<=12ms is met by nothing; the fastest is 14.2 ms")
    assert "with p95<=15ms" in miss.text and miss.would_recommend == "t1"
