"""Test-split figures: classification (accuracy, macro and per-class precision/recall/F1, confusion matrix)
and forecasting (MAE, RMSE, MAPE, per-step MAE, ratio to a baseline), plus inference time of the export.

Accuracy, F1, MAE and RMSE come from ``lepton.quality`` so optimize and train agree on them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lepton.engines.base import RuntimeConfig, open_session
from lepton.ir.artifact import Artifact
from lepton.quality import classification_metrics, per_class_metrics, regression_metrics


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> list[list[int]]:
    """Rows are true classes, columns predicted classes."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)), 1)
    return m.tolist()


def classification_report(y_true: np.ndarray, scores: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Metrics from class scores (or predicted class codes) against class codes ``y_true``."""
    pred = np.argmax(scores, axis=1) if scores.ndim == 2 else np.asarray(scores).astype(np.int64)
    out: dict[str, Any] = dict(classification_metrics(y_true, pred))
    per = per_class_metrics(y_true, pred, np.arange(len(classes)))
    out["per_class"] = {classes[int(c)]: m for c, m in per.items()}
    out["confusion"] = confusion_matrix(y_true, pred, len(classes))
    out["rows"] = len(y_true)
    return out


def forecast_report(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """MAE and RMSE over every forecast step, MAPE over non-zero targets (percent), and MAE per step."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    out: dict[str, Any] = dict(regression_metrics(y_true, y_pred))
    nz = np.abs(y_true) > 1e-12
    out["mape"] = float(np.mean(np.abs((y_pred[nz] - y_true[nz]) / y_true[nz])) * 100) if nz.any() else None
    if y_true.ndim == 2:
        out["mae_per_step"] = [float(v) for v in np.mean(np.abs(y_pred - y_true), axis=0)]
    out["rows"] = len(y_true)
    return out


def ratios(
    model: Mapping[str, Any], baseline: Mapping[str, Any], keys: Sequence[str] = ("mae", "rmse")
) -> dict[str, float]:
    """``model / baseline`` for error metrics (below 1: the model is better)."""
    out = {}
    for k in keys:
        b = baseline.get(k)
        if isinstance(b, int | float) and b > 0 and isinstance(model.get(k), int | float):
            out[k] = float(model[k]) / float(b)
    return out


def inference_timing(artifact: Artifact, feeds: Mapping[str, np.ndarray], *, seconds: float = 0.25) -> dict[str, float]:
    """Per-row time of the exported model in ONNX Runtime (CPU, the engine's defaults): one row at a time, and
    rows in batches of <= 64."""
    session = open_session("onnxruntime", artifact, RuntimeConfig(provider="CPU"))
    n = len(next(iter(feeds.values())))

    def per_row(batch: int) -> float:
        parts = [{k: v[i : i + batch] for k, v in feeds.items()} for i in range(0, n, batch)]
        session.run(parts[0])
        times: list[float] = []
        rows: list[int] = []
        deadline = time.perf_counter() + seconds
        i = 0
        while time.perf_counter() < deadline or len(times) < 3:
            part = parts[i % len(parts)]
            t0 = time.perf_counter()
            session.run(part)
            times.append(time.perf_counter() - t0)
            rows.append(len(next(iter(part.values()))))
            i += 1
        per = np.asarray(times) / np.asarray(rows)
        return float(np.median(per) * 1000)

    try:
        return {"ms_per_row_batch1": per_row(1), "ms_per_row_batched": per_row(min(64, n)), "batch": min(64, n)}
    finally:
        session.close()
