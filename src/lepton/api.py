"""The Python face of Lepton: ``import_model``, ``bench``, ``optimize``, ``check``, ``drift`` (the CLI mirrors these).

Keyword arguments use the CLI's option names (``batch``, ``data``, ``shape``, ``slo``, ``max_drop`` ...) and are
read by the same options objects the CLI builds, so a value means the same thing through either face. Every
model kind ``import_model`` accepts can be given as ``model`` (with ``example_input`` for an ``nn.Module``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton.errors import LeptonError, UserError
from lepton.fileio import write_atomic
from lepton.ir.artifact import Artifact
from lepton.measure.bench import BenchOptions, BenchResult
from lepton.measure.job import Measurer
from lepton.measure.timing import TimingPlan
from lepton.measure.trial import Reference
from lepton.measure.workload import Workload
from lepton.navigate.options import OptimizeOptions
from lepton.navigate.result import OptimizeResult
from lepton.options import check_known
from lepton.progress import Progress
from lepton.store.store import Store

if TYPE_CHECKING:
    from lepton.distributed.serving import RayDeployment, RayServeStatus
    from lepton.navigate.check import CheckResult
    from lepton.navigate.explain_run import Explanation
    from lepton.serve.config import ServeConfig
    from lepton.serve.drift import DriftResult
    from lepton.training.loop import Progress as TrainProgress
    from lepton.training.options import TrainOptions
    from lepton.training.run import TrainResult

Shape = Mapping[str, Sequence[int]] | Sequence[str] | None
Batch = Sequence[int] | int | str | None


def import_model(
    source: Any,
    *,
    example_input: Any = None,
    shape: Shape = None,
    name: str | None = None,
    task: str | None = None,
    store: Store | None = None,
    **unknown: Any,
) -> Artifact:
    """Bring a model in as an Artifact: an ONNX file or proto, an ``nn.Module`` with ``example_input``, a fitted
    scikit-learn estimator, or a Hugging Face encoder folder."""
    from lepton.options import shape_pins
    from lepton.store.intake import import_model as _import

    check_known(unknown, (), "import_model")
    pins = shape_pins(shape) or None
    return _import(source, example_input=example_input, shapes=pins, name=name, task=task, store=store)


def bench(
    model: Any = None,
    *,
    example: str | None = None,
    engine: Sequence[str] | str | None = None,
    batch: Batch = None,
    threads: int = 0,
    data: str | Path | None = None,
    shape: Shape = None,
    instance: str | None = None,
    price_per_hour: float | None = None,
    qps: float | None = None,
    seconds: float = 2.0,
    json: str | Path | None = None,
    example_input: Any = None,
    name: str | None = None,
    task: str | None = None,
    store: Store | None = None,
    plan: TimingPlan | None = None,
    progress: Progress | None = None,
    **unknown: Any,
) -> BenchResult:
    """Measure one model under one or more engines and batch sizes on this machine."""
    from lepton.measure.bench import bench as run_bench

    check_known(unknown, [*_explicit(bench), "model"], "bench")
    options = BenchOptions.build(
        example=example,
        engine=engine,
        batch=batch,
        threads=threads,
        data=data,
        shape=shape,
        instance=instance,
        price_per_hour=price_per_hour,
        qps=qps,
        seconds=seconds,
        json=json,
    )
    store = store or Store()
    art = _resolve(model, options.example, options.shape, store, example_input, name, task)
    result = run_bench(art, options, store=store, plan=plan, progress=progress)
    if options.json:
        write_json(options.json, result.to_json())
    return result


def optimize(
    model: Any = None,
    *,
    example: str | None = None,
    data: str | Path | None = None,
    shape: Shape = None,
    batch: Batch = None,
    slo: str | None = None,
    max_drop: float = 0.01,
    qps: float | None = None,
    budget: float | None = None,
    objective: str = "cost",
    trials: int = 80,
    time_budget: float | None = None,
    instance: str | None = None,
    price_per_hour: float | None = None,
    sensitivity: str = "auto",
    exhaustive: bool = False,
    html: str | Path | None = None,
    json: str | Path | None = None,
    resume: str | None = None,
    ray: str | bool | None = None,
    hardware_price: Mapping[str, float] | Sequence[str] | None = None,
    max_memory: float | None = None,
    streams: int | None = None,
    example_input: Any = None,
    name: str | None = None,
    task: str | None = None,
    store: Store | None = None,
    quick: TimingPlan | None = None,
    precise: TimingPlan | None = None,
    progress: Progress | None = None,
    **unknown: Any,
) -> OptimizeResult:
    """Optimize a model for this machine: build variants, measure and price them, recommend one.

    Returns an ``OptimizeResult`` (``recommended_trial``, ``frontier_trials``, ``reason``, ``gains``,
    ``exit_code``); ``html``/``json`` also write the report and the JSON. ``quick``/``precise`` change how long
    each measurement runs (tests and benchmarks use them). ``ray`` (an address, or True for the cluster this
    machine joined) measures every setting on each kind of node of a Ray cluster; ``hardware_price`` prices
    kinds the catalog does not list (``{"lab/big-box": 0.42}``).
    """
    from lepton.navigate.navigator import Plans
    from lepton.navigate.navigator import optimize as run_optimize
    from lepton.navigate.navigator import resume as resume_run

    check_known(unknown, [*_explicit(optimize), "model"], "optimize")
    store = store or Store()
    if data is not None and str(data).startswith("captured:"):  # a server's captured traffic (serve.capture)
        from lepton.serve.capture import captured_data

        data = captured_data(store, str(data))
    options = OptimizeOptions.build(
        example=example,
        data=data,
        shape=shape,
        batch=batch,
        slo=slo,
        max_drop=max_drop,
        qps=qps,
        budget=budget,
        objective=objective,
        trials=trials,
        time_budget=time_budget,
        instance=instance,
        price_per_hour=price_per_hour,
        sensitivity=sensitivity,
        exhaustive=exhaustive,
        html=html,
        json=json,
        resume=resume,
        ray=ray,
        hardware_price=hardware_price,
        max_memory=max_memory,
        streams=streams,
    )
    store = store or Store()
    plans = Plans(quick or Plans.quick, precise or Plans.precise)
    if options.resume:
        if model is not None or options.example:
            raise UserError("--resume continues a stored run with its own model and options; give no MODEL")
        result = resume_run(options.resume, store=store, plans=plans, progress=progress, cluster=ray_measurer)
    else:
        art = _resolve(model, options.example, options.shape, store, example_input, name, task)
        if art.task == "text-generation":  # a causal LM: the family's own units, the same result
            from lepton.navigate.lm import optimize_lm

            result = optimize_lm(art, options, store=store, progress=progress)
        else:
            if options.streams is not None:
                raise UserError(
                    f"--streams sizes replicas for a causal LM's concurrent streams; {art.name or 'this model'} is "
                    f"a {art.task} model: give --qps"
                )
            result = run_optimize(art, options, store=store, plans=plans, progress=progress, cluster=ray_measurer)
    if options.json:
        write_json(options.json, result.to_json())
    if options.html:
        from lepton.report.html import write_html

        write_html(result, options.html, _explained(store, result))
    return result


def _explained(store: Store, result: OptimizeResult) -> tuple[Explanation, ...]:
    """The recommended variant explained for the optimize report's explain section (its time by op type beside its
    parent's); none when the recommendation is the baseline, measured elsewhere, or cannot be profiled here."""
    from lepton.navigate.explain_run import explain

    rec = result.recommended_trial
    if rec is None or rec.is_baseline or not rec.chain or rec.hardware_kind is not None:
        return ()
    try:
        e = explain(store, result.run_id, rec.id, runs=5)
    except LeptonError:
        return ()
    store.add_explanation(result.run_id, rec.id, e)  # `lepton report` rebuilds the same page from the store
    return (e,)


