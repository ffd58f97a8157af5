"""Every accepted connection gets an answer: a burst beyond capacity, and the keep-alive race behind a drop."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx
import pytest
from serve_helpers import ServerThread, dense_model, store_model

from lepton.serve import ServeConfig, build_app
from lepton.serve.connections import connection_options
from lepton.serve.loadtest import LoadSpec, run_loadtest
from lepton.store.store import Store

ANSWERS = {"200", "429", "503", "504"}


def _request() -> bytes:
    body = json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]})
    head = "POST /v2/models/dense/infer HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n{body}").encode()


def _status(sock: socket.socket) -> str:
    """Read one whole response from ``sock`` (Content-Length framed); its status code."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before an answer")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
    while len(rest) < length:
        rest += sock.recv(65536)
    return head.split(b" ")[1].decode()


@pytest.fixture
def dense_store(lepton_home: Path, tmp_path: Path) -> Store:
    store = Store(lepton_home)
    store_model(store, dense_model(tmp_path / "dense.onnx"), "dense")
    return store


def _keep_alive_fires_with_a_request_waiting(server: ServerThread) -> str:
    """Send a second request on a kept-alive connection while the server's loop is busy, and let the keep-alive
    timer run before the loop reads it (what a loop stalled past the timeout does); the second request's status."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(_request())
        assert _status(sock) == "200"
        loop = server.server.servers[0].get_loop()

        def stall_then_time_out() -> None:
            time.sleep(0.5)  # the loop is busy; the client sends its next request meanwhile
            for conn in list(server.server.server_state.connections):
                conn.timeout_keep_alive_handler()

        loop.call_soon_threadsafe(stall_then_time_out)
        time.sleep(0.1)
        sock.sendall(_request())
        try:
            return _status(sock)
        except OSError as e:  # ConnectionResetError: the kernel reset a socket closed with a request in it
            return type(e).__name__


def test_keep_alive_timeout_never_resets_a_connection_with_a_request_in_it(dense_store: Store) -> None:
    cfg = ServeConfig()
    app = build_app(cfg, ["dense"], store=dense_store)
    with ServerThread(app, connection_options(cfg)) as server:
        assert _keep_alive_fires_with_a_request_waiting(server) == "200"
        assert httpx.get(f"{server.url}/v2/health/ready").status_code == 200


def test_plain_uvicorn_drops_that_request(dense_store: Store) -> None:
    """The race the patient protocol closes, shown on uvicorn's own protocol (so the test above means something)."""
    app = build_app(ServeConfig(), ["dense"], store=dense_store)
    with ServerThread(app, {"http": "httptools"}) as server:
        assert _keep_alive_fires_with_a_request_waiting(server) != "200"


@pytest.mark.slow
def test_a_burst_of_2000_requests_at_512_connections_gets_2000_answers(dense_store: Store) -> None:
    cfg = ServeConfig(max_queue=16)  # a small queue: the burst overflows it, so 429s are part of the answer
    app = build_app(cfg, ["dense"], store=dense_store)
    with ServerThread(app, connection_options(cfg)) as server:
        result = run_loadtest(LoadSpec(url=server.url, requests=2000, concurrency=512, timeout_s=120))
        assert sum(result.statuses.values()) == 2000
        assert set(result.statuses) <= ANSWERS, result.statuses  # an HTTP answer for every request, no error
        assert result.statuses["200"] > 0
        assert httpx.get(f"{server.url}/v2/health/ready").status_code == 200  # alive after
        again = httpx.post(f"{server.url}/v2/models/dense/infer", content=_request().split(b"\r\n\r\n", 1)[1])
        assert again.status_code == 200
