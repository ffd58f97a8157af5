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
def minilm_store(minilm_home: Path) -> Store:
    """The store of the session's MiniLM export (tests must not write to it)."""
    return Store(minilm_home)


@pytest.fixture(scope="session")
def minilm(minilm_store: Store) -> Artifact:
    """The bundled MiniLM imported (exported to ONNX, parity-checked) once per session."""
    from lepton.examples import import_example

    return import_example("minilm", store=minilm_store)
