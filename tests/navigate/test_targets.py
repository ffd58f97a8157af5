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
    ],
)
def test_slo_forms(text: str, slo: Slo) -> None:
    assert parse_slo(text) == slo


@pytest.mark.parametrize("text", ["p95>20ms", "fast", "p95<=-1ms", "p95<=0ms", "p97<=3ms"])
def test_bad_slo_says_how_to_write_it(text: str) -> None:
    with pytest.raises(UserError, match="--slo"):
        parse_slo(text)


def test_target_validation() -> None:
    with pytest.raises(UserError, match="--objective"):
        Targets(objective="vibes")
    with pytest.raises(UserError, match="--max-drop"):
        Targets(max_drop=5)
    with pytest.raises(UserError, match="give --qps"):
        Targets(budget=100)


def record(p95: float, drop: float, month: float | None = None, batch: int = 1) -> Trial:
    return trial("t1", p95=p95, drop=drop, month=month, batch=batch, qps=100)


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
