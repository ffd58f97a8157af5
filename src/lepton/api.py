"""The Python face of Lepton: import_model, bench, optimize, train (the CLI mirrors these)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lepton.cost.catalog import PriceCatalog, PricePoint
from lepton.cost.hardware import Hardware, detect_hardware
from lepton.engines.base import ENGINES, RuntimeConfig
from lepton.errors import EngineUnavailable, UserError
from lepton.ir.artifact import Artifact
from lepton.measure.timing import TimingPlan
from lepton.measure.trial import Reference, TrialSpec, failed_trial, measure_trial, run_all
from lepton.measure.workload import Workload, load_workload, synthesize_workload, text_workload
from lepton.store.store import Store

Progress = Callable[[str, int, int], None]  # (what, done, total)


def import_model(source: Any, **kwargs: Any) -> Artifact:
    """Bring a model in as an Artifact (ONNX file, nn.Module + example_input, sklearn estimator, HF folder)."""
    from lepton.ir.intake import import_model as _import

    return _import(source, **kwargs)


def resolve_model(
    model: Any = None,
    *,
    example: str | None = None,
    shapes: Mapping[str, Sequence[int]] | None = None,
    store: Store | None = None,
    **intake: Any,
) -> Artifact:
    """An Artifact from whatever the user named: an Artifact, an example, a stored name, a path or an object."""
    store = store or Store()
    if example:
        if model is not None:
            raise UserError("give either a MODEL or --example, not both")
        from lepton.examples import import_example

        art = import_example(example, store=store)
    elif isinstance(model, Artifact):
        art = model
    elif isinstance(model, (str, Path)) and not Path(model).exists() and store.model_artifact(str(model)):
        art = store.model_artifact(str(model))  # type: ignore[assignment]
    elif model is None:
        raise UserError(
            "no model given: pass a path to a model (.onnx file or Hugging Face folder) or --example minilm"
        )
    else:
        art = import_model(model, store=store, **intake)
    if shapes:
        art = art.with_(signature=art.signature.with_pins(shapes))
    assert art is not None
    return art


def make_workload(artifact: Artifact, data: str | Path | None = None, *, rows: int = 64) -> Workload:
    """User data when given; real sentences for the bundled text example; else synthesized from the signature."""
    if data is not None:
        return load_workload(artifact, Path(data))
    eval_data = artifact.file("eval_data")
    if eval_data is not None and eval_data.is_file():  # a trained model's held-out test split
        workload = load_workload(artifact, eval_data)
        workload.source = f"held-out test split stored with the model ({workload.n_rows} rows)"
        return workload
    if artifact.task == "embedding" and artifact.file("tokenizer") is not None:
        from lepton.examples import example_sentences

        return text_workload(artifact, example_sentences(), source="bundled example sentences")
    return synthesize_workload(artifact, rows=rows)


def train(recipe: str, data: str | Path | None = None, **options: Any) -> Any:
    """Train a model on data and store it with its test split; returns a ``TrainResult``.

    Keyword options are ``lepton train``'s by the same names (``example``, ``target``, ``epochs``, ``tune`` ...),
    plus ``json`` / ``html`` paths to write the result and report, and ``store`` / ``progress``.
    """
    from lepton.train.face import train as _train

    return _train(recipe, data, **options)


def default_engines(artifact: Artifact) -> list[str]:
    return [name for name, cls in ENGINES if cls().unavailable(artifact) is None]


@dataclass
class BenchResult:
    model: dict[str, Any]
    hardware: Hardware
    price: PricePoint
    workload: str
    trials: list[dict[str, Any]] = field(default_factory=list)
    run_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "hardware": self.hardware.to_json(),
            "price": self.price.to_json(),
            "workload": self.workload,
            "run_id": self.run_id,
            "trials": self.trials,
        }


def model_info(art: Artifact) -> dict[str, Any]:
    return {
        "name": art.name,
        "artifact_id": art.id,
        "task": art.task,
        "source": dict(art.source),
        "signature": art.signature.to_json(),
        "model_mb": round(art.size_mb, 3),
    }


def reference_for(artifact: Artifact, workload: Workload, engines: Sequence[str]) -> Reference:
    """Labels when the data has them; else the source model's outputs (PyTorch when it exists, else ORT fp32)."""
    if workload.labels is not None:
        return Reference(labels=workload.labels, description="labels")
    from lepton.engines.base import open_session

    ref_engine = (
        "torch" if "torch" in engines or ENGINES.get("torch")().unavailable(artifact) is None else "onnxruntime"
    )
    session = open_session(ref_engine, artifact, RuntimeConfig())
    try:
        outputs = run_all(session, workload)
    finally:
        session.close()
    return Reference(outputs=outputs, description=f"{ref_engine} fp32")


