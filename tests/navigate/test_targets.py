from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trials import trial

from lepton.errors import UserError
from lepton.navigate.judged import JudgedTrial
from lepton.navigate.targets import Targets, violations
from lepton.slo import Slo, parse_slo


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
        ("mean<=1000000ms", Slo("mean", 1e6, None)),  # written back without an exponent
        ("p12.345678<=.123456789s", Slo("p12.345678", 123.456789, None)),
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
        ("p95<=9999999999999999s", "at most 1000000000000 ms"),
        ("p٩٥<=20ms", "cannot read"),  # ASCII digits only
    ],
)
def test_bad_slo_says_what_and_how_to_write_it(text: str, why: str) -> None:
    with pytest.raises(UserError, match=why) as info:
        parse_slo(text)
    message = str(info.value)
    assert message.startswith("--slo: ") and "Example: --slo 'p95<=20ms'" in message and "\n" not in message


def test_slo_gives_serve_its_quantile_and_seconds() -> None:
    p999, mean = parse_slo("p99.9<=0.1s@8"), parse_slo("mean<=5ms")

    assert (p999.percentile, p999.seconds, p999.batch_size) == (99.9, 0.1, 8) and p999.quantile == pytest.approx(0.999)
    assert (mean.percentile, mean.quantile, mean.seconds) == (None, None, 0.005)
    assert str(p999) == "p99.9<=100ms@8"


def test_target_validation() -> None:
    with pytest.raises(UserError, match="--objective"):
        Targets(objective="vibes")
    with pytest.raises(UserError, match="--max-drop"):
        Targets(max_drop=5)
    with pytest.raises(UserError, match="give --qps"):
        Targets(budget=100)


def record(p95: float, drop: float, month: float | None = None, batch: int = 1) -> JudgedTrial:
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


# -- property-based: the one grammar, for any text --------------------------------------------------
SLOISH = "pP0123456789.<=>@ msMSbatchmean="


@settings(max_examples=500, deadline=None, database=None)
@given(st.one_of(st.text(max_size=40), st.text(alphabet=SLOISH, max_size=30)))
def test_any_slo_text_reads_as_a_valid_slo_or_gets_one_line(text: str) -> None:
    try:
        slo = parse_slo(text)
    except UserError as e:
        message = str(e)
        assert message.startswith("--slo: ") and "\n" not in message and "Example: --slo 'p95<=20ms'" in message
        return
    assert slo.metric == "mean" or 0 < float(slo.metric[1:]) < 100
    assert 0 < slo.max_ms < float("inf") and slo.seconds == slo.max_ms / 1000
    assert slo.batch_size is None or 1 <= slo.batch_size <= 65536
    assert parse_slo(slo.text) == slo


@settings(max_examples=300, deadline=None, database=None)
@given(
    whole=st.integers(1, 99),
    tenths=st.one_of(st.none(), st.integers(0, 9)),
    mean=st.booleans(),
    value=st.integers(1, 10**6),
    unit=st.sampled_from(["ms", "s", "", "MS"]),
    batch=st.one_of(st.none(), st.integers(1, 65536)),
    space=st.sampled_from(["", " "]),
)
def test_every_slo_written_in_the_grammar_reads_back(
    whole: int, tenths: int | None, mean: bool, value: int, unit: str, batch: int | None, space: str
) -> None:
    q = whole + (tenths or 0) / 10
    metric = "mean" if mean else (f"p{whole}" if tenths is None else f"p{whole}.{tenths}")
    text = f"{metric}{space}<={space}{value}{unit}" + (f"{space}@{space}{batch}" if batch else "")

    slo = parse_slo(text)

    assert slo.metric == ("mean" if mean else f"p{q:g}")
    assert slo.max_ms == value * (1000 if unit == "s" else 1)
    assert slo.batch_size == batch
    assert slo.quantile == (None if mean else q / 100)
