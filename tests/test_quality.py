from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, precision_score, recall_score

from lepton.quality import (
    classification_metrics,
    fidelity,
    primary_metric,
    regression_metrics,
    task_metrics,
)


def test_classification_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    m = classification_metrics(y, p)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert m["precision"] == pytest.approx(precision_score(y, p, average="macro"))
    assert m["recall"] == pytest.approx(recall_score(y, p, average="macro"))
    assert m["f1"] == pytest.approx(f1_score(y, p, average="macro"))


def test_regression_metrics_by_hand() -> None:
    m = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 4.0, 2.0]))
    assert m["mae"] == pytest.approx(1.0)
    assert m["rmse"] == pytest.approx(np.sqrt(5 / 3))
    assert m["mae"] == pytest.approx(mean_absolute_error([1, 2, 3], [1, 4, 2]))


def test_fidelity_identical_scaled_and_flipped() -> None:
    a = np.random.default_rng(0).standard_normal((10, 5))
    assert fidelity(a, a)["cosine"] == pytest.approx(1.0)
    assert fidelity(a, a)["max_abs_error"] == 0.0
    assert fidelity(a, 2 * a)["cosine"] == pytest.approx(1.0)
    f = fidelity(a, -a)
    assert f["cosine"] == pytest.approx(-1.0) and f["top1_agreement"] < 1.0
    with pytest.raises(ValueError, match="shapes differ"):
        fidelity(a, a[:5])


def test_task_metrics_from_scores_or_label_output() -> None:
    y = np.array([0, 1, 1, 0])
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    assert task_metrics("classification", y, {"probabilities": scores})["accuracy"] == 0.75
    assert (
        task_metrics("classification", y, {"label": np.array([0, 1, 1, 0]), "probabilities": scores})["accuracy"] == 1
    )
    assert primary_metric("regression", task_metrics("regression", y, {"y": y.astype(float)})) == (
        "rmse",
        0.0,
        False,
    )
