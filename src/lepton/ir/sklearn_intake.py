"""Intake of a fitted scikit-learn estimator or Pipeline via skl2onnx, checked against predict(_proba)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lepton.errors import IntakeError, first_line
from lepton.ir.artifact import MODEL_FILE
from lepton.ir.signature import Signature
from lepton.ir.source import SklearnSource

if TYPE_CHECKING:
    from lepton.ir.intake import Built

INPUT_NAME = "input"
PROBA_ATOL = 1e-4  # probabilities, float32 graph vs float64 sklearn
REG_RTOL = 1e-4  # regression outputs, relative to their magnitude
_PARITY_ROWS = 32


def _final_step(est: Any) -> Any:
    steps = getattr(est, "steps", None)
    return steps[-1][1] if steps else est


def _n_features(est: Any) -> int:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(est)
    except NotFittedError:
        raise IntakeError(f"the {type(est).__name__} is not fitted; call .fit(X, y) before importing it") from None
    n = getattr(est, "n_features_in_", None)
    if n is None:
        raise IntakeError(
            f"{type(est).__name__} does not say how many features it takes (no n_features_in_); "
            "fit it on a 2-D numeric array, or convert it with skl2onnx yourself and import the .onnx"
        )
    return int(n)


def _convert(est: Any, n_features: int) -> Any:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.base import is_classifier

    final = _final_step(est)
    options = {id(final): {"zipmap": False}} if is_classifier(final) else None
    try:
        return convert_sklearn(est, initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))], options=options)
    except Exception as e:
        first = first_line(e, 250)
        raise IntakeError(
            f"skl2onnx cannot convert {type(est).__name__}: {first}; use estimators skl2onnx supports "
            "(https://onnx.ai/sklearn-onnx/supported.html) or register a converter for it"
        ) from None


def _parity_rows(example_input: Any, n_features: int) -> np.ndarray:
    if example_input is None:
        return np.random.default_rng(0).normal(size=(_PARITY_ROWS, n_features)).astype(np.float32)
    x = np.asarray(example_input, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != n_features:
        raise IntakeError(
            f"example_input has shape {x.shape}; the estimator takes {n_features} features. "
            f"Give rows shaped (n, {n_features})"
        )
    return x[:256]


def _check_parity(est: Any, task: str, x: np.ndarray, got: list[np.ndarray]) -> None:
    name = type(est).__name__
    if task == "classification":
        label = np.asarray(est.predict(x))
        has_proba = hasattr(est, "predict_proba") and len(got) > 1
        if has_proba:
            proba = np.asarray(est.predict_proba(x))
            err = float(np.max(np.abs(got[1].astype(np.float64) - proba)))
            if got[1].shape != proba.shape or err > PROBA_ATOL:
                raise IntakeError(
                    f"the ONNX graph of {name} gives different probabilities (max abs error {err:.3g}); "
                    "convert it with skl2onnx yourself to investigate"
                )
            top2 = np.sort(proba, axis=1)[:, -2:] if proba.shape[1] > 1 else np.ones((len(x), 2))
            decided = (top2[:, 1] - top2[:, 0]) > 10 * PROBA_ATOL  # near-ties may flip in float32
        else:
            decided = np.ones(len(x), dtype=bool)
        wrong = int(np.sum((got[0].reshape(label.shape) != label) & decided))
        if wrong:
            raise IntakeError(
                f"the ONNX graph of {name} predicts a different label on {wrong} of {len(x)} rows; "
                "convert it with skl2onnx yourself to investigate"
            )
    elif task == "regression":
        want = np.asarray(est.predict(x), dtype=np.float64)
        pred = got[0].astype(np.float64).reshape(want.shape)
        err = float(np.max(np.abs(pred - want)))
        if err > REG_RTOL * max(1.0, float(np.max(np.abs(want)))):
            raise IntakeError(
                f"the ONNX graph of {name} predicts differently (max abs error {err:.3g}); "
                "convert it with skl2onnx yourself to investigate"
            )


def sklearn_intake(est: Any, workdir: Path, example_input: Any = None) -> Built:
    """Convert a fitted estimator to ``workdir/model.onnx`` (float32 input ``input`` [batch, n_features])."""
    from sklearn.base import is_classifier, is_regressor

    from lepton.ir.intake import Built
    from lepton.ir.onnx_intake import name_batch_dim, read_onnx, run_onnx

    n = _n_features(est)
    model = _convert(est, n)
    name_batch_dim(model)
    path = workdir / MODEL_FILE
    path.write_bytes(model.SerializeToString())
    read_onnx(path)
    task = "classification" if is_classifier(est) else "regression" if is_regressor(est) else "generic"
    x = _parity_rows(example_input, n)
    got = list(run_onnx(path, {INPUT_NAME: x}).values())
    _check_parity(est, task, x, got)
    cls = type(est)
    return Built(
        Signature.from_onnx(model),
        task,
        source=SklearnSource(class_name=f"{cls.__module__}.{cls.__qualname__}"),
    )
