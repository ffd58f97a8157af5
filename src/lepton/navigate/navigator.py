"""``optimize``: build every candidate, screen it cheaply, measure the frontier precisely, recommend one."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lepton.api import Progress, make_workload, model_info, reference_for, resolve_model
from lepton.cost.catalog import PriceCatalog
from lepton.cost.hardware import detect_hardware
from lepton.cost.model import estimate_cost
from lepton.engines.base import ENGINES, RuntimeConfig, open_session
from lepton.errors import CandidateError, LeptonError, UserError
from lepton.ir.artifact import Artifact
from lepton.measure.quality import primary_metric
from lepton.measure.timing import TimingPlan, measure_concurrent
from lepton.measure.trial import Reference, TrialSpec, failed_trial, measure_trial, quality_of, run_all
from lepton.measure.workload import Workload
from lepton.navigate.explain import hardware_notes, slower_notes
from lepton.navigate.pareto import default_objectives, pareto_front
from lepton.navigate.recommend import choose, closest_miss, config_key, feasible_records
from lepton.navigate.space import Candidate, candidates, chain_label, runtime_options
from lepton.navigate.targets import Targets, violations
from lepton.passes import PassContext, apply_chain
from lepton.store.store import Store

NEAR_FRONTIER = 0.15  # candidates within 15% of the quick frontier get a precise measurement


@dataclass
class OptimizeResult:
    """The same object the CLI prints and ``--json`` writes."""

    data: dict[str, Any]
    exit_code: int = 0

    @property
    def recommended(self) -> dict[str, Any] | None:
        rid = self.data.get("recommended")
        return next((t for t in self.data["trials"] if t["id"] == rid), None)

    @property
    def frontier(self) -> list[dict[str, Any]]:
        ids = set(self.data.get("frontier", []))
        return [t for t in self.data["trials"] if t["id"] in ids]

    @property
    def reason(self) -> str:
        return str(self.data.get("reason", ""))

    def to_json(self) -> dict[str, Any]:
        return self.data


@dataclass
class _Run:
    """Mutable state of one optimize run."""

    store: Store
    run_id: str
    workload: Workload
    reference: Reference
    targets: Targets
    price: Any
    quick: TimingPlan
    precise: TimingPlan
    slo_batch: int
    base_quality: float | None
    records: list[dict[str, Any]] = field(default_factory=list)
    quality_cache: dict[str, dict[str, Any]] = field(default_factory=dict)

    def next_id(self) -> str:
        return f"t{len(self.records) + 1}"

    def save(self, record: dict[str, Any]) -> None:
        self.store.add_trial(self.run_id, record)


def _quality(run: _Run, art: Artifact) -> dict[str, Any]:
    if art.id not in run.quality_cache:
        session = open_session("onnxruntime", art, RuntimeConfig())
        try:
            run.quality_cache[art.id] = quality_of(art.task, run_all(session, run.workload), run.reference)
        finally:
            session.close()
    return run.quality_cache[art.id]


def _drop(run: _Run, quality: Mapping[str, Any]) -> float | None:
    if run.base_quality is None or not quality:
        return None
    _, value, higher = primary_metric("", dict(quality))
    d = run.base_quality - value if higher else value - run.base_quality
    if not higher and run.base_quality:
        d = d / abs(run.base_quality)  # an error metric's drop is relative
    return round(max(0.0, d), 6)


def _stop_early(run: _Run, batch: int) -> Any:
    """Abandon timing once the first runs already miss the SLO by 50%."""
    slo = run.targets.slo
    if slo is None or batch != run.slo_batch:
        return None
    import numpy as np

    return lambda samples: len(samples) >= 5 and float(np.median(samples)) > 1.5 * slo.max_ms


def _measure(
    run: _Run,
    cand: Candidate,
    art: Artifact,
    rc: RuntimeConfig,
    engine: str = "onnxruntime",
    plan: TimingPlan | None = None,
    with_concurrency: bool = False,
) -> dict[str, Any]:
    rid = run.next_id()
    extra = {"chain": cand.chain, "parent_variant": cand.parent}
    spec = TrialSpec(engine, art, rc, variant=cand.label, extra=extra)
    try:
        quality = _quality(run, art) if engine == "onnxruntime" else None
        rec = measure_trial(
            rid,
            spec,
            run.workload,
            run.reference,
            run.price,
            plan=plan or run.quick,
            qps=run.targets.qps,
            quality=quality,
            stop_early=_stop_early(run, rc.batch_size),
        )
    except CandidateError as e:
        rec = failed_trial(rid, spec, e)
    except LeptonError:
        raise
    except Exception as e:  # noqa: BLE001  an engine crash on one candidate must not end the search
        rec = failed_trial(rid, spec, e)
    if rec["status"] == "ok":
        rec["quality_drop"] = _drop(run, rec["quality"])
        rec["precise"] = plan is run.precise
        if with_concurrency:
            _add_concurrency(run, rec, art, rc, engine)
    run.records.append(rec)
    run.save(rec)
    return rec


def _add_concurrency(run: _Run, rec: dict[str, Any], art: Artifact, rc: RuntimeConfig, engine: str) -> None:
    """Throughput with several callers sharing one session, as the server runs it; cost follows capacity."""
    callers = 4 if rc.batch_size == 1 else 2
    mean_ms = rec["latency_ms"]["mean"]
    requests = int(min(400, max(callers * 4, 2000 / max(mean_ms, 0.01))))
    session = open_session(engine, art, rc)
    try:
        stats = measure_concurrent(
            session.run, run.workload.batches(rc.batch_size, 4), callers=callers, requests=requests
        )
    finally:
        session.close()
    rec["concurrent"] = stats.to_json()
    capacity = max(rec["throughput_per_s"], stats.throughput_per_s)
    rec["capacity_per_s"] = round(capacity, 3)
    cost = estimate_cost(capacity, run.price, qps=run.targets.qps).to_json()
    rec["cost"] = {k: (float(f"{v:.6g}") if isinstance(v, float) else v) for k, v in cost.items()}


def optimize(
    model: Any = None,
    *,
    example: str | None = None,
    data: str | Path | None = None,
    shapes: Mapping[str, Sequence[int]] | None = None,
    targets: Targets | None = None,
    batch_sizes: Sequence[int] | None = None,
    trials: int = 80,
    time_budget: float | None = None,
    instance: str | None = None,
    price_per_hour: float | None = None,
    quick: TimingPlan | None = None,
    precise: TimingPlan | None = None,
    store: Store | None = None,
    progress: Progress | None = None,
    html: str | Path | None = None,
    sensitivity: str = "auto",
) -> OptimizeResult:
    """Find every worthwhile variant of a model, measure it for real, price it, and recommend one.

    ``sensitivity``: "auto" ranks int8 nodes by sensitivity and keeps the worst in float only when a faster
    int8 variant misses the quality target; "on" always does when int8 applies; "off" never.
    """
    if sensitivity not in ("auto", "on", "off"):
        raise UserError(f"--sensitivity must be auto, on or off; got {sensitivity!r}")
    sensitivity_info: dict[str, Any] = {}
    t_start = time.perf_counter()
    store = store or Store()
    targets = targets or Targets()
    art = resolve_model(model, example=example, shapes=shapes, store=store)
    if art.name:
        store.name_model(art.name, art.id)
    hw = detect_hardware()
    price = PriceCatalog.load().price(hw, instance=instance, price_per_hour=price_per_hour)
    batches = sorted(set(batch_sizes or ([targets.slo.batch_size] if targets.slo and targets.slo.batch_size else [1])))
    slo_batch = targets.slo.batch_size if targets.slo and targets.slo.batch_size else batches[0]
    if slo_batch not in batches:
        batches = sorted({*batches, slo_batch})
    workload = make_workload(art, data)
    has_torch = ENGINES.get("torch")().unavailable(art) is None
    reference = reference_for(art, workload, ["torch"] if has_torch else ["onnxruntime"])
    base_quality_rec = quality_of(art.task, reference.outputs, reference) if reference.outputs else None
    run = _Run(
        store,
        store.start_run("optimize", art.name, art.id),
        workload,
        reference,
        targets,
        price,
        quick or TimingPlan.quick(),
        precise or TimingPlan(min_runs=40, min_seconds=3.0, max_seconds=15.0),
        slo_batch,
        None,
    )
    if base_quality_rec:
        _, run.base_quality, _ = primary_metric(art.task, base_quality_rec)
    notes = hardware_notes(hw)
    space = candidates(art, hw)
    configs = runtime_options(hw, batches)
    status = "failed"
    data: dict[str, Any] = {}
    steps_total = 2 * len(batches) + len(space) * (1 + len(configs))
    steps = 0

    def tick(what: str) -> None:
        nonlocal steps
        steps += 1
        if progress:
            progress(what, min(steps, steps_total), steps_total)

    try:
        # 1. the baseline: what the user would deploy without Lepton
        baseline_engine = "torch" if has_torch else "onnxruntime"
        base_cand = Candidate("pytorch eager fp32" if has_torch else "onnxruntime defaults", [])
        baseline = []
        for b in batches:
            tick(f"baseline batch {b}")
            rec = _measure(
                run,
                base_cand,
                art,
                RuntimeConfig(batch_size=b),
                engine=baseline_engine,
                plan=run.precise,
                with_concurrency=True,
            )
            rec["role"] = "baseline"
            if rec["status"] == "ok" and workload.labels is not None and run.base_quality is None:
                _, run.base_quality, _ = primary_metric(art.task, rec["quality"])
                rec["quality_drop"] = 0.0
            baseline.append(rec)
            run.save(rec)
        # 2. build every candidate and screen it cheaply under every runtime setting
        deadline = t_start + time_budget if time_budget else None
        variants: list[tuple[Candidate, Artifact]] = []
        skipped: list[dict[str, Any]] = []
        for cand in space:
            tick(f"building {cand.label[:40]}")
            if cand.skip_reason:
                skipped.append({"variant": cand.label, "chain": cand.chain, "reason": cand.skip_reason})
                continue
            try:
                ctx = PassContext(store=store, hardware=hw, calibration=workload.batches(8, 8)[:8])
                with contextlib.redirect_stdout(io.StringIO()):  # the ORT calibrator prints progress
                    variants.append((cand, apply_chain(art, cand.passes, ctx)))
            except CandidateError as e:
                rec = failed_trial(
                    run.next_id(),
                    TrialSpec("onnxruntime", art, RuntimeConfig(), cand.label, {"chain": cand.chain}),
                    e,
                )
                run.records.append(rec)
                run.save(rec)
        space_size = len(variants) * len(configs)
        strategy = "exhaustive" if space_size <= trials else "optuna"
        screened = _screen(run, variants, configs, strategy, trials, deadline, tick)
        # 2b. keep the most sensitive nodes in float when a faster int8 variant only just misses quality
        if sensitivity != "off" and run.reference.outputs is not None:
            extra = _sensitivity_stage(run, art, hw, variants, screened, sensitivity == "on", sensitivity_info)
            for cand, a in extra:
                variants.append((cand, a))
                for rc in configs:
                    tick(f"{cand.label[:40]} t{rc.intra_op_threads} b{rc.batch_size}")
                    screened.append(_measure(run, cand, a, rc))
        # 3. precise measurement for candidates on or near the quick frontier
        by_label = {c.label: (c, a) for c, a in variants}
        for rec in _near_frontier(run, screened):
            tick(f"precise {rec['variant'][:40]}")
            _remeasure(run, rec, by_label)
        _verify_recommendation(run, by_label, tick)
        # 4. verdicts, frontier, recommendation
        data = _conclude(run, art, hw, price, targets, baseline, notes, skipped, strategy, space_size, t_start)
        data["sensitivity"] = sensitivity_info or None
        status = "done" if data.get("recommended") else "no-fit"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        summary = dict(data) if data else {"status": status}
        summary.pop("trials", None)
        if data.get("recommended"):
            rec = next(t for t in data["trials"] if t["id"] == data["recommended"])
            summary.update(
                recommended_artifact=rec["artifact_id"],
                recommended_runtime=rec["runtime"],
                prediction={
                    "throughput_per_s": rec.get("capacity_per_s", rec["throughput_per_s"]),
                    "latency_ms": rec["latency_ms"],
                    "usd_per_1m": rec["cost"]["usd_per_1m"],
                },
            )
        store.finish_run(run.run_id, status, summary)
    result = OptimizeResult(data, 0 if data.get("recommended") else 3)
    if html:
        from lepton.report.html import write_html

        write_html(data, Path(html))
    return result


def _screen(
    run: _Run,
    variants: list[tuple[Candidate, Artifact]],
    configs: list[RuntimeConfig],
    strategy: str,
    budget: int,
    deadline: float | None,
    tick: Any,
) -> list[dict[str, Any]]:
    """Quick measurements: every (variant, runtime) when the space is small, else an Optuna search."""
    out: list[dict[str, Any]] = []
    if strategy == "exhaustive":
        for cand, a in variants:
            for rc in configs:
                if deadline and time.perf_counter() > deadline:
                    return out
                tick(f"{cand.label[:40]} t{rc.intra_op_threads} b{rc.batch_size}")
                out.append(_measure(run, cand, a, rc))
        return out
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seen: dict[tuple[int, int], tuple[float, float, float]] = {}
    study = optuna.create_study(directions=["minimize"] * 3, sampler=optuna.samplers.NSGAIISampler(seed=0))
    metric = run.targets.slo.metric if run.targets.slo else "p95"

    def objective(trial: optuna.Trial) -> tuple[float, float, float]:
        vi = trial.suggest_int("variant", 0, len(variants) - 1)
        ci = trial.suggest_int("runtime", 0, len(configs) - 1)
        if (vi, ci) in seen:
            return seen[(vi, ci)]
        cand, a = variants[vi]
        tick(f"{cand.label[:40]} (optuna)")
        rec = _measure(run, cand, a, configs[ci])
        out.append(rec)
        inf = float("inf")
        value = (
            (inf, inf, inf)
            if rec["status"] != "ok"
            else (rec["latency_ms"][metric], rec["cost"]["usd_per_1m"], rec.get("quality_drop") or 0.0)
        )
        seen[(vi, ci)] = value
        return value

    timeout = max(1.0, deadline - time.perf_counter()) if deadline else None
    study.optimize(objective, n_trials=budget, timeout=timeout, catch=())
    return out


def _remeasure(run: _Run, rec: dict[str, Any], by_label: dict[str, tuple[Candidate, Artifact]]) -> dict[str, Any]:
    """A precise measurement (full timing plan and concurrent callers) that supersedes a quick one."""
    cand, art = by_label[rec["variant"]]
    precise = _measure(run, cand, art, RuntimeConfig.from_json(rec["runtime"]), plan=run.precise, with_concurrency=True)
    precise["screened_as"] = rec["id"]
    rec["superseded_by"] = precise["id"]
    run.save(rec)
    return precise


def _current(run: _Run) -> list[dict[str, Any]]:
    """The latest measurement of every configuration (a precise one supersedes its quick screen)."""
    return [r for r in run.records if "superseded_by" not in r and r.get("role") != "baseline"]


def _verify_recommendation(run: _Run, by_label: dict[str, tuple[Candidate, Artifact]], tick: Any) -> None:
    """What is recommended is measured precisely, at every batch size, together with the variant's fastest
    thread setting at each batch size (its gains are quoted from those): re-measure until the choice holds."""
    for _ in range(4):
        ok = [r for r in _current(run) if r["status"] == "ok"]
        rec, _ = choose(feasible_records(ok, run.targets, run.slo_batch), run.targets)
        if rec is None:
            return
        same_variant = [r for r in ok if r["artifact_id"] == rec["artifact_id"] and r["engine"] == rec["engine"]]
        best_per_batch = [
            max((r for r in same_variant if r["batch_size"] == b), key=lambda r: r["throughput_per_s"])
            for b in {r["batch_size"] for r in same_variant}
        ]
        todo = [
            r
            for r in same_variant
            if (config_key(r) == config_key(rec) or r in best_per_batch) and not r.get("precise")
        ]
        if not todo:
            return
        for r in todo:
            tick(f"verifying {r['variant'][:40]}")
            _remeasure(run, r, by_label)


def _sensitivity_stage(
    run: _Run,
    art: Artifact,
    hw: Any,
    variants: list[tuple[Candidate, Artifact]],
    screened: list[dict[str, Any]],
    always: bool,
    info: dict[str, Any],
) -> list[tuple[Candidate, Artifact]]:
    """Per-node sensitivity for the fastest dynamic-int8 variant the quality target rejected.

    Worth its cost (one quantization per node) only when that variant beats the best one that passed by
    more than 5% at some batch size, or when asked with ``always``.
    """
    from lepton.passes.defaults import sensitivity_candidates
    from lepton.passes.quantize import DynamicInt8

    ok = [r for r in screened if r.get("status") == "ok"]
    passing = [r for r in ok if (r.get("quality_drop") or 0) <= run.targets.max_drop]
    failing = [
        r
        for r in ok
        if (r.get("quality_drop") or 0) > run.targets.max_drop
        and r["chain"]
        and r["chain"][-1]["pass"] == "quantize-dynamic"
        and not r["chain"][-1]["params"].get("nodes_to_exclude")
    ]
    best_pass = {
        b: max((r["throughput_per_s"] for r in passing if r["batch_size"] == b), default=0.0)
        for b in {r["batch_size"] for r in ok}
    }
    gainers = [r for r in failing if r["throughput_per_s"] > 1.05 * best_pass.get(r["batch_size"], 0.0)]
    if gainers:
        pick = max(gainers, key=lambda r: r["throughput_per_s"] / max(best_pass[r["batch_size"]], 1e-9))
        quant = DynamicInt8(**pick["chain"][-1]["params"])
        gain = pick["throughput_per_s"] / max(best_pass[pick["batch_size"]], 1e-9)
        info["why"] = (
            f"{pick['variant']} is {gain:.2f}x "
            f"the best passing variant at batch {pick['batch_size']} but drops quality by "
            f"{pick['quality_drop']:.4f}"
        )
    elif always and any(c.passes and c.passes[-1].name == "quantize-dynamic" for c, _ in variants):
        quant = DynamicInt8()
        info["why"] = "asked for (--sensitivity on)"
    else:
        return []
    target = 1.0 - run.targets.max_drop
    ctx = PassContext(store=run.store, hardware=hw, calibration=run.workload.batches(8, 4))
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            report, chains = sensitivity_candidates(
                art, ctx, feeds=run.workload.batches(8, 4), target=target, quant=quant, extra_ks=()
            )
    except CandidateError as e:
        info["error"] = str(e)
        return []
    info.update(
        quant=quant.params(),
        target=target,
        seconds=round(time.perf_counter() - t0, 1),
        reached=report.reached,
        kept_float=report.exclude,
        tried=report.tried,
        ranking=[{"node": n.node, "loss": round(n.loss, 6)} for n in report.ranking[:8]],
    )
    known = {c.label for c, _ in variants}
    out = []
    for passes in chains:
        if not passes[-1].params().get("nodes_to_exclude"):
            continue  # k = 0 is the variant already screened
        label = chain_label(passes)
        if label in known:
            continue
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                a = apply_chain(art, passes, ctx)
        except CandidateError:
            continue
        out.append((Candidate(label, passes, chain_label(passes[:-1])), a))
    return out


def _near_frontier(run: _Run, screened: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Feasible screened records on the quick frontier or within NEAR_FRONTIER of it on latency or cost."""
    feasible = feasible_records(screened, run.targets, run.slo_batch)
    if not feasible:  # nothing fits: measure the closest ones precisely so the miss is quoted honestly
        feasible = [r for r in screened if r.get("status") == "ok"]
    metric = run.targets.slo.metric if run.targets.slo else "p95"
    front = pareto_front(feasible, default_objectives(metric))
    near = []
    for r in feasible:
        for f in front:
            if f["batch_size"] != r["batch_size"]:
                continue
            if r["latency_ms"][metric] <= f["latency_ms"][metric] * (1 + NEAR_FRONTIER) or r["cost"]["usd_per_1m"] <= f[
                "cost"
            ]["usd_per_1m"] * (1 + NEAR_FRONTIER):
                near.append(r)
                break
    near.sort(key=lambda r: r["cost"]["usd_per_1m"])
    return near[:12]


