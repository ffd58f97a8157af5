"""The bundled real model through bench and optimize, as `make demo` runs it (marked slow; runs in CI)."""

from __future__ import annotations

from pathlib import Path

import pytest

import lepton
from lepton.measure.timing import TimingPlan
from lepton.serve.refs import resolve_ref
from lepton.store import Store

QUICK = TimingPlan(warmup=1, min_runs=3, min_seconds=0.0, max_seconds=2.0)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("minilm_imported")]  # one export per session


@pytest.fixture
def sentences(tmp_path: Path) -> Path:
    """A few dozen of the bundled real sentences, to keep the quality passes short."""
    from lepton.examples import example_sentences

    path = tmp_path / "sentences.txt"
    path.write_text("\n".join(example_sentences()[::6]))
    return path


def test_bench_minilm_onnxruntime_against_pytorch_eager(sentences: Path) -> None:
    result = lepton.bench(example="minilm", engine=["torch", "onnxruntime"], batch=[1, 4], plan=QUICK, data=sentences)
    d = result.to_json()
    assert [(t["engine"], t["batch_size"]) for t in d["trials"]] == [
        ("torch", 1),
        ("torch", 4),
        ("onnxruntime", 1),
        ("onnxruntime", 4),
    ]
    for t in d["trials"]:
        assert t["status"] == "ok" and 0 < t["latency_ms"]["p50"] <= t["latency_ms"]["p95"] <= t["latency_ms"]["p99"]
        assert t["quality"]["cosine"] > 0.9999  # ONNX Runtime reproduces PyTorch's embeddings
    assert d["model"]["task"] == "embedding" and d["workload"] == str(sentences)


def test_optimize_minilm_recommends_a_faithful_variant() -> None:
    result = lepton.optimize(example="minilm", batch=[1], max_drop=0.01, sensitivity="off", quick=QUICK, precise=QUICK)
    rec = result.recommended_trial
    assert rec is not None, result.closest_miss
    assert result.verdict == "recommend" and not rec.is_baseline, result.reason
    assert (rec.quality.cosine or 0) >= 0.99
    assert result.baseline[0].engine == "torch"
    per_tensor = [t for t in result.trials if t.variant == "fusion + int8 dynamic per-tensor"]
    assert per_tensor and all(t.status == "rejected" for t in per_tensor)  # the quiet fidelity failure is caught
    assert resolve_ref("minilm", Store()).artifact.id == rec.artifact_id
