"""One v2 codec (``lepton.wire``) for the client, the server and the load test; one synthesis and one index
bound (``ir.graph_ranges``) for what the load test sends and what the server accepts."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from serve_helpers import B, ServerThread, W, store_model

from lepton import wire
from lepton.client import Client
from lepton.engines import open_session
from lepton.ir.graph_ranges import index_bounds
from lepton.serve import ServeConfig, build_app
from lepton.serve.loadtest import LoadSpec, run_loadtest, synthesize_inputs
from lepton.store.store import Store

VOCAB = 50  # the 'tok' model's table (conftest)


def test_client_predict_round_trips_through_the_server(server: ServerThread, tiny: Store) -> None:
    x = np.random.default_rng(3).standard_normal((5, 4)).astype(np.float32)
    ids = np.array([[1, 2, 3], [4, 5, VOCAB - 1]], dtype=np.int64)

    with Client(server.url) as c:
        dense = c.predict("dense", {"x": x})
        tok = c.predict("tok", {"input_ids": ids, "attention_mask": np.ones_like(ids)})

    art = tiny.model_artifact("tok")
    assert art is not None
    want = open_session("onnxruntime", art).run({"input_ids": ids, "attention_mask": np.ones_like(ids)})["emb"]
    np.testing.assert_allclose(dense["y"], x @ W + B, rtol=1e-5)
    np.testing.assert_array_equal(tok["emb"], want)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_a_request_the_codec_encodes_the_server_answers_and_the_codec_decodes(
    server: ServerThread, binary: bool
) -> None:
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    body, headers = wire.encode_request({"x": x}, binary=binary, binary_output=binary)

    r = httpx.post(f"{server.url}/v2/models/dense/infer", content=body, headers=headers)

    assert r.status_code == 200, r.text
    assert (wire.HEADER_LENGTH.lower() in r.headers) is binary
    np.testing.assert_allclose(wire.decode_response(r.content, r.headers.get(wire.HEADER_LENGTH))["y"], x @ W + B)


@pytest.mark.parametrize("datatype", sorted(d for d in wire.V2_TO_NUMPY if d != "BYTES"))
def test_every_datatype_survives_binary_and_json(datatype: str) -> None:
    arr = (np.arange(6) % 2).astype(wire.numpy_dtype(datatype)).reshape(2, 3)
    for binary in (False, True):
        desc, raw = wire.encode_tensor("t", arr, binary=binary)
        assert desc["datatype"] == datatype
        header = wire.dumps({"outputs": [desc]})
        back = wire.decode_response(header + (raw or b""), len(header) if binary else None)["t"]
        assert back.dtype == arr.dtype and back.tolist() == arr.tolist()


@pytest.mark.parametrize("protocol", ["v2", "v2-binary", "simple"])
def test_the_load_test_sends_ids_inside_the_vocabulary(server: ServerThread, protocol: str) -> None:
    meta = httpx.get(f"{server.url}/v2/models/tok").json()
    ids = synthesize_inputs(meta, LoadSpec(url=server.url, rows=16, seq_len=32))["input_ids"]

    result = run_loadtest(LoadSpec(url=server.url, model="tok", requests=6, concurrency=2, protocol=protocol))

    assert meta["inputs"][0]["parameters"] == {"index_rows": VOCAB}
    assert ids.shape == (16, 32) and 0 <= ids.min() and ids.max() < VOCAB
    assert result.statuses == {"200": 6}


def cast_index_model(path: Path, rows: int = 10) -> Path:
    """ids int32 [batch, 3] -> Cast to int64 -> Gather from a ``rows``-row table -> y float [batch, 3, 2]."""
    table = np.arange(rows * 2, dtype=np.float32).reshape(rows, 2)
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["ids"], ["ids64"], to=TensorProto.INT64),
            helper.make_node("Gather", ["table", "ids64"], ["y"]),
        ],
        "cast_index",
        [helper.make_tensor_value_info("ids", TensorProto.INT32, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, 2])],
        [numpy_helper.from_array(table, "table")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_the_server_and_graph_ranges_agree_on_a_cast_index(store: Store, tmp_path: Path) -> None:
    path = cast_index_model(tmp_path / "cast.onnx")
    store_model(store, path, "cast")
    app = build_app(ServeConfig(), ["cast"], store=store)

    def infer(ids: list[int]) -> httpx.Response:
        body = {"inputs": [{"name": "ids", "shape": [1, 3], "datatype": "INT32", "data": ids}]}
        return httpx.post(f"{srv.url}/v2/models/cast/infer", json=body)

    with ServerThread(app) as srv:
        meta = httpx.get(f"{srv.url}/v2/models/cast").json()
        inside, negative, outside = infer([0, 9, 3]), infer([-10, 0, 1]), infer([0, 10, 1])

    assert index_bounds(onnx.load(str(path))) == {"ids": 10}
    assert meta["inputs"][0]["parameters"] == {"index_rows": 10}
    assert inside.status_code == 200 and negative.status_code == 200
    assert outside.status_code == 400
    assert "has value 10; the model looks up a table of 10 rows with it" in outside.json()["error"]


def test_the_server_edge_and_the_wire_share_one_json_codec() -> None:
    """serve/limits writes its responses with the wire module's encoder: numpy values included, one rule."""
    from lepton.serve import limits

    assert limits.dumps is wire.dumps and limits.loads is wire.loads
    assert wire.loads(wire.dumps({"x": np.float32(1.5), "y": np.arange(2)})) == {"x": 1.5, "y": [0, 1]}
