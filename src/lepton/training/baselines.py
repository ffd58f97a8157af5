"""Simple strong baselines, trained in the same run on the same split, so a trained model is judged against
something: the majority class always; an RBF SVM for images, a random forest for tables, TF-IDF with
logistic regression for text; the last value and the seasonal naive forecast for time series.

Baselines have no use for a validation split, so they fit on training and validation rows together.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lepton.training.dataset import Prepared, Split
from lepton.training.evaluate import classification_report, forecast_report

SVM_MAX_ROWS = 5000  # an RBF SVM is quadratic in rows; larger sets are subsampled


@dataclass
class Baseline:
    name: str
    description: str
    metrics: dict[str, Any]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "metrics": self.metrics, "seconds": self.seconds}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Baseline:
        return cls(str(d["name"]), str(d.get("description") or ""), dict(d.get("metrics") or {}), d.get("seconds", 0.0))


def _timed(name: str, description: str, run: Any) -> Baseline:
    t0 = time.perf_counter()
    metrics = run()
    return Baseline(name, description, metrics, time.perf_counter() - t0)


def majority(p: Prepared) -> Baseline:
    def run() -> dict[str, Any]:
        top = int(np.bincount(p.pool.y, minlength=len(p.classes)).argmax())
        return classification_report(p.test.y, np.full(len(p.test), top), p.classes)

    return _timed("majority class", "always the most frequent training class", run)


def svm(p: Prepared, seed: int) -> Baseline:
    def run() -> dict[str, Any]:
        from sklearn.svm import SVC

        pool = p.pool
        x = pool.inputs["image"].reshape(len(pool), -1)
        y = pool.y
        if len(x) > SVM_MAX_ROWS:
            keep = np.random.default_rng(seed).choice(len(x), SVM_MAX_ROWS, replace=False)
            x, y = x[keep], y[keep]
        model = SVC(random_state=seed).fit(x, y)
        return classification_report(
            p.test.y, model.predict(p.test.inputs["image"].reshape(len(p.test), -1)), p.classes
        )

    return _timed("SVC", "scikit-learn SVC (RBF kernel, defaults) on the raw pixels", run)


def _tabular_matrix(split: Split, categories: list[list[str]]) -> np.ndarray:
    parts = []
    if "features" in split.inputs:
        parts.append(split.inputs["features"].astype(np.float64))
    if "categorical" in split.inputs:
        cat = split.inputs["categorical"]
        codes = [
            np.asarray([vocab.index(v) if v in vocab else -1 for v in cat[:, j]], dtype=np.float64)
            for j, vocab in enumerate(categories)
        ]
        parts.append(np.where(np.stack(codes, axis=1) < 0, np.nan, np.stack(codes, axis=1)))
    return np.concatenate(parts, axis=1)


def random_forest(p: Prepared, seed: int) -> Baseline:
    def run() -> dict[str, Any]:
        from sklearn.ensemble import RandomForestClassifier

        pool = p.pool
        cats = p.info.get("vocab", [])
        model = RandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=1)
        model.fit(_tabular_matrix(pool, cats), pool.y)
        return classification_report(p.test.y, model.predict(_tabular_matrix(p.test, cats)), p.classes)

    return _timed(
        "random forest",
        "scikit-learn RandomForestClassifier (200 trees; missing values native, categories as codes)",
        run,
    )


def tfidf_logreg(p: Prepared, seed: int) -> Baseline:
    def run() -> dict[str, Any]:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        texts = p.info["texts"]
        model = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
            LogisticRegression(C=10.0, max_iter=2000, random_state=seed),
        )
        model.fit(texts["train"] + texts["val"], p.pool.y)
        return classification_report(p.test.y, model.predict(texts["test"]), p.classes)

    return _timed("TF-IDF + logistic regression", "word 1-2 grams, sublinear TF, C=10", run)


def naive_forecasts(p: Prepared) -> list[Baseline]:
    """Test metrics of the naive forecasts, plus their validation MAE (``val_mae``) to compare with the model's."""
    season = p.info["season"]
    kinds = [("last value", "naive", "repeat the last observed value for every step")]
    if season > 1:
        kinds.append(("seasonal naive", "seasonal", f"the value one season ({season} steps) earlier"))
    out = []
    for name, key, description in kinds:
        metrics = forecast_report(p.test.y, p.info[key]["test"])
        metrics["val_mae"] = float(np.mean(np.abs(p.info[key]["val"] - p.val.y)))
        out.append(Baseline(name, description, metrics, 0.0))
    return out


def baselines_for(p: Prepared, seed: int) -> list[Baseline]:
    if p.task == "forecast":
        return naive_forecasts(p)
    strong = {"image": svm, "tabular": random_forest, "text": tfidf_logreg}[p.kind](p, seed)
    return [strong, majority(p)]
