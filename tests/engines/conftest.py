"""Engine fixtures: a small CNN, a token model with symbolic batch and sequence, and an IR copy, per test store."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_helpers import cnn_model, commit, commit_ir, token_model

from lepton.ir.artifact import Artifact
from lepton.store import Store


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("engine-models")
    cnn_model(d / "cnn.onnx")
    token_model(d / "tokens.onnx")
    return d


@pytest.fixture
def store(lepton_home: Path) -> Store:
    return Store(lepton_home)


@pytest.fixture
def cnn(store: Store, models_dir: Path) -> Artifact:
    out: Artifact = commit(store, models_dir / "cnn.onnx", task="classification")
    return out


@pytest.fixture
def tokens(store: Store, models_dir: Path) -> Artifact:
    out: Artifact = commit(store, models_dir / "tokens.onnx", task="embedding")
    return out


@pytest.fixture
def cnn_ir(store: Store, cnn: Artifact) -> Artifact:
    out: Artifact = commit_ir(store, cnn)
    return out
