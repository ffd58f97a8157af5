"""``optimize`` for a causal LM: its variants x the two GenAI engines x their settings, against PyTorch eager.

The same run as for other models, in the family's own units: every chain of ``LM_SPACE`` is built through the
pass runner (cached), each setting is measured (``measure.generation``: time to first token, time per output
token, tokens/s, $/1M tokens; ``measure.lm_quality``: perplexity, top-1 agreement, greedy match once per variant),
judged against the targets (``--max-drop`` bounds the relative perplexity increase; an SLO bounds the time per
output token), and the result is an ``OptimizeResult`` with the frontier, the recommendation, its gains over the
PyTorch baseline and the ``Deployment`` ``lepton serve NAME:recommended`` loads. A trial's ``latency_ms`` is its
time per output token, ``throughput_per_s`` its decode tokens/s (one stream), ``capacity_per_s`` the output tokens/s
one replica serves (the best of one stream and several decoded together) and ``cost`` its price per 1M output
tokens at that capacity.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lepton.cost.catalog import PriceCatalog, PricePoint
from lepton.engines.base import ENGINES, RuntimeConfig, open_session
from lepton.engines.generation import GenerationSession
from lepton.errors import CandidateError, LeptonError
from lepton.hardware import Hardware, detect_hardware
from lepton.ir.artifact import Artifact
from lepton.measure.generation import GenerationFigures, GenerationPlan, measure_generation
from lepton.measure.interference import Disturbance
from lepton.measure.lm_quality import (
    LmData,
    LmReference,
    lm_quality,
    lm_reference,
    load_lm_data,
    reference_quality,
)
from lepton.measure.memory import PeakRss
from lepton.measure.trial import ChainStep, priced_at
from lepton.navigate.deployment import Deployment
from lepton.navigate.judged import JudgedTrial
from lepton.navigate.options import OptimizeOptions
from lepton.navigate.pareto import pareto_front
from lepton.navigate.result import Gain, OptimizeResult, SearchSummary, Skipped, Verdict
from lepton.navigate.targets import violations
from lepton.passes import PassContext, apply_chain, create
from lepton.progress import Progress
from lepton.store.store import Store

Chain = tuple[tuple[str, dict[str, Any]], ...]
BASELINE_ENGINE = "torch-lm"
_F16 = ("openvino-gguf", {"weights": "f16"})
# The family's search space: the chains tried by default, then those --exhaustive adds.
LM_SPACE: tuple[Chain, ...] = (
    (("genai-build", {"precision": "int8"}),),
    (("genai-build", {"precision": "int4", "algo": "k_quant", "last_matmul_int8": True}),),
    (("genai-build", {"precision": "int4", "algo": "rtn", "block_size": 32, "accuracy_level": 4}),),
    (_F16,),
    (_F16, ("openvino-compress", {"mode": "int8_asym"})),
    (_F16, ("openvino-compress", {"mode": "int4_asym", "group_size": 64, "ratio": 1.0})),
    (("openvino-gguf", {"weights": "source"}),),
)
LM_EXHAUSTIVE: tuple[Chain, ...] = (
    (("genai-build", {"precision": "fp32"}),),
    (("openvino-gguf", {"weights": "q8_0"}),),
    (_F16, ("openvino-compress", {"mode": "int4_asym", "group_size": 128, "ratio": 0.8})),
)


@dataclass
class _Run:
    store: Store
    run_id: str
    artifact: Artifact
    hw: Hardware
    price: PricePoint
    options: OptimizeOptions
    data: LmData
    plan: GenerationPlan
    progress: Progress | None
    trials: list[JudgedTrial]
    reference: LmReference | None = None

    def tell(self, what: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(what, done, total)

    def record(self, trial: JudgedTrial) -> JudgedTrial:
        self.trials.append(trial)
        self.store.add_trial(self.run_id, trial)
        return trial


def optimize_lm(
    artifact: Artifact,
    options: OptimizeOptions,
    *,
    store: Store,
    plan: GenerationPlan | None = None,
    progress: Progress | None = None,
    space: Sequence[Chain] | None = None,
) -> OptimizeResult:
    """Build, measure, judge and recommend causal-LM variants of ``artifact`` (a ``hf-causal`` baseline);
    ``space`` replaces the searched chains (``LM_SPACE``, plus ``LM_EXHAUSTIVE`` with ``--exhaustive``)."""
    from lepton.ir.causal_lm import load_tokenizer, prepended_bos

    t0 = time.perf_counter()
    if artifact.name:
        store.name_model(artifact.name, artifact.id)
    hw = detect_hardware()
    price = PriceCatalog.load().price(hw, instance=options.instance, price_per_hour=options.price_per_hour)
    data = load_lm_data(load_tokenizer(artifact.path), options.data, bos=prepended_bos(artifact.path))
    run_id = store.start_run("optimize", artifact.name, artifact.id)
    store.save_payload(run_id, {"options": options.to_json()})
    run = _Run(store, run_id, artifact, hw, price, options, data, plan or GenerationPlan(), progress, [])
    result: OptimizeResult | None = None
    status = "failed"
    stages: dict[str, float] = {}
    try:
        with _stage(stages, "baseline"):
            base = _measure(run, artifact, BASELINE_ENGINE, RuntimeConfig(), "base (PyTorch eager)", (), baseline=True)
        with _stage(stages, "build"):
            chains = space if space is not None else LM_SPACE + (LM_EXHAUSTIVE if options.exhaustive else ())
            variants, skipped = _build(run, chains)
        settings = [(a, label, chain, rc, e) for a, label, chain, e in variants for rc in _runtime(e, hw)]
        with _stage(stages, "screen"):
            for i, (art, label, chain, rc, engine) in enumerate(settings):
                run.tell(f"measuring {label} on {engine}", i, len(settings))
                _measure(run, art, engine, rc, label, chain)
        result = _conclude(run, base, skipped, len(settings) + 1, stages, t0)
        status = {"recommend": "done", "keep": "done", "no-fit": "no-fit"}[result.verdict]
    finally:
        _finish(run, result, status)
    return result


class _stage:
    def __init__(self, stages: dict[str, float], name: str) -> None:
        self.stages, self.name = stages, name

    def __enter__(self) -> None:
        self.t = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.stages[self.name] = round(time.perf_counter() - self.t, 2)


def _runtime(engine: str, hw: Hardware) -> list[RuntimeConfig]:
    return ENGINES.get(engine)().runtime_options(hw, [1])


def _engine_for(fmt: str) -> str:
    return {"genai-onnx": "ort-genai", "openvino-genai": "openvino-genai"}[fmt]


def _build(
    run: _Run, chains: Sequence[Chain]
) -> tuple[list[tuple[Artifact, str, tuple[ChainStep, ...], str]], list[Skipped]]:
    ctx = PassContext(store=run.store, hardware=run.hw)
    out, skipped = [], []
    for i, chain in enumerate(chains):
        passes = [create(name, **params) for name, params in chain]
        label = passes[-1].title()
        steps = tuple(ChainStep.model_validate({"pass": p.name, "params": p.params.to_json()}) for p in passes)
        run.tell(f"building {label}", i, len(chains))
        try:
            art = apply_chain(run.artifact, passes, ctx)
        except CandidateError as e:
            skipped.append(Skipped(variant=label, chain=steps, reason=str(e)))
            continue
        out.append((art, label, steps, _engine_for(art.format)))
    return out, skipped


def _measure(
    run: _Run,
    art: Artifact,
    engine: str,
    rc: RuntimeConfig,
    label: str,
    chain: tuple[ChainStep, ...],
    *,
    baseline: bool = False,
) -> JudgedTrial:
    """One setting measured (quality once per variant); a failure is a failed trial (a baseline's is raised)."""
    tid = f"t{len(run.trials) + 1}"
    session: GenerationSession | None = None
    known = next(  # quality once per variant and output-changing setting (precision, KV cache)
        (t.quality for t in run.trials if (t.artifact_id, t.runtime.options) == (art.id, rc.options) and t.measured),
        None,
    )
    try:
        with PeakRss() as mem:
            opened = open_session(engine, art, rc)
            assert isinstance(opened, GenerationSession)
            session = opened
            if baseline:
                run.reference = lm_reference(session, run.data, f"{engine} fp32 (dequantized weights)")
                known = reference_quality(run.reference)
            assert run.reference is not None
            quality = known or lm_quality(session, run.data, run.reference)
            figures = measure_generation(session, run.data.windows[0], run.price, run.plan)
    except LeptonError as e:
        if baseline:
            raise
        return run.record(_failed(tid, art, engine, rc, label, chain, e))
    except (RuntimeError, ValueError, OSError) as e:  # a runtime's own error: this candidate failed
        if baseline:
            raise
        return run.record(_failed(tid, art, engine, rc, label, chain, e))
    finally:
        if session is not None:
            session.close()
    ref_ppl = run.reference.perplexity
    drop = max(0.0, (quality.perplexity or ref_ppl) / ref_ppl - 1.0)
    trial = JudgedTrial(
        id=tid,
        role="baseline" if baseline else None,
        engine=engine,
        variant=label,
        artifact_id=art.id,
        batch_size=1,
        threads=ENGINES.get(engine)().threads_used(rc),
        runtime=rc,
        engine_settings=dict(session.settings),
        latency_ms=figures.tpot_ms,
        throughput_per_s=figures.decode_tokens_per_s,
        peak_rss_mb=round(mem.peak_mb, 1),
        rss_delta_mb=round(mem.delta_mb, 1),
        model_mb=round(art.size_mb, 3),
        quality=quality,
        capacity_per_s=figures.capacity_tokens_per_s,
        cost=priced_at(figures.capacity_tokens_per_s, run.price, _load(run.options, figures)),
        chain=chain,
        quality_drop=round(drop, 6),
        disturbed=figures.disturbed,
        generation=figures,
    )
    return run.record(trial)


def _load(options: OptimizeOptions, figures: GenerationFigures) -> float | None:
    """The output tokens/s replicas are sized for: ``--qps`` as given, or ``--streams`` at each stream's measured
    rate (the cost rule's ``replicas_for`` then sizes them)."""
    if options.streams is not None:
        return round(figures.load_at(options.streams), 3)
    return options.targets.qps


def _failed(
    tid: str, art: Artifact, engine: str, rc: RuntimeConfig, label: str, chain: tuple[ChainStep, ...], e: Exception
) -> JudgedTrial:
    return JudgedTrial(
        id=tid,
        status="failed",
        engine=engine,
        variant=label,
        artifact_id=art.id,
        batch_size=1,
        runtime=rc,
        chain=chain,
        error=f"{type(e).__name__}: {e}",
    )


def _objective(objective: str) -> Callable[[JudgedTrial], float]:
    if objective == "latency":
        return lambda t: t.latency.p50
    if objective == "throughput":
        return lambda t: -t.throughput
    return lambda t: t.usd_per_1m


def _conclude(
    run: _Run,
    base: JudgedTrial,
    skipped: list[Skipped],
    candidates: int,
    stages: dict[str, float],
    t0: float,
) -> OptimizeResult:
    targets = run.options.targets
    judged: list[JudgedTrial] = []
    for t in run.trials:
        if t.measured:
            why = violations(t, targets, 1)
            t = t.with_(status="rejected", reasons=tuple(why)) if why else t
            run.store.add_trial(run.run_id, t)
        judged.append(t)
    ok = [t for t in judged if t.status == "ok" and t.measured]
    frontier = pareto_front(ok, [lambda t: t.latency.mean, lambda t: t.usd_per_1m, lambda t: t.quality_drop or 0.0])
    key = _objective(targets.objective)
    rec = min(ok, key=key) if ok else None
    base = next(t for t in judged if t.id == base.id)
    best_by_engine: dict[str, str] = {}
    for t in sorted(ok, key=key):
        best_by_engine.setdefault(t.engine_label, t.id)
    gains = (gain_over(rec, base),) if rec is not None and rec.id != base.id and base.measured else ()
    verdict: Verdict = "no-fit" if rec is None else "keep" if rec.id == base.id else "recommend"
    notes = [
        "time per output token is each trial's latency; cost is USD per 1M output tokens at the serving capacity "
        f"(the best of one stream and {run.plan.streams} concurrent streams)"
    ]
    if run.options.streams is not None:
        notes.append(
            f"replicas are sized for {run.options.streams} concurrent streams, each at the rate it had when the "
            "capacity was measured"
        )
    if any(t.disturbed for t in judged):
        notes.append("some figures were measured while other processes took CPU (flagged disturbed): not facts")
    return OptimizeResult(
        run_id=run.run_id,
        created=time.time(),
        model=run.artifact.summary(),
        hardware=run.hw,
        price=run.price,
        targets=targets,
        workload=f"greedy generation, prompts of {', '.join(map(str, run.plan.prompt_lengths))} tokens, "
        f"{run.plan.new_tokens} new tokens; quality on {run.data.description}",
        reference=run.reference.description if run.reference else "",
        trials=tuple(judged),
        frontier=tuple(t.id for t in frontier),
        recommended=rec.id if rec else None,
        verdict=verdict,
        reason=_reason(rec, base, gains, targets.max_drop) if rec else "no variant meets the targets",
        gains=gains,
        best_by_engine=best_by_engine,
        notes=tuple(notes),
        skipped=tuple(skipped),
        search=SearchSummary(
            strategy="exhaustive",
            candidates=candidates,
            measured=len(judged) - 1,
            precise=0,
            quick=len(judged) - 1,
            seconds=round(time.perf_counter() - t0, 1),
            stages=stages,
        ),
    )


def gain_over(rec: JudgedTrial, base: JudgedTrial) -> Gain:
    """The recommended configuration against the PyTorch baseline: decode tokens/s, time per token, cost and time
    to first token at the shortest prompt (ratios above 1 are gains)."""
    rg, bg = rec.generation, base.generation
    ttft_x = None
    if rg is not None and bg is not None:
        ttft_x = round(bg.ttft[0].ttft_ms.mean / rg.ttft[0].ttft_ms.mean, 3)
    flags = [d for d in (rec.disturbed, base.disturbed) if d is not None]
    return Gain(
        batch_size=1,
        trial=rec.id,
        baseline_trial=base.id,
        threads=rec.threads,
        throughput_x=round(rec.capacity / base.capacity, 3),
        single_stream_throughput_x=round(rec.throughput / base.throughput, 3),
        p50_x=round(base.latency.p50 / rec.latency.p50, 3),
        cost_x=round(base.usd_per_1m / rec.usd_per_1m, 3),
        ttft_x=ttft_x,
        disturbed=Disturbance.merge(flags),
    )


def _reason(rec: JudgedTrial, base: JudgedTrial, gains: Sequence[Gain], max_drop: float) -> str:
    if not gains:
        return "PyTorch eager is the best that meets the targets: keep it"
    g = gains[0]
    ttft = f", {g.ttft_x:.2f}x lower time to first token" if g.ttft_x else ""
    ppl = rec.quality.perplexity
    return (
        f"{rec.variant} on {rec.engine_label}: {g.single_stream_throughput_x:.2f}x PyTorch eager's decode "
        f"tokens/s{ttft}, "
        f"{g.cost_x:.2f}x cheaper per 1M output tokens, perplexity {ppl} (+{(rec.quality_drop or 0):.2%}, "
        f"bound {max_drop:.0%})"
    )


def _finish(run: _Run, result: OptimizeResult | None, status: str) -> None:
    rec = result.recommended_trial if result else None
    deployment = None
    if rec is not None and ENGINES.get(rec.engine).served:
        deployment = Deployment(
            artifact_id=rec.artifact_id,
            engine=rec.engine,
            runtime=rec.runtime,
            throughput_per_s=rec.capacity,
            latency_ms=rec.latency,
            usd_per_1m=rec.usd_per_1m,
            qps=rec.priced.qps,
            replicas=rec.priced.replicas,
        )
    payload = {k: v for k, v in result.to_json().items() if k not in ("trials", "baseline")} if result else {}
    run.store.finish_run(run.run_id, status, {**payload, "options": run.options.to_json()}, deployment)


__all__ = ["LM_SPACE", "optimize_lm"]