def _conclude(
    run: _Run,
    art: Artifact,
    hw: Any,
    price: Any,
    targets: Targets,
    baseline: list[dict[str, Any]],
    notes: list[str],
    skipped: list[dict[str, Any]],
    strategy: str,
    space_size: int,
    t_start: float,
) -> dict[str, Any]:
    records = run.records
    current = _current(run)
    feasible = feasible_records([r for r in current if r["status"] == "ok"], targets, run.slo_batch)
    feasible_ids = {r["id"] for r in feasible}
    bad_configs = {
        config_key(r): r
        for r in current
        if r.get("status") == "ok" and r["batch_size"] == run.slo_batch and violations(r, targets, run.slo_batch)
    }
    for r in current:
        if r["status"] != "ok":
            continue
        reasons = violations(r, targets, run.slo_batch)
        if not reasons and config_key(r) in bad_configs:
            reasons = [
                f"this configuration misses {targets.slo.text if targets.slo else 'the SLO'} at batch {run.slo_batch}"
            ]
        if r["id"] not in feasible_ids:
            r["status"] = "rejected"
            r["reasons"] = reasons or ["not measured precisely"]
    variant_notes = slower_notes(current)
    for r in current:
        if r.get("variant") in variant_notes:
            r["notes"] = [variant_notes[r["variant"]]]
    metric = targets.slo.metric if targets.slo else "p95"
    front = pareto_front(feasible, default_objectives(metric))
    rec, reason = choose(feasible, targets)
    data: dict[str, Any] = {
        "run_id": run.run_id,
        "created": time.time(),
        "model": model_info(art),
        "hardware": hw.to_json(),
        "price": price.to_json(),
        "targets": targets.to_json(),
        "workload": run.workload.source,
        "reference": run.reference.description,
        "trials": records,
        "baseline": baseline,
        "frontier": [r["id"] for r in front],
        "recommended": rec["id"] if rec else None,
        "reason": reason,
        "closest_miss": None if rec else closest_miss(current, targets, run.slo_batch),
        "notes": notes
        + [f"skipped {s['variant']}: {s['reason']}" for s in skipped]
        + [f"{v}: {n}" for v, n in variant_notes.items()],
        "skipped": skipped,
        "search": {
            "strategy": strategy,
            "candidates": space_size,
            "measured": sum(1 for r in records if r.get("role") != "baseline"),
            "precise": sum(1 for r in records if r.get("precise") and r.get("role") != "baseline"),
            "seconds": round(time.perf_counter() - t_start, 1),
        },
    }
    if rec:
        data["gains"] = gains(rec, records, baseline)
    for r in records:
        run.save(r)
    return data


