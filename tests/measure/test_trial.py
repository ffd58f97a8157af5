from __future__ import annotations

import pytest

from lepton.cost.catalog import PricePoint
from lepton.engines import open_session
from lepton.engines.base import RuntimeConfig
from lepton.errors import EngineUnavailable
from lepton.ir.artifact import Artifact
from lepton.measure.timing import TimingPlan
from lepton.measure.trial import Reference, Trial, TrialSpec, failed_trial, measure_trial, run_all
from lepton.measure.workload import synthesize_workload

PRICE = PricePoint("test", 0.36, "test", "given")
QUICK = TimingPlan(warmup=1, min_runs=20, min_seconds=0.0)


def test_trial_record_on_a_real_onnxruntime_session(tiny_artifact: Artifact) -> None:
    w = synthesize_workload(tiny_artifact, rows=16)
    ref = Reference(outputs=run_all(open_session("onnxruntime", tiny_artifact), w), description="ort")
    rec = measure_trial(
        "t1",
        TrialSpec("onnxruntime", tiny_artifact, RuntimeConfig(batch_size=4)),
        w,
        ref,
        PRICE,
        plan=QUICK,
        qps=1000,
    )
    lat = rec.latency
    assert 0 < lat.p50 <= lat.p95 <= lat.p99
    lo, hi = lat.ci95["mean"]
    assert lo <= lat.mean <= hi
    assert rec.batch_size == 4 and (rec.threads or 0) >= 1
    assert rec.quality.cosine == pytest.approx(1.0)
    assert rec.usd_per_1m == pytest.approx(0.36 / (rec.throughput * 3600) * 1e6, rel=1e-3)
    assert (rec.priced.replicas or 0) >= 1 and (rec.peak_rss_mb or 0) > 0 and (rec.model_mb or 0) > 0
    # the JSON form keeps its published field names, and reads back to the same trial
    j = rec.to_json()
    assert {"latency_ms", "throughput_per_s", "quality", "cost", "runtime"} <= set(j)
    assert Trial.from_json(j) == rec


def test_a_throughput_interval_follows_the_mean_latency_interval(tiny_artifact: Artifact) -> None:
    w = synthesize_workload(tiny_artifact, rows=16)
    ref = Reference(outputs=run_all(open_session("onnxruntime", tiny_artifact), w), description="ort")
    spec = TrialSpec("onnxruntime", tiny_artifact, RuntimeConfig(batch_size=2))
    rec = measure_trial("t1", spec, w, ref, PRICE, plan=QUICK)
    est = rec.throughput_estimate()
    assert est.low <= rec.throughput <= est.high
    assert est.value == pytest.approx(2 * 1000.0 / rec.latency.mean)


def test_a_failed_trial_has_no_figures_and_says_why(tiny_artifact: Artifact) -> None:
    spec = TrialSpec("onnxruntime", tiny_artifact, RuntimeConfig(batch_size=2), variant="broken")
    rec = failed_trial("t9", spec, RuntimeError("kernel missing"))
    j = rec.to_json()
    assert rec.status == "failed" and not rec.measured and "latency_ms" not in j and "cost" not in j
    assert j["error"] == "RuntimeError: kernel missing"
    with pytest.raises(ValueError, match="t9 has no latency"):
        _ = rec.latency


def test_torch_engine_refuses_an_onnx_only_model(tiny_artifact: Artifact) -> None:
    with pytest.raises(EngineUnavailable, match="no PyTorch source"):
        open_session("torch", tiny_artifact)