def train(
    recipe: str,
    data: str | Path | None = None,
    *,
    json: str | Path | None = None,
    html: str | Path | None = None,
    store: Store | None = None,
    progress: TrainProgress | None = None,
    **options: Any,
) -> TrainResult:
    """Train a model and store it with its test split; ``options`` are ``lepton train``'s, by the same names
    (``example``, ``target``, ``categorical``, ``epochs``, ``lr``, ``tune``, ``folds``, ``horizon``, ``ray``,
    ``workers`` ...): ``ray`` (an address, or True) trains data-parallel on ``workers`` Ray Train workers.

    ``json`` / ``html`` write the result and the HTML report there, like ``--json`` / ``--html``.
    """
    from lepton.training.options import TrainOptions
    from lepton.training.run import train as run

    opts = TrainOptions.build(recipe, data, **options)
    result = run(opts, store=store, progress=progress, **trainer_for(opts))
    if json is not None:
        write_json(Path(json), result.to_json())
    if html is not None:
        from lepton.report.html.train import write_train_html

        write_train_html(result, Path(html))
    return result


def serve_on_ray(
    cfg: ServeConfig,
    *,
    example: str | None = None,
    ray: str | bool | None = None,
    qps: float | None = None,
    status: bool = False,
    stop: bool = False,
) -> RayDeployment | RayServeStatus | bool:
    """``lepton serve --ray``: deploy ``cfg.models`` on Ray Serve (sized for ``qps``), or show (``status``) or
    remove (``stop``) the deployment."""
    from lepton.distributed import require_ray
    from lepton.options import ray_address

    address = ray_address(ray)
    if address is None:
        flag = "--status" if status else "--stop" if stop else "--qps"
        raise UserError(f"{flag} is for a Ray Serve deployment; add --ray (and the cluster's address)")
    if cfg.workers != 1:
        raise UserError("--workers starts processes on this machine; on Ray, --qps sizes the replicas")
    require_ray()
    from lepton.distributed import serving

    if status:
        return serving.status(address)
    if stop:
        return serving.stop(address)
    from lepton.resolve import resolve_models

    if not cfg.models and not example:
        raise UserError("lepton serve --ray: name at least one MODEL (a stored name or a path), or --example minilm")
    resolved = resolve_models(list(cfg.models), example, cfg.engine)
    return serving.deploy(address, cfg, resolved, qps=qps)


