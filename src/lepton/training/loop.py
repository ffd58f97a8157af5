"""The training loop every recipe shares: AdamW with a one-cycle schedule, early stopping on the validation
metric, the best epoch's weights kept, Ctrl-C and time budgets stopping cleanly, seeded shuffling."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from lepton.engines.torch_eager import torch_threads

Batch = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Hyper:
    """The hyper-parameters of one training run (a recipe's defaults overlaid with the user's)."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    dropout: float
    patience: int
    width: int
    depth: int
    extra: Mapping[str, Any] = field(default_factory=dict)  # recipe-specific (freeze, conv, ...)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(d.pop("extra"))
        return {k: v for k, v in d.items() if not (k in ("width", "depth") and v == 0)}  # 0: does not apply


@dataclass(frozen=True)
class Objective:
    """How a recipe is trained and judged: the loss, the validation metric, and training-time augmentation."""

    loss: Callable[[torch.Tensor, torch.Tensor, Batch], torch.Tensor]
    metric_name: str
    higher_is_better: bool
    metric: Callable[[np.ndarray, np.ndarray], float]  # (predictions, targets) -> value
    augment: Callable[[Batch, torch.Generator], Batch] | None = None

    def better(self, a: float, b: float) -> bool:
        return a > b if self.higher_is_better else a < b


@dataclass
class Epoch:
    epoch: int
    train_loss: float
    val_loss: float
    val_metric: float
    seconds: float


@dataclass
class Fit:
    """What one training run did; the model holds the best epoch's weights afterwards."""

    history: list[Epoch]
    best_epoch: int
    best_metric: float
    seconds: float
    stopped: str  # completed | early stopping | interrupted | time budget
    best_loss: float = math.inf  # validation loss at the best epoch (breaks ties of the metric)
    workers: list[dict[str, Any]] = field(default_factory=list)  # data-parallel: each worker's rank, node, pid

    @property
    def epoch_seconds(self) -> float:
        return float(np.mean([e.seconds for e in self.history])) if self.history else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "history": [asdict(e) for e in self.history],
            "best_epoch": self.best_epoch,
            "best_val_metric": self.best_metric,
            "best_val_loss": self.best_loss,
            "seconds": self.seconds,
            "epoch_seconds": self.epoch_seconds,
            "stopped": self.stopped,
            **({"workers": self.workers} if self.workers else {}),
        }


@dataclass
class Event:
    """One progress tick: where training is and how it goes."""

    phase: str
    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float
    val: float | None
    best: float | None
    metric: str
    epoch_done: bool = False  # the tick after validation, with this epoch's metric


Progress = Callable[[Event], None]
EpochHook = Callable[[int, float], None]  # (epoch, validation metric); may raise to stop (Optuna pruning)


@dataclass(frozen=True)
class Shard:
    """One worker of a data-parallel run (``distributed.training``): its ``rank`` among ``world`` workers, the
    ``wrapped`` model whose backward pass averages gradients over the workers (PyTorch DDP), ``total`` that sums
    numbers over the workers, and ``agree`` that stops every worker when one says so.

    Each epoch every worker draws the same seeded permutation and trains on its slice of it (padded so all
    workers take the same number of steps) with ``batch_size / world`` rows per step: the global batch, the
    number of optimizer steps and the learning-rate schedule are those of a run on one machine."""

    rank: int
    world: int
    wrapped: nn.Module
    total: Callable[[list[float]], list[float]]
    agree: Callable[[bool], bool]


@torch_threads()  # the thread policy's count, put back afterwards
def predict(model: nn.Module, inputs: Batch, batch_size: int = 256) -> np.ndarray:
    """Model outputs for every row, in eval mode, batched."""
    model.eval()
    n = len(next(iter(inputs.values())))
    outs = []
    with torch.inference_mode():
        for i in range(0, n, batch_size):
            outs.append(model(**{k: v[i : i + batch_size] for k, v in inputs.items()}).float().numpy())
    return np.concatenate(outs) if outs else np.empty((0,))


def _val_loss(model: nn.Module, inputs: Batch, y: torch.Tensor, objective: Objective, batch_size: int) -> float:
    model.eval()
    n, total = len(y), 0.0
    with torch.inference_mode():
        for i in range(0, n, batch_size):
            part = {k: v[i : i + batch_size] for k, v in inputs.items()}
            total += float(objective.loss(model(**part), y[i : i + batch_size], part)) * len(y[i : i + batch_size])
    return total / max(n, 1)


