from __future__ import annotations

import pytest
from trials import trial

from lepton.errors import UserError
from lepton.measure.trial import Trial
from lepton.navigate.targets import Slo, Targets, parse_slo, violations


@pytest.mark.parametrize(
    ("text", "slo"),
    [
        ("p95<=20ms", Slo("p95", 20.0, None)),
        ("P99 <= 0.1s", Slo("p99", 100.0, None)),
        ("p50<=7.5", Slo("p50", 7.5, None)),
        ("p95<=20ms@8", Slo("p95", 20.0, 8)),
        ("p95<=20ms @ batch=4", Slo("p95", 20.0, 4)),
        ("p99.9<=0.1s", Slo("p99.9", 100.0, None)),
        ("p97<3ms", Slo("p97", 3.0, None)),
        ("p95.0<=20ms", Slo("p95", 20.0, None)),
        ("p0.5<=1ms", Slo("p0.5", 1.0, None)),
        ("mean<=5ms@16", Slo("mean", 5.0, 16)),
        ("MEAN <= .5s", Slo("mean", 500.0, None)),
    ],
)
def test_slo_forms(text: str, slo: Slo) -> None:
    assert parse_slo(text) == slo
    assert parse_slo(slo.text) == slo  # what is written back (reports, serve's config) reads the same


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("p95>20ms", "cannot read"),
        ("fast", "cannot read"),
        ("p95<=-1ms", "cannot read"),
        ("p95<=20us", "cannot read"),
        ("p95<=20ms@", "cannot read"),
        ("max<=20ms", "cannot read"),
        ("p95<=0ms", "must be positive"),
        ("p0<=3ms", "between 0 and 100"),
        ("p100<=3ms", "between 0 and 100"),
        ("p95<=20ms@0", "batch size after @"),
    ],
)
def test_bad_slo_says_what_and_how_to_write_it(text: str, why: str) -> None:
    with pytest.raises(UserError, match=why) as info:
        parse_slo(text)
    message = str(info.value)
    assert message.startswith("--slo: ") and "Example: --slo 'p95<=20ms'" in message and "\n" not in message


def test_slo_gives_serve_its_quantile_and_seconds() -> None:
    p999, mean = parse_slo("p99.9<=0.1s@8"), parse_slo("mean<=5ms")

    assert (p999.percentile, p999.quantile, p999.seconds, p999.batch_size) == (99.9, pytest.approx(0.999), 0.1, 8)
    assert (mean.percentile, mean.quantile, mean.seconds) == (None, None, 0.005)
    assert str(p999) == "p99.9<=100ms@8"


def test_target_validation() -> None:
    with pytest.raises(UserError, match="--objective"):
        Targets(objective="vibes")
    with pytest.raises(UserError, match="--max-drop"):
        Targets(max_drop=5)
    with pytest.raises(UserError, match="give --qps"):
        Targets(budget=100)


def record(p95: float, drop: float, month: float | None = None, batch: int = 1) -> Trial:
    t = trial("t1", p95=p95, drop=drop, month=month, batch=batch, qps=100)
    return t.with_(latency_ms=t.latency.with_(percentiles={"p99.9": p95 * 1.5}, mean=p95 / 1.8))


def test_violations_name_each_broken_target() -> None:
    t = Targets(parse_slo("p95<=20ms"), max_drop=0.01, qps=100, budget=50)
    assert violations(record(10, 0.0, 40), t, 1) == []
    v = violations(record(25, 0.02, 60), t, 1)
    assert v == [
        "p95 25.0 ms > 20 ms at batch 1",
        "quality drop 0.0200 > 0.01",
        "$60/month > budget $50 at 100 req/s",
    ]
    # the SLO is stated at a batch size: a batch-32 record is not judged on it
    assert violations(record(250, 0.0, 40, batch=32), t, 1) == []


def test_violations_judge_any_percentile_or_the_mean() -> None:
    r = record(10, 0.0)

    assert violations(r, Targets(parse_slo("p99.9<=14ms")), 1) == ["p99.9 15.0 ms > 14 ms at batch 1"]
    assert violations(r, Targets(parse_slo("p99.9<=16ms")), 1) == []
    assert violations(r, Targets(parse_slo("mean<=5ms")), 1) == ["mean 5.6 ms > 5 ms at batch 1"]
