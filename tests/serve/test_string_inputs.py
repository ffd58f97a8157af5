"""String inputs over JSON: a model trained by ``lepton train`` on a table with a categorical column takes the
category as a string tensor, and a real server on loopback answers as ONNX Runtime does."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pandas as pd
from serve_helpers import ServerThread

import lepton
from lepton.serve import ServeConfig, build_app
from lepton.store.store import Store


def test_categorical_strings_are_served(store: Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    colour = rng.choice(["red", "green", "blue"], 90)
    size = rng.normal(10, 2, 90) + (colour == "red") * 5
    data = tmp_path / "t.csv"
    pd.DataFrame({"size": size, "colour": colour, "label": np.where(colour == "red", "big", "small")}).to_csv(data)
    lepton.train("classify", data, categorical="colour", ignore="Unnamed: 0", epochs=3, name="t", store=store)
    art = store.model_artifact("t")
    assert art is not None and art.signature.input("categorical").dtype == "str"
    rows = {"features": [[16.0], [9.0]], "categorical": [["red"], ["mauve"]]}
    want = ort.InferenceSession(str(art.model_path), providers=["CPUExecutionProvider"]).run(
        None, {"features": np.array(rows["features"], np.float32), "categorical": np.array(rows["categorical"], object)}
    )[0]
    with ServerThread(build_app(ServeConfig(), ["t"], store=store)) as s:
        simple = httpx.post(f"{s.url}/v1/models/t/predict", json={"inputs": rows}, timeout=30)
        v2 = httpx.post(
            f"{s.url}/v2/models/t/infer",
            json={
                "inputs": [
                    {"name": "features", "shape": [2, 1], "datatype": "FP32", "data": [16.0, 9.0]},
                    {"name": "categorical", "shape": [2, 1], "datatype": "BYTES", "data": ["red", "mauve"]},
                ]
            },
            timeout=30,
        )
        wrong = httpx.post(
            f"{s.url}/v1/models/t/predict", json={"inputs": {**rows, "categorical": [[1], [2]]}}, timeout=30
        )
    assert simple.status_code == 200, simple.text
    np.testing.assert_allclose(simple.json()["outputs"]["logits"], want, rtol=1e-5)
    assert v2.status_code == 200, v2.text
    np.testing.assert_allclose(np.reshape(v2.json()["outputs"][0]["data"], (2, -1)), want, rtol=1e-5)
    assert wrong.status_code == 400 and "takes strings" in wrong.json()["error"]
