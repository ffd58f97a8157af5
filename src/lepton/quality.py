"""Quality: task metrics against labels, or fidelity to a reference model's outputs when there are none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from lepton.contract import Contract
from lepton.similarity import row_cosines, rows


def per_class_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, classes: np.ndarray | None = None
) -> dict[Any, dict[str, float]]:
    """Precision, recall, F1 and support of each class (default: every class in ``y_true`` or ``y_pred``)."""
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred).reshape(-1)
    out: dict[Any, dict[str, float]] = {}
    for c in np.union1d(y_true, y_pred) if classes is None else classes:
        tp = float(np.sum((y_pred == c) & (y_true == c)))
        fp = float(np.sum((y_pred == c) & (y_true != c)))
        fn = float(np.sum((y_pred != c) & (y_true == c)))
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        out[c.item() if isinstance(c, np.generic) else c] = {
            "precision": p,
            "recall": r,
            "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "support": tp + fn,
        }
    return out


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy and macro precision/recall/F1 (over every class seen in ``y_true`` or ``y_pred``)."""
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred).reshape(-1)
    per = list(per_class_metrics(y_true, y_pred).values())
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "precision": float(np.mean([m["precision"] for m in per])),
        "recall": float(np.mean([m["recall"] for m in per])),
        "f1": float(np.mean([m["f1"] for m in per])),
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    y_true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    err = y_pred - y_true
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2)))}


def fidelity(reference: np.ndarray, candidate: np.ndarray) -> dict[str, Any]:
    """How close ``candidate`` is to ``reference`` row by row: mean/min cosine, max abs error, top-1 agreement.

    The cosine follows ``lepton.similarity.row_cosines`` (a zero row: 1.0 against a zero row, else 0.0).
    """
    ref = np.asarray(reference, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    if ref.shape != cand.shape:
        raise ValueError(f"fidelity: output shapes differ, reference {ref.shape} vs candidate {cand.shape}")
    r, c = rows(ref), rows(cand)
    cos = row_cosines(r, c)
    out = {
        "cosine": float(np.mean(cos)),
        "cosine_min": float(np.min(cos)),
        "max_abs_error": float(np.max(np.abs(r - c))) if r.size else 0.0,
    }
    if r.shape[1] > 1:
        out["top1_agreement"] = float(np.mean(np.argmax(r, axis=1) == np.argmax(c, axis=1)))
    return out


def task_metrics(task: str, labels: np.ndarray, outputs: dict[str, np.ndarray]) -> dict[str, Any]:
    """Metrics for a task from a model's outputs: a label output, or the argmax of scores."""
    values = list(outputs.values())
    if task == "regression" or task == "forecast":
        return regression_metrics(labels, values[0])
    pred = None
    for name, v in outputs.items():
        if name == "label" or (v.ndim == 1 and np.issubdtype(v.dtype, np.integer)):
            pred = v
            break
    if pred is None:
        scores = values[0]
        pred = np.argmax(scores, axis=-1) if scores.ndim > 1 else (scores > 0.5).astype(np.int64)
    return classification_metrics(labels, pred)


@dataclass(frozen=True)
class Headline:
    """The one quality figure a trial is judged and shown by, and which way is better."""

    name: str  # accuracy | rmse | cosine
    value: float
    higher_is_better: bool

    @property
    def label(self) -> str:
        """The word a person reads: fidelity for cosine to a reference model."""
        return "fidelity" if self.name == "cosine" else self.name

    @property
    def short(self) -> str:
        """Compact form for table cells: ``acc 0.9876``, ``cos 0.9934``, ``rmse 1.23``."""
        abbrev = {"accuracy": "acc", "cosine": "cos", "perplexity": "ppl"}.get(self.name, self.name)
        return f"{abbrev} {self.formatted}"

    @property
    def text(self) -> str:
        """Long form for sentences: ``accuracy 0.9876``, ``fidelity 0.9934``."""
        return f"{self.label} {self.formatted}"

    @property
    def formatted(self) -> str:
        return f"{self.value:.4g}" if self.name in ERROR_METRICS else f"{self.value:.4f}"

    def drop_from(self, base: float) -> float:
        """How much worse than ``base`` this is, never negative: absolute for scores, relative for errors."""
        if self.higher_is_better:
            return max(0.0, base - self.value)
        return max(0.0, (self.value - base) / abs(base)) if base else max(0.0, self.value - base)


ERROR_METRICS = ("rmse", "mae", "perplexity")
# The headline order: task accuracy first, then the regression error, then fidelity to a reference model.
_HEADLINE_ORDER: tuple[tuple[str, bool], ...] = (
    ("accuracy", True),
    ("rmse", False),
    ("cosine", True),
    ("perplexity", False),
)


class BatchDependence(Contract):
    """How much a row's quality moves when it runs in a batch of other rows instead of alone, at the batch sizes
    a server forms (a variant that quantizes activations per call, as dynamic int8 does, gives a request an output
    that depends on its batch-mates). ``worst`` and ``by_batch`` are drops of the headline metric (``metric``),
    never negative: per row for fidelity (the worst row), over the rows checked for task metrics."""

    metric: str  # cosine | accuracy | rmse ...
    worst: float  # the largest drop at any batch size
    by_batch: dict[int, float]  # batch size -> the largest drop in batches of that size
    rows: int  # rows checked, each alone and in mixed batches
    row: int | None = None  # the worst row's index in the workload (per-row metrics)

    def within(self, batch_size: int) -> float | None:
        """The largest drop in batches a server with ``batch_size`` as its largest forms (sizes 2..batch_size
        that were measured); None when none was."""
        drops = [d for b, d in self.by_batch.items() if 1 < b <= batch_size]
        return max(drops) if drops else None


class Quality(Contract):
    """Quality of one configuration: task metrics against labels, or fidelity to a reference model's outputs;
    ``batch_dependence`` for a variant whose outputs depend on a row's batch-mates (None: not such a variant)."""

    kind: Literal["task", "fidelity"] | None = None
    output: str | None = None  # the output fidelity was computed on
    against: str | None = None  # the reference: "torch fp32", "onnxruntime fp32"
    accuracy: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    mae: float | None = None
    rmse: float | None = None
    mape: float | None = None
    cosine: float | None = None
    cosine_min: float | None = None
    max_abs_error: float | None = None
    top1_agreement: float | None = None
    batch_dependence: BatchDependence | None = None
    # a causal LM: perplexity on held-out text (its drop is the relative increase over the reference's), and the
    # share of the reference's greedy continuation tokens reproduced before the first difference
    perplexity: float | None = None
    greedy_match: float | None = None

    def headline(self) -> Headline | None:
        """The one figure quality is judged on (the same rule for the navigator, the terminal and the HTML)."""
        for name, higher in _HEADLINE_ORDER:
            v = getattr(self, name)
            if v is not None:
                return Headline(name, float(v), higher)
        return None


def primary_metric(task: str, metrics: dict[str, Any]) -> tuple[str, float, bool]:
    """The headline of a metrics dict: (name, value, higher_is_better)."""
    h = Quality.model_validate(metrics).headline()
    if h is None:
        raise KeyError("no quality metric")
    return h.name, h.value, h.higher_is_better
