"""Shared fixtures: an isolated LEPTON_HOME per test, a tiny real ONNX model built once per session, a small
PyTorch MLP trained on the digits, and short timing plans for tests that check behaviour rather than speed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from lepton.measure.timing import TimingPlan
from lepton.settings import offline_hub

offline_hub()


@pytest.fixture(autouse=True)
def lepton_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "lepton-home"
    monkeypatch.setenv("LEPTON_HOME", str(home))
    return home


def build_mlp(path: Path, n_in: int = 8, hidden: int = 16, n_out: int = 4, seed: int = 0) -> Path:
    """x[batch, n_in] -> MatMul/Add/Relu -> MatMul/Add -> y[batch, n_out], opset 17."""
    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(rng.standard_normal((n_in, hidden)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.standard_normal(hidden).astype(np.float32), "b1"),
        numpy_helper.from_array(rng.standard_normal((hidden, n_out)).astype(np.float32), "w2"),
        numpy_helper.from_array(rng.standard_normal(n_out).astype(np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["y0"]),
        helper.make_node("Add", ["y0", "b2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n_out])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real MLP as an .onnx file (read-only: copy it before changing it)."""
    return build_mlp(tmp_path_factory.mktemp("models") / "mlp.onnx")


@pytest.fixture
def tiny_artifact(tiny_onnx: Path, lepton_home: Path):  # type: ignore[no-untyped-def]
    """The tiny MLP committed to this test's store as an Artifact (without going through intake)."""
    import shutil

    from lepton.ir.signature import Signature
    from lepton.ir.source import OnnxSource
    from lepton.store import Store

    store = Store()
    with store.workdir() as wd:
        shutil.copy(tiny_onnx, wd / "model.onnx")
        sig = Signature.from_onnx(onnx.load(str(tiny_onnx)))
        art = store.commit_artifact(wd, signature=sig, task="generic", source=OnnxSource(), name="mlp")
    store.name_model("mlp", art.id)
    return art


@pytest.fixture(scope="session")
def mlp_builder():  # type: ignore[no-untyped-def]
    """``build_mlp(path, n_in, hidden, n_out)`` for tests that need a model of another size."""
    return build_mlp


_FAST = {
    "quick": TimingPlan(warmup=1, min_runs=5, min_seconds=0.0, max_seconds=1.0),
    "precise": TimingPlan(warmup=1, min_runs=20, min_seconds=0.0, max_seconds=2.0),
}


@pytest.fixture(scope="session")
def digits_mlp():  # type: ignore[no-untyped-def]
    """A small PyTorch MLP trained on scikit-learn's digits in about a second, with held-out labels."""
    import torch
    from sklearn.datasets import load_digits
    from torch import nn

    torch.manual_seed(0)
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xt, yt = torch.from_numpy(x[:1400]), torch.from_numpy(y[:1400])
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    return model.eval(), x[1400:], y[1400:]


@pytest.fixture
def digits_data(digits_mlp, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    _, x, y = digits_mlp
    path = tmp_path / "eval.npz"
    np.savez(path, input_0=x, label=y)
    return path


@pytest.fixture
def fast() -> dict[str, TimingPlan]:
    """Short timing plans: these tests check behaviour, not speed."""
    return dict(_FAST)


@pytest.fixture(scope="session")
def fast_shared() -> dict[str, TimingPlan]:
    """The short timing plans for session- and module-scoped fixtures (one run shared by tests that read it)."""
    return dict(_FAST)


@pytest.fixture(scope="session")
def minilm_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LEPTON_HOME holding the bundled MiniLM, imported (exported to ONNX, parity-checked) once per session.
    Read-only: tests that write copy it with ``copy_home``."""
    from lepton.examples import import_example
    from lepton.store import Store

    home = tmp_path_factory.mktemp("minilm-home")
    import_example("minilm", store=Store(home))
    return home


@pytest.fixture
def minilm_imported(minilm_home: Path, lepton_home: Path) -> Path:
    """This test's LEPTON_HOME, starting with the session's MiniLM import (a copy: the test may write to it)."""
    import shutil

    shutil.copytree(minilm_home, lepton_home, dirs_exist_ok=True)
    return lepton_home
