"""Drift: are the live inputs and outputs still drawn from the data the model was chosen on?

Every request's rows become per-row *features*, by what the inputs are (from their dtype, rank and name):
- numbers (a table ``[rows, n]``, a vector ``[rows]``): one feature per column (the first ``MAX_COLUMNS``);
- text (token ids, integer, named ``*ids``): the token count per row (padding and masks left out), and the
  vocabulary (every token, a categorical feature);
- images (``[rows, C, H, W]`` floats): each channel's mean and standard deviation per image;
- anything else: each row's mean and standard deviation;
- outputs (the first floating one, as fidelity compares): for a classifier the predicted class (categorical) and
  its confidence (softmax max), for an embedding the vector's norm, else the first value.

The reference is the model's stored evaluation data (``measure.workload.make_workload``: the training split a
trained model keeps, the optimize run's ``--data``, the bundled sentences) run through the model. A window of
live rows is compared per feature: the population stability index (PSI, over the reference's deciles; over its
categories for a categorical feature) and, for numbers, the two-sample Kolmogorov-Smirnov test. A numeric feature
drifts when PSI exceeds ``PSI_ALERT`` *and* KS rejects at ``ALPHA`` divided by the number of numeric features
(Bonferroni: the family of features is one alarm); a categorical one when PSI exceeds ``PSI_ALERT``. PSI above
0.2 is the usual "significant shift" line; with both rules, same-distribution windows of a few hundred rows almost
never alarm (``tests/measure/test_drift.py`` measures the rate), and a one-standard-deviation shift of one
feature (PSI about 1) is caught within ``MIN_ROWS`` shifted rows.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from lepton.contract import Contract

PSI_ALERT = 0.2
ALPHA = 0.01
BINS = 10
MAX_COLUMNS = 64
MAX_CHANNELS = 8
MAX_CATEGORIES = 50
MAX_REFERENCE = 5000  # reference values kept per numeric feature (a uniform sample beyond)
MIN_ROWS = 100  # a window holds at least this many rows before it is judged
_EPS = 1e-4

Kind = Literal["numeric", "categorical"]


@dataclass
class Features:
    """Per-row numbers (one value per row) and categorical values (any count per row: tokens)."""

    rows: int = 0
    numeric: dict[str, np.ndarray] = field(default_factory=dict)
    categorical: dict[str, np.ndarray] = field(default_factory=dict)


def features(
    inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray] | None = None, task: str = "generic"
) -> Features:
    """The features of a batch of rows (see the module's docstring)."""
    first = next(iter(inputs.values()), None)
    f = Features(rows=int(np.asarray(first).shape[0]) if first is not None and np.ndim(first) else 1)
    for name, value in inputs.items():
        a = np.asarray(value)
        low = name.lower()
        if "mask" in low or low.endswith("type_ids"):
            continue  # the mask is the length again; segment ids carry no distribution of their own
        if a.dtype.kind in "iu" and low.endswith("ids") and a.ndim == 2:
            mask = inputs.get("attention_mask")
            real = np.asarray(mask).astype(bool) if mask is not None and np.shape(mask) == a.shape else a != 0
            f.numeric[f"{name}.length"] = real.sum(axis=1).astype(np.float64)
            f.categorical[f"{name}.tokens"] = a[real].astype(np.int64)
        elif a.dtype.kind == "f" and a.ndim == 4:
            for c in range(min(a.shape[1], MAX_CHANNELS)):
                ch = a[:, c].reshape(a.shape[0], -1).astype(np.float64)
                f.numeric[f"{name}.c{c}.mean"] = ch.mean(axis=1)
                f.numeric[f"{name}.c{c}.std"] = ch.std(axis=1)
        elif a.ndim == 2:
            for j in range(min(a.shape[1], MAX_COLUMNS)):
                f.numeric[f"{name}[{j}]"] = a[:, j].astype(np.float64)
        elif a.ndim == 1:
            f.numeric[name] = a.astype(np.float64)
        elif a.ndim > 2:
            flat = a.reshape(a.shape[0], -1).astype(np.float64)
            f.numeric[f"{name}.mean"], f.numeric[f"{name}.std"] = flat.mean(axis=1), flat.std(axis=1)
    if outputs:
        _output_features(f, outputs, task)
    return f


def _output_features(f: Features, outputs: Mapping[str, np.ndarray], task: str) -> None:
    name = next((k for k, v in outputs.items() if np.asarray(v).dtype.kind == "f"), None)
    if name is None:
        return
    y = np.asarray(outputs[name], dtype=np.float64)
    if y.ndim == 3:  # token embeddings: the mean over the sequence
        y = y.mean(axis=1)
    y = y.reshape(y.shape[0], -1) if y.ndim else y.reshape(1, 1)
    if task == "embedding":
        f.numeric[f"{name}.norm"] = np.linalg.norm(y, axis=1)
    elif task == "classification" or (task == "generic" and y.shape[1] > 1):
        probs = y
        if (y < 0).any() or not np.allclose(y.sum(axis=1), 1.0, atol=1e-3):
            z = np.exp(y - y.max(axis=1, keepdims=True))
            probs = z / z.sum(axis=1, keepdims=True)
        f.categorical[f"{name}.class"] = probs.argmax(axis=1).astype(np.int64)
        f.numeric[f"{name}.confidence"] = probs.max(axis=1)
    else:
        f.numeric[name] = y[:, 0]


def merged(parts: list[Features]) -> Features:
    """Several batches' features as one (the window's rows)."""
    numeric: dict[str, list[np.ndarray]] = {}
    categorical: dict[str, list[np.ndarray]] = {}
    for p in parts:
        for k, v in p.numeric.items():
            numeric.setdefault(k, []).append(v)
        for k, v in p.categorical.items():
            categorical.setdefault(k, []).append(v)
    return Features(
        rows=sum(p.rows for p in parts),
        numeric={k: np.concatenate(v) for k, v in numeric.items()},
        categorical={k: np.concatenate(v) for k, v in categorical.items()},
    )


# -- the reference ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class NumericRef:
    values: np.ndarray  # sorted, at most MAX_REFERENCE
    edges: np.ndarray  # inner bin edges (the reference's deciles, distinct)
    shares: np.ndarray  # the reference's share in each bin


@dataclass(frozen=True)
class CategoricalRef:
    categories: np.ndarray  # the most frequent categories (others pooled in a last bin)
    shares: np.ndarray


@dataclass(frozen=True)
class Profile:
    """What the live windows are compared with."""

    source: str
    rows: int
    numeric: dict[str, NumericRef]
    categorical: dict[str, CategoricalRef]


def profile(f: Features, source: str, seed: int = 0) -> Profile:
    numeric = {}
    rng = np.random.default_rng(seed)
    for k, v in f.numeric.items():
        v = v[np.isfinite(v)]
        if v.size == 0:
            continue
        if v.size > MAX_REFERENCE:
            v = rng.choice(v, MAX_REFERENCE, replace=False)
        v = np.sort(v)
        edges = np.unique(np.quantile(v, np.linspace(0, 1, BINS + 1)[1:-1]))
        numeric[k] = NumericRef(v, edges, _shares(np.searchsorted(edges, v, side="right"), len(edges) + 1))
    categorical = {}
    for k, v in f.categorical.items():
        cats, counts = np.unique(v, return_counts=True)
        top = cats[np.argsort(-counts, kind="stable")[:MAX_CATEGORIES]]
        categorical[k] = CategoricalRef(top, _shares(_category_bins(top, v), len(top) + 1))
    return Profile(source, f.rows, numeric, categorical)


def _shares(bins: np.ndarray, n: int) -> np.ndarray:
    counts = np.bincount(bins, minlength=n).astype(np.float64)
    out: np.ndarray = counts / max(float(counts.sum()), 1.0)
    return out


def _category_bins(top: np.ndarray, v: np.ndarray) -> np.ndarray:
    order = np.argsort(top)
    pos = np.searchsorted(top[order], v)
    pos = np.clip(pos, 0, len(top) - 1)
    hit = top[order][pos] == v if len(top) else np.zeros(len(v), bool)
    out: np.ndarray = np.where(hit, order[pos] if len(top) else 0, len(top))
    return out


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two bin shares: sum (a - e) ln(a / e), empty bins floored at 1e-4."""
    e = np.clip(expected, _EPS, None)
    a = np.clip(actual, _EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def ks_test(sorted_ref: np.ndarray, sample: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov: the largest gap between the two empirical CDFs, and its asymptotic p-value
    (Kolmogorov's distribution with Stephens' small-sample correction)."""
    from scipy.special import kolmogorov

    s = np.sort(sample)
    grid = np.concatenate([sorted_ref, s])
    cdf_ref = np.searchsorted(sorted_ref, grid, side="right") / len(sorted_ref)
    gap = np.abs(cdf_ref - np.searchsorted(s, grid, side="right") / len(s))
    d = float(gap.max())
    en = np.sqrt(len(sorted_ref) * len(s) / (len(sorted_ref) + len(s)))
    return d, float(min(1.0, kolmogorov((en + 0.12 + 0.11 / en) * d)))


# -- a window against the reference -----------------------------------------------------------------
class FeatureDrift(Contract):
    name: str
    kind: Kind
    psi: float
    ks: float | None = None  # the KS statistic (numbers)
    p_value: float | None = None
    drifted: bool


class DriftReport(Contract):
    """One window of live rows against the reference, feature by feature."""

    model: str
    reference: str  # where the reference came from
    reference_rows: int
    window_rows: int
    psi_alert: float = PSI_ALERT
    alpha: float = ALPHA
    features: tuple[FeatureDrift, ...] = ()
    alert: bool = False
    judged: bool = True  # False: fewer than MIN_ROWS rows so far (no alarm either way)

    @property
    def drifted(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.drifted]


def compare(model: str, ref: Profile, window: Features, min_rows: int = MIN_ROWS) -> DriftReport:
    """Every feature of ``window`` against ``ref`` (features the reference lacks are left out)."""
    out: list[FeatureDrift] = []
    numeric = [k for k in window.numeric if k in ref.numeric]
    alpha = ALPHA / max(1, len(numeric))
    for k in numeric:
        r, v = ref.numeric[k], window.numeric[k]
        v = v[np.isfinite(v)]
        if v.size == 0:
            continue
        p = psi(r.shares, _shares(np.searchsorted(r.edges, v, side="right"), len(r.edges) + 1))
        stat, pv = ks_test(r.values, v)
        out.append(
            FeatureDrift(
                name=k, kind="numeric", psi=round(p, 5), ks=round(stat, 5), p_value=float(f"{pv:.4g}"),
                drifted=p > PSI_ALERT and pv < alpha,
            )
        )  # fmt: skip
    for k, v in window.categorical.items():
        if k not in ref.categorical or v.size == 0:
            continue
        c = ref.categorical[k]
        p = psi(c.shares, _shares(_category_bins(c.categories, v), len(c.categories) + 1))
        out.append(FeatureDrift(name=k, kind="categorical", psi=round(p, 5), drifted=p > PSI_ALERT))
    judged = window.rows >= min_rows
    return DriftReport(
        model=model,
        reference=ref.source,
        reference_rows=ref.rows,
        window_rows=window.rows,
        features=tuple(out),
        alert=judged and any(f.drifted for f in out),
        judged=judged,
    )


class Window:
    """The last ``rows`` rows' features (whole batches: a batch leaves when the rest still fill the window)."""

    def __init__(self, rows: int = 500) -> None:
        self.rows = rows
        self._parts: deque[Features] = deque()
        self._count = 0

    def add(self, f: Features) -> None:
        self._parts.append(f)
        self._count += f.rows
        while self._parts and self._count - self._parts[0].rows >= self.rows:
            self._count -= self._parts.popleft().rows

    @property
    def count(self) -> int:
        return self._count

    def features(self) -> Features:
        return merged(list(self._parts))
