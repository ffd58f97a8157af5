"""The CLI process: SIGTERM drains in-flight requests and exits 0; the CLI's user errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import typer
from serve_helpers import free_port
from typer.testing import CliRunner

from lepton.cli.serve import register
from lepton.errors import UserError
from lepton.serve.config import parse_slo
from lepton.store.store import Store

X = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}


@pytest.mark.slow
def test_sigterm_finishes_in_flight_requests_and_exits_0(tiny: Store, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # a 1.5 s batching window keeps requests in flight when the signal arrives
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lepton",
            "serve",
            "dense",
            "--port",
            str(port),
            "--max-delay-ms",
            "1500",
            "--max-batch-size",
            "16",
            "--instances",
            "3",
            "--log-level",
            "warning",
        ],
        env={**os.environ},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.1)
        served = httpx.get(url, timeout=5).json()["models"]["dense"]
        assert served["instances"] == 3 and served["solo_lane"]  # --instances reaches the server
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(httpx.post, f"{url}/v2/models/dense/infer", json=X, timeout=30) for _ in range(4)]
            while httpx.get(url, timeout=5).json()["models"]["dense"]["queued_rows"] < 4:  # all 4 in flight
                assert not any(f.done() for f in futures)
                time.sleep(0.01)
            proc.send_signal(signal.SIGTERM)
            codes = [f.result().status_code for f in futures]
        rc = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()

    assert codes == [200, 200, 200, 200]
    assert rc == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/v2/health/live", timeout=2)


def test_serve_without_a_model_is_a_user_error() -> None:
    app = typer.Typer()
    register(app)

    result = CliRunner().invoke(app, ["serve"])

    assert isinstance(result.exception, UserError)
    assert "--example minilm" in str(result.exception)


def test_serve_unknown_model_is_a_user_error(tiny: Store) -> None:
    app = typer.Typer()
    register(app)

    result = CliRunner().invoke(app, ["serve", "nosuchmodel"])

    assert isinstance(result.exception, UserError) and "stored: dense, tok" in str(result.exception)


def test_slo_parsing() -> None:
    assert parse_slo("p95<=20ms").seconds == pytest.approx(0.020)
    assert parse_slo("p99 <= 0.1s").quantile == pytest.approx(0.99)
    with pytest.raises(UserError, match="Example: --slo"):
        parse_slo("fast please")
