"""``optimize`` on the real SmolLM2 end to end: variants of both GenAI engines measured against PyTorch eager, a
frontier spanning both engines, a recommendation within the perplexity bound, the same JSON, HTML and stored
``Deployment`` as for other models."""

from __future__ import annotations

from pathlib import Path

import pytest

from lepton.cost.model import replicas_for
from lepton.ir.artifact import Artifact
from lepton.measure.generation import GenerationPlan
from lepton.measure.timing import TimingPlan
from lepton.navigate.deployment import recommended
from lepton.navigate.lm import optimize_lm
from lepton.navigate.options import OptimizeOptions
from lepton.navigate.result import OptimizeResult
from lepton.report.html import write_html
from lepton.resolve import stored_generative
from lepton.serve.generation.backends import Sampling, open_backend
from lepton.serve.generation.layout import GenerationSettings
from lepton.store import Store

SHORT = GenerationPlan(
    prompt_lengths=(16,),
    new_tokens=4,
    streams=2,
    stream_tokens=3,
    timing=TimingPlan(warmup=1, min_runs=2, min_seconds=0.0, max_runs=2, max_seconds=1.0, block_seconds=0.0),
    streams_timing=TimingPlan(warmup=1, min_runs=1, min_seconds=0.0, max_runs=1, max_seconds=1.0, block_seconds=0.0),
)
# One variant per engine, both also built by test_causal_lm (the session's pass cache shares them): the search
# itself is the same code for LM_SPACE's seven chains
F16 = ("openvino-gguf", {"weights": "f16"})
SPACE = ((("genai-build", {"precision": "int8"}),), (F16, ("openvino-compress", {"mode": "int8_asym"})))


@pytest.mark.slow
def test_optimize_builds_a_frontier_spanning_both_engines(smollm2: Artifact, lm_store: Store, tmp_path: Path) -> None:
    options = OptimizeOptions.build(example="smollm2", max_drop=0.02, streams=12)
    result = optimize_lm(smollm2.with_(name="smollm2"), options, store=lm_store, plan=SHORT, space=SPACE)

    engines = {t.engine for t in result.trials if t.measured}
    assert {"torch-lm", "ort-genai", "openvino-genai"} <= engines
    assert {k.split()[0] for k in result.best_by_engine} >= {"ort-genai", "openvino-genai"}
    for t in result.trials:
        if t.measured:
            assert t.generation is not None and t.quality.perplexity is not None
            assert t.cost is not None and t.cost.usd_per_1m == pytest.approx(t.generation.usd_per_1m_output, rel=1e-3)
            # --streams 12: replicas for 12 streams at each stream's measured rate, by the one cost rule
            load = t.generation.load_at(12)
            assert t.cost.qps is not None and t.cost.qps == pytest.approx(load, rel=1e-3)
            assert t.cost.replicas == replicas_for(t.cost.qps, t.capacity)
            if t.engine != "torch-lm":  # both GenAI engines run concurrent streams
                assert t.generation.streams == 2 and t.generation.streams_tpot_ms is not None
            if (t.quality_drop or 0) > 0.02:  # the bound is the relative perplexity increase
                assert t.status == "rejected" and "quality drop" in t.reasons[0]
    assert result.verdict in ("recommend", "keep")
    rec = result.recommended_trial
    assert rec is not None and (rec.quality_drop or 0) <= 0.02 and rec.id in result.frontier
    if result.verdict == "recommend":
        assert result.gains and result.gains[0].ttft_x is not None

    again = OptimizeResult.model_validate_json(result.model_dump_json())  # the --json form reads back
    assert again.trials[1].generation == result.trials[1].generation
    page = write_html(result, tmp_path / "report.html").read_text()
    assert "Generation" in page and "TTFT@16 ms" in page

    stored = recommended(lm_store, "smollm2")  # what `lepton serve smollm2:recommended` loads
    assert stored is not None
    _, deployment = stored
    assert deployment.artifact_id == rec.artifact_id and deployment.engine == rec.engine
    assert lm_store.artifact(deployment.artifact_id).format in ("genai-onnx", "openvino-genai")

    # `lepton serve smollm2:recommended`: the stored variant's folder, opened by the serving backend, generates
    spec = stored_generative("smollm2:recommended", store=lm_store)
    assert spec is not None and spec.path == lm_store.artifact(deployment.artifact_id).path
    assert spec.version == stored[0] and spec.prediction is not None
    assert spec.prediction.usd_per_1m == pytest.approx(deployment.usd_per_1m)
    backend = open_backend(spec, GenerationSettings(max_streams=1, max_waiting=0))
    try:
        backend.add(1, backend.encode("The capital of France is", special=True), Sampling(max_tokens=6, temperature=0))
        tokens: list[int] = []
        for _ in range(50):
            done = [p for p in backend.step() if p.rid == 1]
            tokens += [t for p in done for t in p.tokens]
            if any(p.finish is not None for p in done):
                break
        assert 0 < len(tokens) <= 6 and backend.decode(tokens).strip()
    finally:
        backend.close()