def gains(rec: dict[str, Any], records: list[dict[str, Any]], baseline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The recommended variant against the baseline at each batch size, in its fastest precisely measured
    thread setting there (the runtime a server would pick for that batch size)."""
    out = []
    for base in baseline:
        if base.get("status") != "ok":
            continue
        mine = [
            r
            for r in records
            if r.get("artifact_id") == rec["artifact_id"]
            and r["batch_size"] == base["batch_size"]
            and "latency_ms" in r
            and "superseded_by" not in r
            and r.get("role") != "baseline"
        ]
        if not mine:
            continue
        m = max(mine, key=lambda r: (bool(r.get("precise")), r["throughput_per_s"]))
        out.append(
            {
                "batch_size": base["batch_size"],
                "trial": m["id"],
                "threads": m["threads"],
                "throughput_x": round(
                    m.get("capacity_per_s", m["throughput_per_s"])
                    / base.get("capacity_per_s", base["throughput_per_s"]),
                    3,
                ),
                "single_stream_throughput_x": round(m["throughput_per_s"] / base["throughput_per_s"], 3),
                "p50_x": round(base["latency_ms"]["p50"] / m["latency_ms"]["p50"], 3),
                "cost_x": round(base["cost"]["usd_per_1m"] / m["cost"]["usd_per_1m"], 3),
            }
        )
    return out
