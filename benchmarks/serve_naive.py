"""The naive deployments a user would write, for the serving benchmark (not part of Lepton).

``naive-v2``: a FastAPI route that parses the Open Inference Protocol JSON and calls the ONNX Runtime session
once per request. ``naive-st``: a FastAPI route that calls sentence-transformers' ``encode`` per request.

    python benchmarks/serve_naive.py v2 MODEL.onnx PORT
    python benchmarks/serve_naive.py st HF_FOLDER PORT
"""

from __future__ import annotations

import sys

import numpy as np
import uvicorn
from fastapi import FastAPI


def v2_app(model_path: str) -> FastAPI:
    import onnxruntime as ort

    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    app = FastAPI()

    @app.post("/v2/models/{name}/infer")
    def infer(name: str, body: dict) -> dict:  # a sync route: FastAPI runs it in its thread pool
        feeds = {i["name"]: np.asarray(i["data"], dtype=np.int64).reshape(i["shape"]) for i in body["inputs"]}
        (out,) = session.run(None, feeds)
        return {
            "model_name": name,
            "outputs": [
                {
                    "name": "sentence_embedding",
                    "datatype": "FP32",
                    "shape": list(out.shape),
                    "data": out.ravel().tolist(),
                }
            ],
        }

    return app


def st_app(folder: str) -> FastAPI:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(folder, device="cpu")
    app = FastAPI()

    @app.post("/v1/embeddings")
    def embeddings(body: dict) -> dict:
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vecs = model.encode(texts)
        return {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vecs)],
        }

    return app


if __name__ == "__main__":
    kind, path, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    app = v2_app(path) if kind == "v2" else st_app(path)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
