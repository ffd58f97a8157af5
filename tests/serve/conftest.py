"""Serving fixtures: tiny models in a per-test store, and real servers on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_helpers import ServerThread, SlowEngine, dense_model, store_model, token_model

from lepton.engines.base import ENGINES
from lepton.serve import ServeConfig, build_app
from lepton.store.store import Store


@pytest.fixture
def store(lepton_home: Path) -> Store:
    return Store(lepton_home)


@pytest.fixture
def tiny(store: Store, tmp_path: Path) -> Store:
    """A store holding 'dense' (x[batch,4] -> y[batch,3]) and 'tok' (token ids -> emb[batch,8])."""
    store_model(store, dense_model(tmp_path / "dense.onnx"), "dense")
    store_model(store, token_model(tmp_path / "tok.onnx"), "tok", task="embedding")
    return store


@pytest.fixture
def server(tiny: Store) -> Iterator[ServerThread]:
    """A server with both tiny models, default settings, and an admin token 'sekret'."""
    app = build_app(ServeConfig(token="sekret", max_body_bytes=64 * 1024), ["dense", "tok"], store=tiny)
    with ServerThread(app) as s:
        yield s


@pytest.fixture
def slow_engine() -> Iterator[str]:
    """Register 'slow-test' (ONNX Runtime + 50 ms per batch) for one test, then remove it again."""
    ENGINES.register("slow-test")(SlowEngine)
    try:
        yield "slow-test"
    finally:
        ENGINES._items.pop("slow-test", None)  # keep the registry as other tests expect it
