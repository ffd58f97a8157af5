from __future__ import annotations

import pytest

from lepton.cost.catalog import PricePoint
from lepton.engines.base import RuntimeConfig
from lepton.errors import EngineUnavailable
from lepton.ir.artifact import Artifact
from lepton.measure.timing import TimingPlan
from lepton.measure.trial import Reference, TrialSpec, measure_trial, run_all
from lepton.measure.workload import synthesize_workload

PRICE = PricePoint("test", 0.36, "test", "given")
QUICK = TimingPlan(warmup=1, min_runs=20, min_seconds=0.0)


def test_trial_record_on_a_real_onnxruntime_session(tiny_artifact: Artifact) -> None:
    w = synthesize_workload(tiny_artifact, rows=16)
    from lepton.engines import open_session

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
    lat = rec["latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"]
    assert rec["batch_size"] == 4 and rec["threads"] >= 1
    assert rec["quality"]["cosine"] == pytest.approx(1.0)
    assert rec["cost"]["usd_per_1m"] == pytest.approx(0.36 / (rec["throughput_per_s"] * 3600) * 1e6, rel=1e-3)
    assert rec["cost"]["replicas"] >= 1 and rec["peak_rss_mb"] > 0 and rec["model_mb"] > 0


def test_torch_engine_refuses_an_onnx_only_model(tiny_artifact: Artifact) -> None:
    from lepton.engines import open_session

    with pytest.raises(EngineUnavailable, match="no PyTorch source"):
        open_session("torch", tiny_artifact)