def serve(
    *models: str,
    example: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    max_batch_size: int | None = None,
    max_delay_ms: float | None = None,
    slo: str | None = None,
    instances: int | None = None,
    max_queue: int = 256,
    timeout: float = 30.0,
    max_body_bytes: int = 16 * 1024 * 1024,
    shadow_rate: float = 0.0,
    token: str | None = None,
    price_per_hour: float | None = None,
    instance: str | None = None,
    engine: str | None = None,
    log_level: str = "info",
    ray: str | bool | None = None,
    qps: float | None = None,
    status: bool = False,
    stop: bool = False,
    max_streams: int = 16,
    stream_queue: int = 64,
    kv_cache_gb: float = 1.0,
    max_connections: int = 2048,
    keep_alive: float = 75.0,
    drift: bool = False,
    drift_data: str | None = None,
    drift_window: int = 500,
    candidate: str | None = None,
    shadow: bool = False,
    sample: str | None = None,
    canary: str | None = None,
    steps: str = "5%,25%,50%,100%",
    step_requests: int = 50,
    min_samples: int = 50,
    max_drop: float | None = None,
    latency_bound: float | None = None,
    capture: str | None = None,
    capture_max_rows: int = 10_000,
    capture_max_mb: float = 256.0,
) -> RayDeployment | RayServeStatus | bool | None:
    """``lepton serve`` from Python, under the CLI's option names: the server on this machine (returns when it
    stops), or with ``ray`` a Ray Serve deployment (returned once its replicas are up; ``status`` and ``stop``
    show or remove it). ``lepton.serve`` is the server's package, so this is ``lepton.api.serve``."""
    from lepton.serve.config import config_from_flags
    from lepton.settings import env_token

    cfg = config_from_flags(
        models=models,
        host=host,
        port=port,
        workers=workers,
        engine=engine,
        max_batch_size=max_batch_size,
        max_delay_ms=max_delay_ms,
        slo=slo,
        instances=instances,
        max_queue=max_queue,
        timeout=timeout,
        max_body_bytes=max_body_bytes,
        shadow_rate=shadow_rate,
        token=token or env_token(),
        price_per_hour=price_per_hour,
        instance=instance,
        log_level=log_level,
        max_streams=max_streams,
        stream_queue=stream_queue,
        kv_cache_gb=kv_cache_gb,
        max_connections=max_connections,
        keep_alive=keep_alive,
        drift=drift,
        drift_data=drift_data,
        drift_window=drift_window,
        candidate=candidate,
        shadow=shadow,
        sample=sample,
        canary=canary,
        steps=steps,
        step_requests=step_requests,
        min_samples=min_samples,
        max_drop=max_drop,
        latency_bound=latency_bound,
        capture=capture,
        capture_max_rows=capture_max_rows,
        capture_max_mb=capture_max_mb,
    )
    if ray or status or stop or qps is not None:
        return serve_on_ray(cfg, example=example, ray=ray, qps=qps, status=status, stop=stop)
    from lepton.resolve import resolve_served
    from lepton.serve.app import serve as run_server

    if not models and not example:
        raise UserError("lepton serve: name at least one MODEL (a stored name or a path), or example='minilm'")
    from lepton.serve.refs import ResolvedModel

    resolved = resolve_served(list(models), example, engine)
    if workers > 1 and any(not isinstance(r, ResolvedModel) for _, r in resolved):
        raise UserError("--workers: a generative model is served by one process (one engine batches its streams)")
    if workers > 1:  # worker processes resolve again from the refs (the example is stored by now)
        from dataclasses import replace

        cfg = replace(cfg, models=tuple(([example] if example else []) + list(models)))
    run_server(cfg, resolved)
    return None


def trainer_for(opts: TrainOptions) -> dict[str, Any]:
    """How ``training.run.train`` trains once: here, or data-parallel on a Ray cluster (``--ray``)."""
    if not opts.ray:
        return {}
    from lepton.distributed import require_ray

    require_ray()
    from lepton.distributed.training import data_parallel

    return {"fit_once": data_parallel(opts.ray, opts.workers or 2)}