def bench(
    model: Any = None,
    *,
    example: str | None = None,
    engines: Sequence[str] | None = None,
    batch_sizes: Sequence[int] = (1,),
    threads: int = 0,
    data: str | Path | None = None,
    shapes: Mapping[str, Sequence[int]] | None = None,
    instance: str | None = None,
    price_per_hour: float | None = None,
    qps: float | None = None,
    plan: TimingPlan | None = None,
    store: Store | None = None,
    progress: Progress | None = None,
) -> BenchResult:
    """Measure one model under one or more engines and batch sizes on this machine."""
    store = store or Store()
    if any(b < 1 for b in batch_sizes):
        raise UserError(f"--batch sizes must be >= 1; got {list(batch_sizes)}")
    art = resolve_model(model, example=example, shapes=shapes, store=store)
    hw = detect_hardware()
    price = PriceCatalog.load().price(hw, instance=instance, price_per_hour=price_per_hour)
    engines = list(engines) if engines else default_engines(art)
    for name in engines:
        why = ENGINES.get(name)().unavailable(art)
        if why:
            raise EngineUnavailable(f"engine {name!r} cannot run this model: {why}")
    workload = make_workload(art, data)
    reference = reference_for(art, workload, engines)
    result = BenchResult(model_info(art), hw, price, workload.source)
    result.run_id = store.start_run("bench", art.name, art.id)
    total = len(engines) * len(batch_sizes)
    status = "failed"
    try:
        for engine in engines:
            quality = None  # outputs do not depend on the batch size: evaluate each engine once
            for b in batch_sizes:
                n = len(result.trials)
                if progress:
                    progress(f"{engine} batch {b}", n, total)
                spec = TrialSpec(engine, art, RuntimeConfig(intra_op_threads=threads, batch_size=b))
                try:
                    record = measure_trial(
                        f"t{n + 1}", spec, workload, reference, price, plan=plan, qps=qps, quality=quality
                    )
                    quality = record["quality"]
                except EngineUnavailable:
                    raise
                except Exception as e:  # noqa: BLE001  one failing configuration is recorded, not fatal
                    record = failed_trial(f"t{n + 1}", spec, e)
                result.trials.append(record)
                store.add_trial(result.run_id, record)
        if progress:
            progress("done", total, total)
        status = "done"
    finally:
        store.finish_run(result.run_id, status, {"trials": len(result.trials)})
    return result


def optimize(
    model: Any = None,
    *,
    eval_data: str | Path | None = None,
    targets: Any = None,
    **options: Any,
) -> Any:
    """Optimize a model for this machine; returns an ``OptimizeResult`` (frontier, recommended, reason).

    ``targets`` is a ``Targets`` or a dict such as ``{"slo": "p95<=20ms", "max_drop": 0.01, "qps": 500}``;
    other options are those of ``lepton optimize`` (``example``, ``batch_sizes``, ``shapes``, ``trials`` ...).
    """
    from lepton.navigate.navigator import optimize as run_optimize
    from lepton.navigate.targets import Targets, parse_slo

    if isinstance(targets, Mapping):
        t = dict(targets)
        if isinstance(t.get("slo"), str):
            t["slo"] = parse_slo(t["slo"])
        unknown = set(t) - {"slo", "max_drop", "qps", "budget", "objective"}
        if unknown:
            raise UserError(f"targets: unknown keys {sorted(unknown)}; use slo, max_drop, qps, budget, objective")
        targets = Targets(**t)
    return run_optimize(model, data=eval_data, targets=targets, **options)
