"""Trained models end to end: the exported ONNX takes raw rows (missing values, strings, raw pixels, raw
prices) and gives PyTorch's predictions; the artifact carries its test split under the agreed contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper
from train_helpers import FAST

import lepton
from lepton.ir.source import TrainSource
from lepton.store import Store
from lepton.training.classify import encode_categories


def session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_table_with_categories_and_missing_values(table_csv: Path) -> None:
    r = lepton.train("classify", table_csv, target="species", categorical="colour", **FAST)
    art = r.artifact
    # the contract optimize relies on
    assert art.task == "classification" and art.files["eval_data"] == "eval.npz"
    src = art.source
    assert isinstance(src, TrainSource) and src.recipe == "classify" and src.params["epochs"] == 4
    assert set(src.metrics) == {"accuracy", "precision", "recall", "f1"} and src.classes[0] == "setosa"
    assert [(t.name, t.dtype) for t in art.signature.inputs] == [("categorical", "str"), ("features", "float32")]
    with np.load(art.file("eval_data")) as z:
        assert sorted(z.files) == ["categorical", "features", "label"] and len(z["label"]) == r.split["test"]
    # raw rows in: a missing height, an unseen colour, a missing colour
    features = np.array([[np.nan, 112.0, 0.3], [140.0, 110.0, -1.0], [110.0, 150.0, 0.0]], np.float32)
    colours = np.array([["red"], ["purple"], [""]], dtype=object)
    got = session(art.model_path).run(None, {"features": features, "categorical": colours})[0]
    net = r.net
    codes = torch.from_numpy(encode_categories(colours.astype(str), [["blue", "green", "red"]]))
    assert codes.tolist() == [[3], [0], [0]]
    with torch.inference_mode():
        want = net(features=torch.from_numpy(features), categorical_codes=codes).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert np.isfinite(got).all()
    # the imputation and normalisation fitted on the training split live in the graph
    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(art.model_path)).graph.initializer}
    pre = r.preprocessing["features"]
    assert any(v.shape == (3,) and np.allclose(v, pre["mean"]) for v in inits.values())
    assert any(v.shape == (3,) and np.allclose(v, pre["impute_median"]) for v in inits.values())
    assert r.metrics["accuracy"] > 0.8 and r.parity.same_class == 1.0


def test_image_folder_cnn_takes_raw_pixels(image_folder: Path) -> None:
    r = lepton.train("classify", image_folder, epochs=6)
    art = r.artifact
    assert art.signature.inputs[0].name == "image" and art.signature.inputs[0].shape == ("batch", 3, 10, 10)
    assert r.metrics["accuracy"] >= 0.9  # a bright square top-left or bottom-right is easy
    with np.load(art.file("eval_data")) as z:
        pixels, labels = z["image"], z["label"]
    assert pixels.max() > 200  # raw 0-255 values, as a client would send them
    got = session(art.model_path).run(None, {"image": pixels})[0]
    with torch.inference_mode():
        want = art.torch_module(torch.from_numpy(pixels))["logits"].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert float(np.mean(got.argmax(1) == labels)) == r.metrics["accuracy"]
    assert [b.name for b in r.baselines] == ["SVC", "majority class"]


def test_forecast_exports_raw_history_to_raw_forecast(series_csv: Path) -> None:
    r = lepton.train("forecast", series_csv, target="sales", group="shop", horizon=2, epochs=30, patience=0)
    art = r.artifact
    assert art.task == "forecast" and isinstance(art.source, TrainSource) and art.source.recipe == "forecast"
    assert [(t.name, t.shape) for t in art.signature.inputs] == [("history", ("batch", 12))]
    assert [(t.name, t.shape) for t in art.signature.outputs] == [("forecast", ("batch", 2))]
    with np.load(art.file("eval_data")) as z:
        history, label = z["history"], z["label"]
    assert label.shape == (r.split["test"], 2) and history.min() > 30  # raw sales, not scaled
    got = session(art.model_path).run(None, {"history": history})[0]
    np.testing.assert_allclose(
        got, art.torch_module(torch.from_numpy(history))["forecast"].detach().numpy(), rtol=1e-4, atol=1e-3
    )
    assert r.metrics["mae"] == pytest.approx(float(np.mean(np.abs(got - label))), rel=1e-5)
    names = [b.name for b in r.baselines]
    assert names == ["last value", "seasonal naive"]
    # a yearly cycle with a trend: the seasonal naive is good, the last value poor, and the LSTM learns both
    seasonal = r.baselines[1].metrics["mae"]
    assert r.metrics["mae"] < r.baselines[0].metrics["mae"]
    assert seasonal < r.baselines[0].metrics["mae"]
    assert any(v["baseline"] == "last value" and v["ratio_mae"] < 1 for v in r.versus())


def test_a_train_run_is_recorded_with_its_summary(table_csv: Path) -> None:
    r = lepton.train("classify", table_csv, target="species", categorical="colour", name="flowers", **FAST)
    store = Store()
    assert store.model_artifact("flowers") is not None and store.model_artifact("flowers").id == r.artifact.id  # type: ignore[union-attr]
    run = store.run(r.run_id or "")
    assert run.summary.kind == "train" and run.payload["metrics"]["accuracy"] == r.metrics["accuracy"]
    assert run.payload["split"] == r.split and run.payload["params"]["epochs"] == 4
