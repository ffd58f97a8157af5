"""``train``: data preparation -> baselines -> training (or tuning) -> cross-validation -> export -> evaluation.

Everything a user can get wrong is checked while preparing the data, before training starts; the store is
written once, at the end (artifact, name, and a ``train`` run), so a failed or interrupted run leaves nothing.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field, PrivateAttr, ValidationError, model_validator

from lepton.contract import Contract, JsonForm
from lepton.errors import UserError
from lepton.ir.artifact import Artifact, SignatureField
from lepton.ir.source import TrainSource
from lepton.store.store import Store
from lepton.training.baselines import Baseline
from lepton.training.dataset import Prepared
from lepton.training.evaluate import inference_timing, ratios
from lepton.training.export import export
from lepton.training.loop import Progress, fit, predict
from lepton.training.options import TrainOptions
from lepton.training.recipe import Recipe, recipe_for
from lepton.training.record import (
    CrossValidation,
    FitRecord,
    ForecastPlot,
    Json,
    Parity,
    TrainTiming,
    Tuning,
    Versus,
)
from lepton.training.tune import Trained, train_once, tune

HEADLINE = ("accuracy", "precision", "recall", "f1", "mae", "rmse", "mape")


BaselineField = Annotated[Baseline, JsonForm(Baseline)]


class TrainResult(Contract):
    """One finished training run: every figure the summary and the reports show, as the store keeps it.

    Built once, at the end of the run; the stored artifact and the trained network (in memory only) ride
    along as private handles (``artifact``, ``net``)."""

    name: str
    artifact_id: str
    artifact_path: str
    recipe: str
    task: str
    run_id: str | None = None
    options: Json = Field(default_factory=dict)
    data: Json = Field(default_factory=dict)
    split: dict[str, int] = Field(default_factory=dict)
    classes: tuple[str, ...] = ()
    params: Json = Field(default_factory=dict)
    architecture: str = ""
    primary: str = Field(alias="primary_metric")
    higher_is_better: bool
    metrics: Json = Field(default_factory=dict)  # test split, from the exported ONNX model
    baselines: tuple[BaselineField, ...] = ()
    versus_baselines: tuple[Versus, ...] = ()
    training: FitRecord  # history, best epoch, seconds, stopped
    timing: TrainTiming
    parity: Parity
    preprocessing: Json = Field(default_factory=dict)  # what the graph does to raw inputs, for the record
    tuning: Tuning | None = None
    cv: CrossValidation | None = None
    notes: tuple[str, ...] = ()
    forecast_plot: ForecastPlot | None = None
    signature: SignatureField
    _artifact: Artifact | None = PrivateAttr(default=None)
    _net: Any = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _older(cls, data: Any) -> Any:
        """Runs stored before ``higher_is_better`` was written: scores are higher-is-better, errors are not."""
        if isinstance(data, Mapping) and "higher_is_better" not in data:
            return {**data, "higher_is_better": data.get("task") != "forecast"}
        return data

    def attach(self, artifact: Artifact, net: Any) -> TrainResult:
        """This result with its in-memory handles (the stored artifact, the trained torch module)."""
        self._artifact, self._net = artifact, net
        return self

    @property
    def artifact(self) -> Artifact:
        if self._artifact is None:
            self._artifact = Artifact.load(Path(self.artifact_path))
        return self._artifact

    @property
    def net(self) -> Any:
        """The trained ``torch.nn.Module`` (None on a result read back from the store)."""
        return self._net

    def headline(self, metrics: Mapping[str, Any] | None = None) -> dict[str, Any]:
        m = self.metrics if metrics is None else metrics
        return {k: m[k] for k in HEADLINE if m.get(k) is not None}

    def versus(self) -> list[dict[str, Any]]:
        """The model against each baseline on the primary metric (a ratio for errors, a difference for scores)."""
        return [v.to_json() for v in self.versus_baselines]

    @property
    def seed(self) -> int:
        seed = self.options.get("seed", 0)
        return seed if isinstance(seed, int) else 0


def stored_train_result(payload: Mapping[str, Any], run_id: str) -> TrainResult:
    """The result a ``train`` run stored (runs stored by older versions too)."""
    try:
        return TrainResult.from_json(payload)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        raise UserError(
            f"train run {run_id}: its stored record has a bad {field!r} ({err['msg']}); train again to write a new one"
        ) from None


def _versus(
    metrics: Mapping[str, Any], baselines: Sequence[Baseline], primary: str, higher: bool
) -> list[dict[str, Any]]:
    out = []
    mine = metrics.get(primary)
    for b in baselines:
        theirs = b.metrics.get(primary)
        if not isinstance(mine, int | float) or not isinstance(theirs, int | float):
            continue
        row: dict[str, Any] = {"baseline": b.name, "model": mine, "value": theirs}
        if higher:
            row["difference"] = mine - theirs
            row["better"] = mine >= theirs
        else:
            row.update({f"ratio_{k}": v for k, v in ratios(metrics, b.metrics).items()})
            row["better"] = mine < theirs
        out.append(plain(row))
    return out


def plain(value: Any) -> Any:
    """``value`` as plain JSON types (numpy scalars and arrays to Python numbers and lists, paths to strings)."""

    def default(v: Any) -> Any:
        if isinstance(v, np.generic | np.ndarray):
            return v.tolist()
        return str(v)

    return json.loads(json.dumps(value, default=default))


def train(
    opts: TrainOptions,
    *,
    store: Store | None = None,
    progress: Progress | None = None,
    fit_once: Callable[..., Trained] = train_once,
) -> TrainResult:
    """Run one ``lepton train``; returns the result with the stored artifact.

    ``fit_once`` trains the network once (``tune.train_once`` here; ``distributed.training.data_parallel`` on a
    Ray cluster, which the faces pass for ``--ray``): everything around it is the same either way."""
    assert not opts.ray or fit_once is not train_once, "--ray: the face passes the data-parallel trainer"
    t_start = time.perf_counter()
    deadline = t_start + opts.time_budget if opts.time_budget else None
    recipe = recipe_for(opts)
    p = recipe.prepare()
    name = recipe.default_name()
    store = store or Store()
    base = recipe.hyper(p)
    baselines = recipe.baselines(p)
    higher = recipe.objective(p, base).higher_is_better
    notes: list[str] = []
    tuning = None
    test_default = None
    if opts.tune:
        tuned = tune(recipe, p, base, opts.tune, opts.seed, progress=progress, deadline=deadline)
        _require_an_epoch(tuned.default)
        chosen = tuned.best
        tuning = tuned.summary(higher)
        test_default = recipe.evaluate(p, _outputs(recipe, p, tuned.default))
        if tuned.stopped != "completed":
            notes.append(f"tuning stopped early ({tuned.stopped}) after {len(tuned.trials)} of {opts.tune} trials")
    else:
        chosen = fit_once(recipe, p, base, opts.seed, progress=progress, deadline=deadline)
        _require_an_epoch(chosen)
        if chosen.fit.workers:
            notes.append(f"trained data-parallel on {len(chosen.fit.workers)} Ray Train workers")
    if chosen.fit.stopped == "interrupted":
        notes.append(
            f"training interrupted at epoch {len(chosen.fit.history)}; kept the best epoch {chosen.fit.best_epoch}"
        )
    elif chosen.fit.stopped == "time budget":
        notes.append(f"training stopped by --time-budget at epoch {len(chosen.fit.history)}")
    cv = None
    if opts.folds and chosen.fit.stopped != "interrupted":
        cv = cross_validate(recipe, p, chosen, opts.seed, progress)
    torch_out = _outputs(recipe, p, chosen)
    torch_metrics = recipe.evaluate(p, torch_out)
    primary, _ = recipe.primary
    architecture = recipe.architecture(p, chosen.hp)
    source_info = TrainSource(
        recipe=opts.recipe,
        params=plain(chosen.hp.to_json()),
        architecture=architecture,
        metrics=plain({k: torch_metrics[k] for k in HEADLINE if torch_metrics.get(k) is not None}),
        classes=tuple(p.classes),
        seed=opts.seed,
    )
    art = export(recipe, p, chosen.net, name=name, source_info=source_info, store=store)
    onnx_out = _run_exported(art, recipe.export_inputs(p, p.test))
    metrics = recipe.evaluate(p, onnx_out)
    parity = _parity(torch_out, onnx_out, p.task)
    if p.task == "classification" and metrics.get(primary) != torch_metrics.get(primary):
        notes.append(
            f"test {primary} of the exported model {metrics.get(primary):.6g} vs PyTorch "
            f"{torch_metrics.get(primary):.6g} "
            "(float rounding on a near tie)"
        )
    timing = {
        "train_seconds": chosen.fit.seconds,
        "epoch_seconds": chosen.fit.epoch_seconds,
        "epochs_run": len(chosen.fit.history),
        "total_seconds": time.perf_counter() - t_start,
        **inference_timing(art, _ort_feeds(recipe.export_inputs(p, p.test))),
    }
    if tuning is not None and test_default is not None:
        tuning = {**tuning, "test_default": test_default.get(primary), "test_best": metrics.get(primary)}
    run_id = store.start_run("train", art.name or name, art.id)
    result = TrainResult.from_json(
        plain(
            {
                "name": art.name or name,
                "artifact_id": art.id,
                "artifact_path": str(art.path),
                "recipe": opts.recipe,
                "task": p.task,
                "run_id": run_id,
                "options": opts.to_json(),
                "data": p.report,
                "split": p.sizes(),
                "classes": p.classes,
                "params": chosen.hp.to_json(),
                "architecture": architecture,
                "primary_metric": primary,
                "higher_is_better": higher,
                "metrics": metrics,
                "baselines": [b.to_json() for b in baselines],
                "versus_baselines": _versus(metrics, baselines, primary, higher),
                "training": chosen.fit.to_json(),
                "timing": timing,
                "parity": parity,
                "preprocessing": recipe.preprocessing(p, chosen.net),
                "tuning": tuning,
                "cv": cv,
                "notes": notes,
                "forecast_plot": _forecast_plot(p, onnx_out) if p.task == "forecast" else None,
                "signature": art.signature.to_json(),
            }
        )
    ).attach(art, chosen.net)
    store.finish_run(run_id, "done", result.to_json())
    return result


def _require_an_epoch(t: Trained) -> None:
    """Ctrl-C before the first epoch finished leaves nothing worth keeping: stop as an interrupt."""
    if not t.fit.history:
        raise KeyboardInterrupt


def _outputs(recipe: Recipe, p: Prepared, t: Trained) -> np.ndarray:
    inputs, _ = recipe.torch_split(p, p.test)
    return predict(t.net, inputs)


def _ort_feeds(raw: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: (v.astype(object) if v.dtype.kind == "U" else v) for k, v in raw.items()}


def _run_exported(art: Artifact, raw: Mapping[str, np.ndarray]) -> np.ndarray:
    from lepton.ir.onnx_intake import run_onnx

    out = run_onnx(art.model_path, _ort_feeds(raw))
    return next(iter(out.values()))


def _parity(torch_out: np.ndarray, onnx_out: np.ndarray, task: str) -> dict[str, Any]:
    diff = np.abs(torch_out.astype(np.float64) - onnx_out.astype(np.float64))
    out: dict[str, Any] = {"rows": len(torch_out), "max_abs_error": float(diff.max()) if diff.size else 0.0}
    if task == "classification":
        out["same_class"] = float(np.mean(np.argmax(torch_out, 1) == np.argmax(onnx_out, 1)))
    return out


def cross_validate(
    recipe: Recipe, p: Prepared, chosen: Trained, seed: int, progress: Progress | None
) -> dict[str, Any]:
    """k-fold over training + validation rows with the chosen hyper-parameters, for the number of epochs the
    main run found best (no early stopping on the fold's held-out part, so its score is not selected on)."""
    hp = replace(chosen.hp, epochs=max(1, chosen.fit.best_epoch), patience=0)
    scores: list[float] = []
    name = recipe.objective(p, hp).metric_name
    for i, (tr, va) in enumerate(p.fold_splits()):
        net = recipe.build(p, hp, seed + i + 1)
        objective = recipe.objective(p, hp)
        f = fit(
            net,
            recipe.torch_split(p, tr),
            recipe.torch_split(p, va),
            hp,
            objective,
            seed=seed + i + 1,
            param_groups=recipe.param_groups(net, hp),
            progress=progress,
            phase=f"fold {i + 1}/{len(p.folds)}",
        )
        if f.stopped == "interrupted":
            break
        scores.append(f.history[-1].val_metric)
    return {
        "folds": len(p.folds),
        "completed": len(scores),
        "metric": name,
        "scores": scores,
        "mean": float(np.mean(scores)) if scores else math.nan,
        "std": float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0,
        "epochs": hp.epochs,
    }


def _forecast_plot(p: Prepared, outputs: np.ndarray) -> dict[str, Any]:
    """The first series' test span: actual values, and the model's and the naive forecasts one step ahead."""
    meta = p.info["test_meta"]
    sid = meta[0][0]
    rows = [i for i, m in enumerate(meta) if m[0] == sid]
    labels, values = p.info["labels"][sid], p.info["values"][sid]
    start = max(0, meta[rows[0]][1] - 3 * len(rows))
    return {
        "series": p.info["series"][sid],
        "times": labels[start:],
        "actual": [float(v) for v in values[start:]],
        "forecast_times": [labels[meta[i][1]] for i in rows],
        "forecast": [float(outputs[i, 0]) for i in rows],
        "naive": [float(p.info["naive"]["test"][i, 0]) for i in rows],
    }
