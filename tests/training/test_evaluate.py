"""Evaluation figures against cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from lepton.ir.artifact import Artifact
from lepton.training.evaluate import (
    classification_report,
    confusion_matrix,
    forecast_report,
    inference_timing,
    ratios,
)


def test_classification_report_by_hand() -> None:
    # true:  a a a b b c ; predicted: a a b b c c
    y = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 2, 2])
    r = classification_report(y, pred, ["a", "b", "c"])
    assert r["accuracy"] == pytest.approx(4 / 6)
    # a: p 2/2 r 2/3 ; b: p 1/2 r 1/2 ; c: p 1/2 r 1/1
    assert r["per_class"]["a"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert r["per_class"]["b"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert r["per_class"]["c"]["f1"] == pytest.approx(2 / 3)
    assert r["precision"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert r["recall"] == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    assert r["f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert r["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_classification_report_from_scores_keeps_absent_classes() -> None:
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]])
    r = classification_report(np.array([0, 1]), scores, ["x", "y", "never"])
    assert r["accuracy"] == 1.0
    assert r["per_class"]["never"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0.0}
    assert confusion_matrix(np.array([0, 1]), np.array([0, 1]), 3) == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]


def test_forecast_report_by_hand() -> None:
    y = np.array([[10.0, 20.0], [0.0, 40.0]])
    p = np.array([[12.0, 18.0], [1.0, 40.0]])
    r = forecast_report(y, p)
    assert r["mae"] == pytest.approx((2 + 2 + 1 + 0) / 4)
    assert r["rmse"] == pytest.approx(np.sqrt((4 + 4 + 1 + 0) / 4))
    assert r["mape"] == pytest.approx((0.2 + 0.1 + 0.0) / 3 * 100)  # the zero target is left out
    assert r["mae_per_step"] == pytest.approx([1.5, 1.0])
    assert ratios(r, {"mae": 2.5, "rmse": 0.0}) == {"mae": pytest.approx(0.5)}


def test_inference_timing_runs_the_export_through_the_engine(tiny_artifact: Artifact) -> None:
    spec = tiny_artifact.signature.inputs[0]
    rows = np.random.default_rng(0).standard_normal((10, int(spec.shape[1]))).astype(np.float32)

    timing = inference_timing(tiny_artifact, {spec.name: rows}, seconds=0.02)

    assert timing["batch"] == 10
    assert timing["ms_per_row_batch1"] > 0 and timing["ms_per_row_batched"] > 0