@torch_threads()  # the thread policy's count, put back afterwards
def fit(
    model: nn.Module,
    train: tuple[Batch, torch.Tensor],
    val: tuple[Batch, torch.Tensor],
    hp: Hyper,
    objective: Objective,
    *,
    seed: int,
    param_groups: list[dict[str, Any]] | None = None,
    progress: Progress | None = None,
    phase: str = "",
    deadline: float | None = None,
    on_epoch: EpochHook | None = None,
    shard: Shard | None = None,
) -> Fit:
    """Train ``model`` in place; it ends holding the weights of its best validation epoch. With ``shard``, this
    is one worker of a data-parallel run (every worker validates on the whole validation split)."""
    x, y = train
    xv, yv = val
    n = len(y)
    batch_size, rows = hp.batch_size, n
    if shard is not None:
        batch_size, rows = math.ceil(hp.batch_size / shard.world), math.ceil(n / shard.world)
    steps = max(1, math.ceil(rows / batch_size))
    forward = shard.wrapped if shard is not None else model
    gen = torch.Generator().manual_seed(seed)
    groups = param_groups or [{"params": [p for p in model.parameters() if p.requires_grad]}]
    opt = torch.optim.AdamW(groups, lr=hp.lr, weight_decay=hp.weight_decay)
    max_lr = [g.get("lr", hp.lr) for g in groups]
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=hp.epochs * steps, pct_start=0.25)
    history: list[Epoch] = []
    best_state: dict[str, torch.Tensor] | None = None
    best, best_loss, best_epoch, stale = math.nan, math.inf, 0, 0
    stopped = "completed"
    t_start = time.perf_counter()
    try:
        for epoch in range(1, hp.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            order = torch.randperm(n, generator=gen)
            if shard is not None:  # this worker's slice, padded so that every worker takes as many steps
                order = torch.cat([order, order[: rows * shard.world - n]])[shard.rank :: shard.world]
            running, seen = 0.0, 0
            for step in range(steps):
                idx = order[step * batch_size : (step + 1) * batch_size]
                if len(idx) < 2 and step:  # a lone row breaks BatchNorm; it is seen next epoch
                    continue
                batch = {k: v[idx] for k, v in x.items()}
                if objective.augment is not None:
                    batch = objective.augment(batch, gen)
                loss = objective.loss(forward(**batch), y[idx], batch)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                running += float(loss.detach()) * len(idx)
                seen += len(idx)
                if progress:
                    progress(
                        Event(
                            phase,
                            epoch,
                            hp.epochs,
                            step + 1,
                            steps,
                            running / seen,
                            _num(history),
                            _b(best),
                            objective.metric_name,
                        )
                    )
            if shard is not None:  # the epoch's training loss over every worker's rows
                running, total_seen = shard.total([running, float(seen)])
                seen = int(total_seen)
            preds = predict(model, xv)
            metric = objective.metric(preds, yv.numpy())
            vloss = _val_loss(model, xv, yv, objective, 256)
            history.append(Epoch(epoch, running / max(seen, 1), vloss, metric, time.perf_counter() - t0))
            if math.isnan(best) or objective.better(metric, best) or (metric == best and vloss < best_loss):
                best, best_loss, best_epoch, stale = metric, vloss, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
            if progress:
                progress(
                    Event(
                        phase,
                        epoch,
                        hp.epochs,
                        steps,
                        steps,
                        running / max(seen, 1),
                        metric,
                        best,
                        objective.metric_name,
                        True,
                    )
                )
            if on_epoch is not None:
                on_epoch(epoch, metric)
            patience_out = bool(hp.patience and stale >= hp.patience)
            out_of_time = deadline is not None and time.perf_counter() > deadline
            if shard is not None:  # workers stop together (their clocks and BatchNorm statistics differ)
                patience_out, out_of_time = shard.agree(patience_out), shard.agree(out_of_time)
            if patience_out:
                stopped = "early stopping"
                break
            if out_of_time:
                stopped = "time budget"
                break
    except KeyboardInterrupt:
        stopped = "interrupted"
    finally:
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
    return Fit(history, best_epoch, best, time.perf_counter() - t_start, stopped, best_loss)


def _num(history: list[Epoch]) -> float | None:
    return history[-1].val_metric if history else None


def _b(best: float) -> float | None:
    return None if math.isnan(best) else best
