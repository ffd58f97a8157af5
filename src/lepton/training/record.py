"""The parts of a ``TrainResult``: typed records of what the training stage measured, as the store keeps them.

What varies by recipe (the data report, the hyper-parameters, the test metrics, what the graph does to raw
inputs) stays a JSON object (``Json``); what the summary and the report read by name is typed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ConfigDict, Field, JsonValue

from lepton.contract import Contract

Json = dict[str, JsonValue]  # a recipe-specific record, in its JSON form


def num(record: Mapping[str, Any], key: str) -> float | None:
    """``record[key]`` when it is a finite number (not a bool), else None."""
    v = record.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or v != v or v in (float("inf"), float("-inf")):
        return None
    return float(v)


class Epoch(Contract):
    epoch: int
    train_loss: float
    val_loss: float
    val_metric: float
    seconds: float


class FitRecord(Contract):
    """What the chosen training run did (``training`` in the JSON)."""

    history: tuple[Epoch, ...] = ()
    best_epoch: int = 0
    best_val_metric: float
    best_val_loss: float
    seconds: float
    epoch_seconds: float
    stopped: str  # completed | early stopping | interrupted | time budget
    workers: tuple[Json, ...] | None = None  # data-parallel: each worker's rank, node, pid


class TrainTiming(Contract):
    train_seconds: float
    epoch_seconds: float
    epochs_run: int
    total_seconds: float
    ms_per_row_batch1: float  # the exported model in ONNX Runtime, one row at a time
    ms_per_row_batched: float
    batch: int


class Parity(Contract):
    """The exported model against PyTorch on the test split."""

    rows: int
    max_abs_error: float
    same_class: float | None = None  # classification: the share of rows with the same predicted class


class Versus(Contract):
    """The model against one baseline on the primary metric: a difference for scores, ratios for errors."""

    model_config = ConfigDict(extra="allow")  # ratio_<metric> for each error metric both have

    baseline: str
    model: float
    value: float
    difference: float | None = None
    better: bool
    ratio_mae: float | None = None
    ratio_rmse: float | None = None


class TuningTrial(Contract):
    model_config = ConfigDict(extra="allow")

    number: int
    params: Json = Field(default_factory=dict)
    state: str  # running | complete | pruned | interrupted
    value: float | None = None
    best: bool | None = None


class Tuning(Contract):
    """What ``--tune`` did: the trials, and the defaults against the best trial on validation and test."""

    model_config = ConfigDict(extra="allow")

    trials: int
    completed: int
    pruned: int
    seconds: float
    stopped: str
    best_trial: int
    best_params: Json = Field(default_factory=dict)
    val_best: float
    val_default: float
    val_loss_best: float
    val_loss_default: float
    val_gain: float  # positive: the best trial is better than the defaults
    history: tuple[TuningTrial, ...] = ()
    test_default: float | None = None
    test_best: float | None = None


class CrossValidation(Contract):
    folds: int
    completed: int
    metric: str
    scores: tuple[float, ...] = ()
    mean: float
    std: float
    epochs: int


class ForecastPlot(Contract):
    """The first series' test span: actual values, and the model's and the naive one-step-ahead forecasts."""

    series: str
    times: tuple[str | int | float, ...]
    actual: tuple[float, ...]
    forecast_times: tuple[str | int | float, ...]
    forecast: tuple[float, ...]
    naive: tuple[float, ...]
