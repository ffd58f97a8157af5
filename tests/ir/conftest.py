"""Fixtures for intake tests: the store of this test, and MiniLM exported once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from lepton.ir.artifact import Artifact
from lepton.store import Store


@pytest.fixture
def store(lepton_home: Path) -> Store:
    return Store()


@pytest.fixture(scope="session")
def minilm_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A store of its own for the session's MiniLM export (tests must not write to it)."""
    return Store(tmp_path_factory.mktemp("minilm-home"))


@pytest.fixture(scope="session")
def minilm(minilm_store: Store) -> Artifact:
    """The bundled MiniLM imported (exported to ONNX, parity-checked) once per session."""
    from lepton.examples import import_example

    return import_example("minilm", store=minilm_store)
