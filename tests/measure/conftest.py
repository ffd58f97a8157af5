"""The digits CNN (imported from PyTorch) and its dynamic int8 variant, shared by the profiling tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lepton.ir.artifact import Artifact
from lepton.store import Store


@pytest.fixture(scope="session")
def digits_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return Store(Path(tmp_path_factory.mktemp("profiles-home")))


@pytest.fixture(scope="session")
def digits(digits_store: Store) -> tuple[Artifact, dict[str, np.ndarray]]:
    """The digits CNN (one epoch: its speed matters here, not its accuracy) and a batch of 16 images."""
    from lepton.examples.small import digits_cnn
    from lepton.store.intake import import_model

    trained = digits_cnn(epochs=1)
    art = import_model(
        trained.module, name="digits", task="classification", store=digits_store, example_input=trained.example_input
    )
    return art, {art.signature.input_names[0]: trained.x_eval[:16]}


@pytest.fixture(scope="session")
def digits_int8(digits_store: Store, digits: tuple[Artifact, dict[str, np.ndarray]]) -> Artifact:
    """The digits CNN after ORT dynamic int8 (signed, per-channel: the pass's defaults)."""
    from lepton.hardware import detect_hardware
    from lepton.passes import PASSES, PassContext, apply_chain

    art, feeds = digits
    ctx = PassContext(store=digits_store, hardware=detect_hardware(), calibration=[feeds])
    return apply_chain(art, [PASSES.get("quantize-dynamic")()], ctx)
