"""``--tune N``: Optuna (TPE, seeded) over learning rate, width, depth, dropout and epochs (a quarter to all of
``--epochs``), pruning trials whose validation curve falls below the median of earlier trials. Trial 0 is the
recipe's defaults, so the gain of tuning is measured in the same study; the best trial's network is exported."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from lepton.training.dataset import Prepared
from lepton.training.loop import Fit, Hyper, Progress, fit
from lepton.training.recipe import Recipe


@dataclass
class Trained:
    hp: Hyper
    net: nn.Module
    fit: Fit


@dataclass
class Tuned:
    best: Trained
    default: Trained
    trials: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    stopped: str = "completed"  # completed | time budget | interrupted

    def summary(self, higher_is_better: bool) -> dict[str, Any]:
        gain = self.best.fit.best_metric - self.default.fit.best_metric
        return {
            "trials": len(self.trials),
            "completed": sum(1 for t in self.trials if t["state"] == "complete"),
            "pruned": sum(1 for t in self.trials if t["state"] == "pruned"),
            "seconds": self.seconds,
            "stopped": self.stopped,
            "best_trial": next((t["number"] for t in self.trials if t.get("best")), 0),
            "best_params": self.best.hp.to_json(),
            "val_best": self.best.fit.best_metric,
            "val_default": self.default.fit.best_metric,
            "val_loss_best": self.best.fit.best_loss,
            "val_loss_default": self.default.fit.best_loss,
            "val_gain": gain if higher_is_better else -gain,
            "history": self.trials,
        }


def _better(a: Fit, b: Fit, higher: bool) -> bool:
    """A better validation metric, or the same one at a lower validation loss: a saturated metric (100%
    validation accuracy) still tells trials apart."""
    if a.best_metric != b.best_metric:
        return a.best_metric > b.best_metric if higher else a.best_metric < b.best_metric
    return a.best_loss < b.best_loss


def train_once(
    recipe: Recipe,
    p: Prepared,
    hp: Hyper,
    seed: int,
    *,
    progress: Progress | None = None,
    phase: str = "",
    deadline: float | None = None,
    on_epoch: Any = None,
) -> Trained:
    net = recipe.build(p, hp, seed)
    train, val = recipe.torch_split(p, p.train), recipe.torch_split(p, p.val)
    result = fit(
        net,
        train,
        val,
        hp,
        recipe.objective(p, hp),
        seed=seed,
        param_groups=recipe.param_groups(net, hp),
        progress=progress,
        phase=phase,
        deadline=deadline,
        on_epoch=on_epoch,
    )
    return Trained(hp, net, result)


def tune(
    recipe: Recipe,
    p: Prepared,
    base: Hyper,
    n_trials: int,
    seed: int,
    *,
    progress: Progress | None = None,
    deadline: float | None = None,
) -> Tuned:
    import optuna

    optuna.logging.set_verbosity(logging.WARNING)
    higher = recipe.objective(p, base).higher_is_better
    study = optuna.create_study(
        direction="maximize" if higher else "minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=5),
    )
    kept: dict[str, Trained] = {}
    trials: list[dict[str, Any]] = []
    state = {"stopped": "completed"}
    t0 = time.perf_counter()

    def objective(trial: optuna.Trial) -> float:
        hp = base if trial.number == 0 else recipe.space(trial, p, base)
        phase = f"trial {trial.number + 1}/{n_trials}" + (" (defaults)" if trial.number == 0 else "")
        record: dict[str, Any] = {"number": trial.number, "params": hp.to_json(), "state": "running"}
        trials.append(record)
        t_start = time.perf_counter()

        def report(epoch: int, metric: float) -> None:
            record["epochs"] = epoch
            if trial.number == 0:
                return  # the defaults always run to the end: they are what tuning is measured against
            trial.report(metric, epoch)
            if trial.should_prune():
                record["state"] = "pruned"
                record["value"] = metric
                record["seconds"] = time.perf_counter() - t_start
                raise optuna.TrialPruned()

        done = train_once(recipe, p, hp, seed, progress=progress, phase=phase, deadline=deadline, on_epoch=report)
        record.update(state="complete", value=done.fit.best_metric, seconds=time.perf_counter() - t_start)
        if trial.number == 0:
            kept["default"] = done
        best = kept.get("best")
        if best is None or _better(done.fit, best.fit, higher):
            kept["best"] = done
            for t in trials:
                t["best"] = t is record
        if done.fit.stopped in ("interrupted", "time budget"):
            state["stopped"] = done.fit.stopped
            study.stop()
        return done.fit.best_metric

    remaining = None if deadline is None else max(1.0, deadline - time.perf_counter())
    try:
        study.optimize(objective, n_trials=n_trials, timeout=remaining, catch=())
    except KeyboardInterrupt:  # Ctrl-C between trials (inside one, training stops and the study with it)
        if "default" not in kept:
            raise
        state["stopped"] = "interrupted"
    if state["stopped"] == "completed" and len(trials) < n_trials:
        state["stopped"] = "time budget"
    return Tuned(kept["best"], kept["default"], trials, time.perf_counter() - t0, state["stopped"])
