"""Open Inference Protocol v2 through tritonclient (JSON and binary), the simple route, OpenAPI, metrics."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from serve_helpers import B, ServerThread, W

from lepton.engines import Session, open_session
from lepton.store.store import Store


def _session(store: Store, name: str) -> Session:
    art = store.model_artifact(name)
    assert art is not None
    return open_session("onnxruntime", art)


def _expected(x: np.ndarray) -> np.ndarray:
    return np.asarray(x @ W + B)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_gets_in_process_outputs(server: ServerThread, tiny: Store, binary: bool) -> None:
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    inp = triton.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    out = triton.InferRequestedOutput("y", binary_data=binary)

    result = client.infer("dense", [inp], outputs=[out], request_id="r1")

    session = _session(tiny, "dense")
    np.testing.assert_array_equal(result.as_numpy("y"), session.run({"x": x})["y"])
    np.testing.assert_allclose(result.as_numpy("y"), _expected(x), rtol=1e-5)
    assert result.get_response()["id"] == "r1"


def test_tritonclient_metadata_config_and_health(server: ServerThread) -> None:
    client = triton.InferenceServerClient(server.url.removeprefix("http://"))

    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("dense")
    meta = client.get_model_metadata("dense")
    config = client.get_model_config("dense")

    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
    assert config["max_batch_size"] == 32
    assert config["input"][0]["dims"] == [4]


def test_tritonclient_default_binary_output_for_token_model(server: ServerThread, tiny: Store) -> None:
    ids = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], dtype=np.int64)
    mask = np.ones_like(ids)
    client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    inputs = [
        triton.InferInput("input_ids", [2, 4], "INT64"),
        triton.InferInput("attention_mask", [2, 4], "INT64"),
    ]
    inputs[0].set_data_from_numpy(ids)
    inputs[1].set_data_from_numpy(mask)

    result = client.infer("tok", inputs)  # no outputs named: binary_data_output

    session = _session(tiny, "tok")
    expected = session.run({"input_ids": ids, "attention_mask": mask})["emb"]
    np.testing.assert_array_equal(result.as_numpy("emb"), expected)


def test_simple_route_single_row_and_batch(server: ServerThread) -> None:
    one = httpx.post(f"{server.url}/v1/models/dense/predict", json={"inputs": {"x": [1, 2, 3, 4]}})
    many = httpx.post(f"{server.url}/v1/models/dense/predict", json={"inputs": {"x": [[1, 2, 3, 4], [0, 0, 0, 0]]}})

    assert one.status_code == 200 and many.status_code == 200
    np.testing.assert_allclose(one.json()["outputs"]["y"], _expected(np.array([1, 2, 3, 4.0])), rtol=1e-5)
    assert np.asarray(many.json()["outputs"]["y"]).shape == (2, 3)


def test_openapi_lists_the_protocol_routes(server: ServerThread) -> None:
    doc = httpx.get(f"{server.url}/openapi.json").json()

    for path in (
        "/v2/models/{name}/infer",
        "/v2/models/{name}/config",
        "/v2/health/ready",
        "/v1/models/{name}/predict",
        "/v1/embeddings",
        "/metrics",
    ):
        assert path in doc["paths"], path


def test_openapi_declares_what_each_route_answers(server: ServerThread) -> None:
    doc = httpx.get(f"{server.url}/openapi.json").json()
    ops = {(m.upper(), p): op for p, item in doc["paths"].items() for m, op in item.items()}

    def statuses(method: str, path: str) -> set[str]:
        return set(ops[(method, path)]["responses"])

    refs = {r for r in str(doc).split("'$ref': '")[1:]}
    missing = {r.split("'")[0] for r in refs} - {f"#/components/schemas/{n}" for n in doc["components"]["schemas"]}
    assert missing == set()
    infer = ops[("POST", "/v2/models/{name}/infer")]
    assert statuses("POST", "/v2/models/{name}/infer") == {"200", "400", "404", "413", "429", "503", "504"}
    assert set(infer["responses"]["200"]["content"]) == {"application/json", "application/octet-stream"}
    assert "Retry-After" in infer["responses"]["429"]["headers"]
    assert (
        statuses("POST", "/v1/embeddings")
        == statuses("POST", "/v1/models/{name}/predict")
        == statuses("POST", "/v2/models/{name}/infer")
    )
    assert set(ops[("GET", "/metrics")]["responses"]["200"]["content"]) == {"text/plain"}
    assert statuses("GET", "/v2/models/{name}") == {"200", "404"}
    assert [p["name"] for p in ops[("GET", "/v2/models/{name}")]["parameters"]] == ["name"]  # no ?version
    assert statuses("GET", "/v2/health/ready") == {"200", "503"}
    for path in ("/v2/repository/index", "/v2/repository/models/{name}/unload"):
        assert ops[("POST", path)]["security"] == [{"bearer": []}] and {"401", "403"} <= statuses("POST", path)
    assert "422" in statuses("GET", "/dashboard/data")  # FastAPI parses its 'since' query itself
    assert not any("422" in op["responses"] for key, op in ops.items() if key != ("GET", "/dashboard/data"))


def test_metrics_count_requests_batches_and_model_info(server: ServerThread) -> None:
    httpx.post(f"{server.url}/v1/models/dense/predict", json={"inputs": {"x": [[1, 2, 3, 4]]}})
    httpx.post(f"{server.url}/v1/models/dense/predict", json={"inputs": {"x": [[1, 2, 3]]}})

    text = httpx.get(f"{server.url}/metrics").text

    assert 'lepton_requests_total{model="dense",route="simple",status="200"} 1.0' in text
    assert 'lepton_requests_total{model="dense",route="simple",status="400"} 1.0' in text
    for name in (
        "lepton_request_latency_seconds_bucket",
        "lepton_batch_size_bucket",
        "lepton_inference_seconds",
        "lepton_queue_depth",
        "lepton_rejected_total",
        "lepton_model_info",
        "lepton_batch_max_size_current",
    ):
        assert name in text, name


def test_every_inference_route_takes_the_direct_path_and_nothing_else_does(server: ServerThread) -> None:
    from fastapi.routing import APIRoute

    from lepton.serve import hot

    inference = {
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
        "/v1/models/{name}/predict",
        "/v1/embeddings",
        "/v1/completions",
        "/v1/chat/completions",
    }
    from lepton.serve import dashboard
    from lepton.serve.protocols import protocols

    routers = [*(p.router for p in protocols()), dashboard.router]
    routes = [*server.app.routes, *(r for router in routers for r in router.routes)]
    declared = {r.path: r.endpoint for r in routes if isinstance(r, APIRoute) and "POST" in (r.methods or ())}

    for path, endpoint in declared.items():
        hit = hot.match(path.replace("{name}", "dense").replace("{version}", "1"))
        if path in inference:
            assert hit is not None and hit[0] is endpoint, path  # the same function FastAPI would call
            assert hit[1].get("name", "dense") == "dense"
        else:
            assert hit is None, path  # admin and the rest keep FastAPI's routing
    assert inference <= set(declared)
