"""Prepared data: the train / validation / test splits of model inputs and targets, and how they were made."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lepton.errors import UserError


@dataclass
class Split:
    """Rows of raw model inputs (name -> array, rows first) and their targets."""

    inputs: dict[str, np.ndarray]
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def take(self, idx: np.ndarray) -> Split:
        return Split({k: v[idx] for k, v in self.inputs.items()}, self.y[idx])

    @staticmethod
    def concat(*parts: Split) -> Split:
        names = parts[0].inputs
        return Split(
            {k: np.concatenate([p.inputs[k] for p in parts]) for k in names},
            np.concatenate([p.y for p in parts]),
        )


@dataclass
class Prepared:
    """What a recipe trains on. ``report`` says what data preparation did (shown to the user and stored)."""

    task: str  # classification | forecast
    kind: str  # tabular | image | text | series
    train: Split
    val: Split
    test: Split
    classes: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    folds: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # indices into train+val

    @property
    def pool(self) -> Split:
        """Training and validation rows together (k-fold cross-validation splits these)."""
        return Split.concat(self.train, self.val)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}

    def fold_splits(self) -> Iterator[tuple[Split, Split]]:
        pool = self.pool
        for tr, va in self.folds:
            yield pool.take(tr), pool.take(va)


def class_counts(y: np.ndarray, classes: list[str]) -> dict[str, int]:
    counts = np.bincount(y, minlength=len(classes))
    return {c: int(n) for c, n in zip(classes, counts, strict=True)}


def check_classes(y: np.ndarray, classes: list[str], where: str, *, folds: int = 0) -> None:
    """Enough rows of each class for a stratified three-way split (and for k folds)."""
    if len(classes) < 2:
        only = f"only {classes[0]!r}" if classes else "none"
        raise UserError(
            f"{where}: the target has a single class ({only}); classification needs at least two. "
            "Check --target names the label column, or add rows of other classes"
        )
    need = max(3, folds + 1) if folds else 3
    counts = class_counts(y, classes)
    few = {c: n for c, n in counts.items() if n < need}
    if few:
        shown = ", ".join(f"{c!r}: {n}" for c, n in list(few.items())[:5])
        why = (
            f"{folds}-fold cross-validation plus a test split" if folds else "a stratified train/validation/test split"
        )
        raise UserError(
            f"{where}: too few rows for {why}: each class needs at least {need} rows, and {shown} "
            f"{'has' if len(few) == 1 else 'have'} fewer. Add rows, drop those classes"
            + (", or use fewer --folds" if folds else "")
        )


def stratified_split(
    y: np.ndarray, val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of train / validation / test, each class spread proportionally (at least one row each)."""
    rng = np.random.default_rng(seed)
    parts: tuple[list[int], list[int], list[int]] = ([], [], [])
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n = len(idx)
        n_test = min(n - 2, max(1, int(round(n * test_fraction))))
        n_val = min(n - n_test - 1, max(1, int(round(n * val_fraction))))
        parts[2].extend(idx[:n_test])
        parts[1].extend(idx[n_test : n_test + n_val])
        parts[0].extend(idx[n_test + n_val :])
    tr, va, te = (np.sort(np.asarray(p, dtype=np.int64)) for p in parts)
    return tr, va, te


def stratified_folds(y: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train, validation) index pairs; every row is validated exactly once."""
    rng = np.random.default_rng(seed + 1)
    fold_of = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        fold_of[idx] = (np.arange(len(idx)) + int(rng.integers(k))) % k
    return [(np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)) for f in range(k)]


def split_rows(
    inputs: Mapping[str, np.ndarray], y: np.ndarray, val_fraction: float, test_fraction: float, seed: int
) -> tuple[Split, Split, Split]:
    whole = Split(dict(inputs), y)
    tr, va, te = stratified_split(y, val_fraction, test_fraction, seed)
    return whole.take(tr), whole.take(va), whole.take(te)
