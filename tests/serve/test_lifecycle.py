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
from hypothesis import given, settings
from hypothesis import strategies as st
from serve_helpers import free_port
from typer.testing import CliRunner

from lepton.cli.serve import register
from lepton.errors import UserError
from lepton.serve import ServeConfig, parse_slo
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


@pytest.mark.parametrize("text", ["p95<=20ms", "p99 <= 0.1s", "p99.9<=50ms", "mean<=5ms", "p95<=50ms@8"])
def test_serve_takes_every_slo_optimize_takes(text: str) -> None:
    from lepton.slo import parse_slo as optimize_parse_slo

    cfg = ServeConfig(slo=parse_slo(text))

    assert cfg.slo == optimize_parse_slo(text)
    assert ServeConfig.from_json(cfg.to_json()) == cfg  # what --workers hands its worker processes


def test_adaptive_batching_caps_batches_at_the_slos_batch_size() -> None:
    from lepton.serve.models import _policy

    at8 = _policy(ServeConfig(slo=parse_slo("p95<=50ms@8")), 32)
    mean = _policy(ServeConfig(slo=parse_slo("mean<=5ms")), 32)
    at64 = _policy(ServeConfig(slo=parse_slo("p99<=50ms@64")), 32)

    assert (at8.mode, at8.cap(), mean.cap(), at64.cap()) == ("adaptive", 8, 32, 32)


def test_serve_refuses_a_bad_slo_in_one_line_before_loading_anything(tiny: Store) -> None:
    app = typer.Typer()
    register(app)

    result = CliRunner().invoke(app, ["serve", "dense", "--slo", "p95<=20 parsecs"])

    assert isinstance(result.exception, UserError)
    assert "--slo: cannot read 'p95<=20 parsecs'" in str(result.exception) and "\n" not in str(result.exception)


@settings(max_examples=200, deadline=None, database=None)
@given(
    metric=st.one_of(st.just("mean"), st.integers(1, 999).map(lambda n: f"p{n / 10:g}")),
    value=st.integers(1, 10**6),
    unit=st.sampled_from(["ms", "s"]),
    batch=st.one_of(st.none(), st.integers(1, 65536)),
)
def test_serve_carries_any_slo_to_its_workers_and_its_batcher(
    metric: str, value: int, unit: str, batch: int | None
) -> None:
    from lepton.serve.models import _policy

    text = f"{metric}<={value}{unit}" + (f"@{batch}" if batch else "")

    cfg = ServeConfig(slo=parse_slo(text))

    assert ServeConfig.from_json(cfg.to_json()) == cfg
    assert _policy(cfg, 32).cap() == min(32, batch or 32)
