"""Intake of scikit-learn estimators: skl2onnx conversion with tensor outputs and parity with sklearn."""

from __future__ import annotations

import numpy as np
import pytest
from intake_helpers import assert_store_empty, run_artifact
from sklearn.datasets import load_diabetes, load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from lepton.errors import IntakeError
from lepton.ir.source import SklearnSource
from lepton.store import Store
from lepton.store.intake import import_model


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return x.astype(np.float32), y


def test_classifier_pipeline_matches_predict_and_predict_proba(
    digits: tuple[np.ndarray, np.ndarray], store: Store
) -> None:
    x, y = digits
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x[:1200], y[:1200])
    art = import_model(clf, example_input=x[:64], store=store)

    label, proba = run_artifact(art, {"input": x[1200:]})
    assert art.task == "classification"
    assert [(o.name, o.dtype, o.shape) for o in art.signature.outputs] == [
        ("label", "int64", ("batch",)),
        ("probabilities", "float32", ("batch", 10)),
    ]
    assert art.signature.input("input").shape == ("batch", 64)
    np.testing.assert_array_equal(label, clf.predict(x[1200:]))
    np.testing.assert_allclose(proba, clf.predict_proba(x[1200:]), atol=1e-4)
    assert art.source == SklearnSource(class_name="sklearn.pipeline.Pipeline")


def test_tree_classifier_is_checked_on_generated_rows(digits: tuple[np.ndarray, np.ndarray], store: Store) -> None:
    x, y = digits
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(x, y)
    art = import_model(forest, store=store)

    label, _ = run_artifact(art, {"input": x[:200]})
    assert art.name == "randomforestclassifier"
    assert np.mean(label == forest.predict(x[:200])) == 1.0


def test_regressor_matches_predict(store: Store) -> None:
    x, y = load_diabetes(return_X_y=True)
    x = x.astype(np.float32)
    reg = Ridge(alpha=0.1).fit(x[:350], y[:350])
    art = import_model(reg, store=store)

    (pred,) = run_artifact(art, {"input": x[350:]})
    assert art.task == "regression"
    np.testing.assert_allclose(pred.ravel(), reg.predict(x[350:]), rtol=1e-4, atol=1e-3)


def test_unfitted_estimator_is_rejected(store: Store) -> None:
    with pytest.raises(IntakeError, match="not fitted; call .fit"):
        import_model(Ridge(), store=store)
    assert_store_empty(store)


def test_example_rows_of_the_wrong_width_are_rejected(digits: tuple[np.ndarray, np.ndarray], store: Store) -> None:
    x, y = digits
    reg = Ridge().fit(x, y)

    with pytest.raises(IntakeError, match="takes 64 features"):
        import_model(reg, example_input=x[:10, :5], store=store)