def ray_measurer(
    address: str, workload: Workload, reference: Reference, *, prices: Mapping[str, float] | None = None
) -> Measurer:
    """How ``optimize --ray`` measures: on each kind of node of the cluster (``navigate.navigator.Cluster``)."""
    from lepton.distributed.measurer import RayMeasurer

    return RayMeasurer.connect(address, workload, reference, prices=prices)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically, so an interrupted run never leaves half a file."""
    import json as _json

    write_atomic(path, _json.dumps(payload, indent=2, default=str))


def _resolve(
    model: Any,
    example: str | None,
    shape: Mapping[str, Sequence[int]],
    store: Store,
    example_input: Any,
    name: str | None,
    task: str | None,
) -> Artifact:
    from lepton.resolve import resolve_model

    return resolve_model(
        model, example=example, shape=shape, store=store, example_input=example_input, name=name, task=task
    )


def _explicit(fn: Any) -> list[str]:
    """The keyword arguments a face function declares (what an unknown keyword is told it may use)."""
    import inspect

    return [p.name for p in inspect.signature(fn).parameters.values() if p.kind is p.KEYWORD_ONLY]


def check(
    name: str,
    *,
    against: str | None = None,
    model: str | Path | None = None,
    data: str | Path | None = None,
    tolerance: float = 0.05,
    recorded_tolerance: float = 0.25,
    retries: int = 1,
    if_disturbed: str = "exit",
    seconds: float = 3.0,
    junit: str | Path | None = None,
    json: str | Path | None = None,
    store: Store | None = None,
    **unknown: Any,
) -> CheckResult:
    """``lepton check``: measure the deployed variant of ``name``'s optimize run (or ``model``, a new .onnx, beside
    it) again here, on the run's data or ``data`` (a file, or ``captured:NAME``: a server's captured traffic), and
    judge p95, $/1M and quality. The result's ``verdict`` and ``exit_code`` are the CLI's (0 pass, 1 regressed,
    4 disturbed); ``junit``/``json`` also write the JUnit XML and the JSON."""
    import time
    from dataclasses import replace

    from lepton.navigate.check import CHECK_PLAN, CheckOptions, prepare
    from lepton.navigate.check import check as run_check
    from lepton.report.check import junit_xml
    from lepton.resolve import resolve_model
    from lepton.serve.capture import data_path

    check_known(unknown, _explicit(check), "check")
    if if_disturbed not in ("exit", "judge"):
        raise UserError(f"--if-disturbed: 'exit' or 'judge'; got {if_disturbed!r}")
    if tolerance < 0 or recorded_tolerance < 0 or retries < 0 or seconds <= 0:
        raise UserError("--tolerance, --recorded-tolerance and --retries must be >= 0, --seconds > 0")
    t0 = time.perf_counter()
    store = store or Store()
    plan = replace(CHECK_PLAN, min_seconds=seconds, max_seconds=4 * seconds)
    opts = CheckOptions(
        against=against,
        model=Path(model) if model is not None else None,
        tolerance=tolerance,
        recorded_tolerance=recorded_tolerance,
        retries=retries,
        judge_disturbed=if_disturbed == "judge",
        plan=plan,
        data=data_path(data, store),
    )
    setup = prepare(name, opts, store, import_file=lambda p: resolve_model(p, store=store))
    result = run_check(setup, opts)
    if json:
        write_json(Path(json), result.to_json())
    if junit:
        write_atomic(Path(junit), junit_xml(result, time.perf_counter() - t0))
    return result


def drift(
    name: str,
    *,
    data: str | Path | None = None,
    url: str | None = None,
    reference: str | Path | None = None,
    window: int = 500,
    html: str | Path | None = None,
    json: str | Path | None = None,
    store: Store | None = None,
    **unknown: Any,
) -> DriftResult:
    """``lepton drift``: live inputs and outputs (``data``: a file, or ``captured:NAME``) against ``reference``
    (default: the model's own evaluation data; ``captured:NAME`` takes a capture as the reference), or the current
    window of a server started with ``--drift`` at ``url``. The result's ``exit_code`` is the CLI's (1: drifted);
    ``html``/``json`` also write the report."""
    from lepton.serve.capture import data_path
    from lepton.serve.drift import judge_drift

    check_known(unknown, _explicit(drift), "drift")
    store = store or Store()
    live, ref = data_path(data, store), data_path(reference, store)
    result = judge_drift(name, data=live, url=url, reference=ref, window=window, store=store)
    if json:
        write_json(Path(json), {"report": result.report.to_json(), "timeline": [t.to_json() for t in result.timeline]})
    if html:
        from lepton.report.drift import write_drift_html

        write_drift_html(Path(html), result.report, result.timeline, window)
    return result
