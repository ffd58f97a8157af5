"""Bad input -> 4xx with a message that says what is wrong; limits (413, 429, 503, 504); admin routes."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from serve_helpers import ServerThread

from lepton.serve import ServeConfig, build_app
from lepton.store.store import Store


def _v2(server: ServerThread, body: object, model: str = "dense", **kw: object) -> httpx.Response:
    return httpx.post(f"{server.url}/v2/models/{model}/infer", json=body, **kw)  # type: ignore[arg-type]


X = {"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"inputs": [{**X, "name": "z"}]}, "unknown input 'z'"),
        ({"inputs": []}, "missing input(s) 'x'"),
        ({"inputs": [{**X, "datatype": "INT64"}]}, "is FP32; got datatype 'INT64'"),
        ({"inputs": [{**X, "shape": [1, 5], "data": [1, 2, 3, 4, 5]}]}, "dim 1 must be 4"),
        ({"inputs": [{**X, "shape": [2, 4]}]}, "needs 8 values; got 4"),
        ({"inputs": [{**X, "data": ["a", "b", "c", "d"]}]}, "must be numbers"),
        ({"inputs": [{**X, "shape": [64, 4], "data": [0.0] * 256}]}, "at most 32 per request"),
        ({"inputs": [{**X, "shape": "1x4"}]}, "'shape' must be a list of integers"),
        ({"no": "inputs"}, "needs an 'inputs' list"),
    ],
)
def test_bad_v2_requests_get_400_saying_why(server: ServerThread, body: object, says: str) -> None:
    r = _v2(server, body)

    assert r.status_code == 400
    assert says in r.json()["error"]


def test_token_inputs_must_agree_on_sequence_and_be_integers(server: ServerThread) -> None:
    ids = {"name": "input_ids", "shape": [1, 3], "datatype": "INT64", "data": [1, 2, 3]}
    mask = {"name": "attention_mask", "shape": [1, 2], "datatype": "INT64", "data": [1, 1]}
    r = _v2(server, {"inputs": [ids, mask]}, model="tok")
    simple = httpx.post(
        f"{server.url}/v1/models/tok/predict",
        json={"inputs": {"input_ids": [[1.5, 2, 3]], "attention_mask": [[1, 1, 1]]}},
    )

    assert r.status_code == 400 and "must agree on dim 'sequence'" in r.json()["error"]
    assert simple.status_code == 400 and "takes int64; got float64" in simple.json()["error"]


def test_malformed_and_oversized_bodies_then_the_server_keeps_serving(server: ServerThread) -> None:
    garbage = httpx.post(f"{server.url}/v2/models/dense/infer", content=b"{not json")
    binary_lie = httpx.post(
        f"{server.url}/v2/models/dense/infer",
        content=b'{"inputs": []}',
        headers={"Inference-Header-Content-Length": "999"},
    )
    big = httpx.post(f"{server.url}/v1/models/dense/predict", content=b"[" + b"1," * 40_000 + b"1]")
    unknown = httpx.post(f"{server.url}/v1/models/nope/predict", json={"inputs": {"x": [1, 2, 3, 4]}})

    ok = _v2(server, {"inputs": [X]})

    assert garbage.status_code == 400 and "not valid JSON" in garbage.json()["error"]
    assert binary_lie.status_code == 400
    assert big.status_code == 413 and "limit" in big.json()["error"]
    assert unknown.status_code == 404 and "loaded: dense, tok" in unknown.json()["error"]
    assert ok.status_code == 200


def test_streamed_body_over_the_limit_is_413(server: ServerThread) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while reading
        for _ in range(40):
            yield b" " * 4096

    r = httpx.post(f"{server.url}/v2/models/dense/infer", content=chunks())

    assert r.status_code == 413


def test_overload_every_request_is_answered_200_or_429(tiny: Store, slow_engine: str) -> None:
    cfg = ServeConfig(engine=slow_engine, max_queue=8, max_batch_size=4, timeout_s=20)
    body = {"inputs": [X]}

    async def flood(url: str) -> Counter[int]:
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=100)) as c:
            rs = await asyncio.gather(*(c.post(f"{url}/v2/models/dense/infer", json=body) for _ in range(120)))
        return Counter(r.status_code for r in rs)

    with ServerThread(build_app(cfg, ["dense"], store=tiny)) as s:
        codes = asyncio.run(asyncio.wait_for(flood(s.url), 60))
        refused = httpx.post(f"{s.url}/v2/models/dense/infer", json=body)
        metrics = httpx.get(f"{s.url}/metrics").text

    assert set(codes) <= {200, 429, 503}
    assert sum(codes.values()) == 120
    assert codes[200] >= 8 and codes[429] >= 1
    assert refused.status_code == 200  # it recovers once the queue drains
    assert 'lepton_rejected_total{model="dense",reason="queue_full"}' in metrics


def test_queue_full_answer_has_retry_after(tiny: Store, slow_engine: str) -> None:
    cfg = ServeConfig(engine=slow_engine, max_queue=1, max_batch_size=1, timeout_s=20)

    async def two(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as c:
            return await asyncio.gather(
                *(c.post(f"{url}/v2/models/dense/infer", json={"inputs": [X]}) for _ in range(6))
            )

    with ServerThread(build_app(cfg, ["dense"], store=tiny)) as s:
        rs = asyncio.run(two(s.url))

    refused = [r for r in rs if r.status_code == 429]
    assert refused and all(int(r.headers["retry-after"]) >= 1 for r in refused)
    assert "overloaded" in refused[0].json()["error"]


def test_per_request_timeout_is_504(tiny: Store, slow_engine: str) -> None:
    cfg = ServeConfig(engine=slow_engine, timeout_s=0.01)
    with ServerThread(build_app(cfg, ["dense"], store=tiny)) as s:
        r = httpx.post(f"{s.url}/v2/models/dense/infer", json={"inputs": [X]})

    assert r.status_code == 504 and "did not answer within" in r.json()["error"]


def test_a_request_that_would_miss_its_deadline_gets_503_at_once_not_504_after_the_wait(
    tiny: Store, slow_engine: str
) -> None:
    # 50 ms per batch of one row: once a batch is measured, 40 requests at once would need ~2 s; the timeout is 0.6 s
    cfg = ServeConfig(engine=slow_engine, max_queue=64, max_batch_size=1, timeout_s=0.6)

    async def burst(url: str) -> list[tuple[int, float, httpx.Response]]:
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64)) as c:

            async def one() -> tuple[int, float, httpx.Response]:
                t0 = time.perf_counter()
                r = await c.post(f"{url}/v2/models/dense/infer", json={"inputs": [X]})
                return r.status_code, time.perf_counter() - t0, r

            await one()  # a batch measured: the server now knows its time per row
            return await asyncio.gather(*(one() for _ in range(40)))

    with ServerThread(build_app(cfg, ["dense"], store=tiny)) as s:
        answers = asyncio.run(burst(s.url))
        metrics = httpx.get(f"{s.url}/metrics").text

    codes = Counter(code for code, _, _ in answers)
    early = [(seconds, r) for code, seconds, r in answers if code == 503]
    assert set(codes) <= {200, 503, 504} and codes[200] >= 1 and len(early) >= 20, codes
    assert codes[504] < len(early)  # most of what could not make it was told at once
    assert all(seconds < 0.6 for seconds, _ in early)  # answered before the deadline, not after it
    assert "past the 0.6 s timeout" in early[0][1].json()["error"] and int(early[0][1].headers["retry-after"]) >= 1
    assert 'lepton_rejected_total{model="dense",reason="unavailable"}' in metrics


def test_admin_routes_need_the_bearer_token(server: ServerThread) -> None:
    url = f"{server.url}/v2/repository/models/dense/unload"
    none = httpx.post(url)
    wrong = httpx.post(url, headers={"Authorization": "Bearer nope"})

    assert none.status_code == 401 and none.headers["www-authenticate"] == "Bearer"
    assert wrong.status_code == 401
    assert _v2(server, {"inputs": [X]}).status_code == 200


def test_admin_routes_are_off_without_a_token(tiny: Store) -> None:
    with ServerThread(build_app(ServeConfig(), ["dense"], store=tiny)) as s:
        r = httpx.post(f"{s.url}/v2/repository/models/dense/unload", headers={"Authorization": "Bearer x"})

    assert r.status_code == 403 and "--token" in r.json()["error"]


def test_unload_load_and_reload_without_dropping_requests(tiny: Store, slow_engine: str) -> None:
    cfg = ServeConfig(engine=slow_engine, token="sekret", max_batch_size=2, max_queue=64)
    auth = {"Authorization": "Bearer sekret"}

    async def traffic_during_reload(url: str) -> tuple[list[int], int]:
        async with httpx.AsyncClient(timeout=30) as c:
            reqs = [c.post(f"{url}/v2/models/dense/infer", json={"inputs": [X]}) for _ in range(12)]
            tasks = [asyncio.ensure_future(r) for r in reqs]
            await asyncio.sleep(0.05)
            reload = await c.post(f"{url}/v2/repository/models/dense/load", headers=auth)
            return [r.status_code for r in await asyncio.gather(*tasks)], reload.status_code

    with ServerThread(build_app(cfg, ["dense"], store=tiny)) as s:
        codes, reload_status = asyncio.run(traffic_during_reload(s.url))
        unloaded = httpx.post(f"{s.url}/v2/repository/models/dense/unload", headers=auth)
        gone = httpx.post(f"{s.url}/v2/models/dense/infer", json={"inputs": [X]})
        loaded = httpx.post(
            f"{s.url}/v2/repository/models/again/load", headers=auth, json={"parameters": {"ref": "tok"}}
        )
        index = httpx.post(f"{s.url}/v2/repository/index", headers=auth).json()

    assert reload_status == 200 and codes == [200] * 12
    assert unloaded.status_code == 200 and gone.status_code == 404
    assert loaded.status_code == 200 and [m["name"] for m in index] == ["again"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"inputs": [X], "id": 5}, "'id' must be a string"),
        ({"inputs": [X], "parameters": 5}, "'parameters' must be an object"),
        ({"inputs": [{**X, "parameters": [1]}]}, "'parameters' must be an object"),
        ({"inputs": [X], "outputs": {"name": "y"}}, "'outputs' must be a list"),
        ({"inputs": [X], "outputs": [{"name": "y", "parameters": "binary"}]}, "'parameters' must be an object"),
    ],
)
def test_v2_fields_of_the_wrong_kind_get_400(server: ServerThread, body: object, says: str) -> None:
    r = _v2(server, body)

    assert r.status_code == 400 and says in r.json()["error"]


def test_token_ids_outside_the_models_table_are_refused_alone(server: ServerThread) -> None:
    # 'tok' looks its ids up in a 50-row table: ONNX Runtime would fail the whole batch on id 50
    def v2(ids: list[int]) -> httpx.Response:
        n = len(ids)
        tensors = [
            {"name": "input_ids", "shape": [1, n], "datatype": "INT64", "data": ids},
            {"name": "attention_mask", "shape": [1, n], "datatype": "INT64", "data": [1] * n},
        ]
        return _v2(server, {"inputs": tensors}, model="tok")

    def embed(ids: object) -> httpx.Response:
        return httpx.post(f"{server.url}/v1/embeddings", json={"model": "tok", "input": ids})

    assert v2([1, 2, 50]).status_code == 400 and "has value 50" in v2([1, 2, 50]).json()["error"]
    assert v2([-51]).status_code == 400
    assert v2([1, 49, -50]).status_code == 200  # ONNX Gather: -50..49
    assert "token id 50; model 'tok' takes ids in 0..49" in embed([[1, 50]]).json()["error"]["message"]
    assert embed([[3, -1]]).status_code == 400 and embed([[3, 4]]).status_code == 200
    assert embed([True, 2]).status_code == 400  # booleans are not token ids


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"model": 5, "input": [[1]]}, "'model' must be the name of a loaded model"),
        ({"model": "tok", "input": [[1]], "encoding_format": None}, "encoding_format must be"),
        ({"model": "tok", "input": [[1]], "dimensions": True}, "dimensions must be a whole number"),
        ({"model": "tok", "input": [[1]], "dimensions": 9}, "dimensions must be in 1..8"),
    ],
)
def test_embeddings_fields_of_the_wrong_kind_get_400(server: ServerThread, body: object, says: str) -> None:
    r = httpx.post(f"{server.url}/v1/embeddings", json=body)

    assert r.status_code == 400 and says in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"parameters": 5}', "the body must be JSON like"),
        (b"[1]", "the body must be JSON like"),
        (b'{"parameters": {"ref": null}}', "parameters.ref must be a path"),
        (b'{"parameters": {"ref": ""}}', "parameters.ref must be a path"),
    ],
)
def test_admin_load_body_of_the_wrong_kind_gets_400(server: ServerThread, body: bytes, says: str) -> None:
    r = httpx.post(
        f"{server.url}/v2/repository/models/dense/load", content=body, headers={"Authorization": "Bearer sekret"}
    )

    assert r.status_code == 400 and says in r.json()["error"]
