"""The verdict: the baseline competes, and a variant must beat it beyond the noise to be recommended."""

from __future__ import annotations

import pytest
from trials import trial

from lepton.engines.base import RuntimeConfig
from lepton.measure.timing import Estimate
from lepton.navigate.gains import MIN_GAIN, gain, gains, ratio
from lepton.navigate.judged import JudgedTrial
from lepton.navigate.recommend import best_one_liner, choose
from lepton.navigate.targets import Targets
from lepton.navigate.verdict import _verdict, best_by_engine, how_to_deploy_one_liner, why_this_engine
from lepton.slo import parse_slo


def base(batch: int = 8, usd: float = 1.0, p95: float = 10.0) -> JudgedTrial:
    return trial("b", usd=usd, p95=p95, batch=batch, role="baseline", engine="torch", variant="pytorch eager fp32")


def test_a_ratio_interval_combines_both_measurements() -> None:
    r = ratio(Estimate(value=200, low=190, high=210), Estimate(value=100, low=95, high=105))
    assert r.x == pytest.approx(2.0) and r.low < 2.0 < r.high
    tight = ratio(Estimate(value=200, low=199, high=201), Estimate(value=100, low=99.5, high=100.5))
    assert tight.high - tight.low < r.high - r.low  # less noise on either side: a narrower interval


def test_a_variant_within_the_noise_of_the_baseline_keeps_the_current_deployment() -> None:
    b = base(usd=1.0)
    close = trial("v", usd=1.0 / 1.03, p95=9.7, batch=8, spread=0.05)  # 1.03x cheaper, wide intervals
    verdict, rec, reason = _verdict(close, [b, close], Targets())
    assert verdict == "keep" and rec.id == "b"
    assert reason.startswith("keep your current deployment: nothing here is faster by more than the noise")
    assert "v" in reason and "1.03x" in reason


def test_a_clear_gain_is_recommended() -> None:
    b = base(usd=1.0)
    fast = trial("v", usd=0.5, p95=5.0, batch=8, throughput=1600.0, spread=0.01)
    verdict, rec, _ = _verdict(fast, [b, fast], Targets())
    assert verdict == "recommend" and rec.id == "v"


def test_a_gain_needs_min_gain_even_with_a_tight_interval() -> None:
    b = base(usd=1.0)
    small = trial("v", usd=1.0 / (MIN_GAIN - 0.02), batch=8, spread=0.001)
    verdict, _, _ = _verdict(small, [b, small], Targets())
    assert verdict == "keep"


def test_the_baseline_can_win_outright() -> None:
    b = base(usd=0.5)
    slower = trial("v", usd=1.0, batch=8)
    best = choose([b, slower], Targets())
    assert best is not None
    verdict, rec, reason = _verdict(best, [b, slower], Targets())
    assert verdict == "keep" and rec.id == "b" and "no variant does better" in reason


def test_a_variant_is_needed_when_the_baseline_misses_the_targets() -> None:
    targets = Targets(parse_slo("p95<=8ms@8"))
    close = trial("v", usd=0.99, p95=7.0, batch=8)
    verdict, rec, _ = _verdict(close, [close], targets)  # the baseline is not feasible at this batch size
    assert verdict == "recommend" and rec.id == "v"


def test_gains_are_quoted_per_batch_size_with_intervals() -> None:
    trials = [base(batch=1, usd=2.0, p95=20.0), base(batch=8, usd=1.0, p95=10.0)]
    trials[0] = trials[0].with_(id="b1")
    rec = trial("v8", usd=0.25, p95=2.5, batch=8, artifact="a", throughput=3200.0)
    at1 = trial("v1", usd=0.5, p95=5.0, batch=1, artifact="a", throughput=200.0)
    out = gains(rec, [*trials, rec, at1])
    assert [g.batch_size for g in out] == [1, 8]
    g8 = out[1]
    assert g8.trial == "v8" and g8.baseline_trial == "b" and g8.cost_x == pytest.approx(4.0)
    for name in ("throughput_x", "single_stream_throughput_x", "p50_x", "cost_x"):
        low, high = g8.ci95[name]
        assert low <= getattr(g8, name) <= high


def test_best_by_engine_names_each_engine_and_its_options() -> None:
    a = trial("a", usd=0.5, engine="onnxruntime")
    b = trial("b", usd=0.4, engine="openvino")
    c = trial("c", usd=0.3, engine="openvino").with_(runtime=b.runtime.__class__(options={"precision": "bf16"}))
    assert best_by_engine([a, b, c], Targets()) == {"onnxruntime": "a", "openvino": "b", "openvino bf16": "c"}


def one_liner_trial(tid: str, options: dict[str, str], usd: float, batch: int = 32, **kw: object) -> JudgedTrial:
    t = trial(tid, usd=usd, batch=batch, engine="torch", artifact="src", variant="fp32", **kw)  # type: ignore[arg-type]
    return t.with_(runtime=RuntimeConfig(intra_op_threads=2, batch_size=batch, options=options))


def test_the_reason_says_the_gain_over_the_best_pytorch_one_liner_with_its_interval() -> None:
    rec = trial("v", usd=0.25, batch=32)
    bf16 = one_liner_trial("p1", {"precision": "bf16"}, usd=0.5)
    int8 = one_liner_trial("p2", {"precision": "int8"}, usd=0.6)
    other_batch = one_liner_trial("p3", {"precision": "bf16"}, usd=0.1, batch=1)
    feasible = [rec, bf16, int8, other_batch]
    text = why_this_engine(rec, feasible, Targets())
    assert "2.00x cheaper per 1M than the best PyTorch one-liner (bf16 autocast, p1) at batch 32 [" in text
    assert "the best on PyTorch" not in text  # the one-liners are quoted as such, not as another engine
    assert best_one_liner(rec, feasible, Targets()) is bf16
    g = gain(bf16, rec)
    assert g.trial == "v" and g.baseline_trial == "p1" and g.cost_x == pytest.approx(2.0)
    assert g.ci95["cost_x"][0] < 2.0 < g.ci95["cost_x"][1]


def test_when_every_one_liner_misses_the_targets_the_reason_says_so() -> None:
    rec = trial("v", usd=0.25, batch=32)
    int8 = one_liner_trial(
        "p2", {"precision": "int8"}, usd=0.2, status="rejected", reasons=("quality drop 0.0580 > 0.01",)
    )
    text = why_this_engine(rec, [rec], Targets(), [rec, int8])
    assert "no PyTorch one-liner meets quality drop <= 0.01 at batch 32" in text and "int8 quantize_dynamic" in text


def test_a_pytorch_one_liner_recommended_has_no_gain_over_itself() -> None:
    bf16 = one_liner_trial("p1", {"precision": "bf16"}, usd=0.5)
    assert best_one_liner(bf16, [bf16, one_liner_trial("p2", {"precision": "int8"}, usd=0.6)], Targets()) is None


def test_a_recommended_one_liner_says_the_line_to_add_to_a_pytorch_deployment() -> None:
    bf16 = one_liner_trial("p1", {"precision": "bf16"}, usd=0.5)
    assert 'torch.autocast("cpu", dtype=torch.bfloat16)' in how_to_deploy_one_liner(bf16)
    assert how_to_deploy_one_liner(trial("v", usd=0.25)) == ""
