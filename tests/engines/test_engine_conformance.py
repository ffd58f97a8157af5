"""One suite over every registered engine (the scikit-learn way): each opens a real model, runs it, gives outputs
that match the signature and the other engines, honours its thread setting, and refuses bad input clearly."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
import torch

import lepton
from lepton.engines import ENGINES, RuntimeConfig, open_session
from lepton.errors import EngineError
from lepton.ir.artifact import Artifact
from lepton.ir.signature import numpy_dtype
from lepton.store import Store

NAMES = [n for n in ENGINES.names() if "onnx" in ENGINES.get(n).formats]  # causal-LM engines: tests/llm


@pytest.fixture(scope="module")
def module_artifact(tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    """A real model every engine can run: an nn.Module (PyTorch eager) exported to ONNX (the others)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)).eval()
    store = Store(tmp_path_factory.mktemp("home"))
    out: Artifact = lepton.import_model(net, example_input=torch.zeros(1, 64), name="conformance", store=store)
    return out


def feeds(art: Artifact, rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        t.name: rng.standard_normal((rows, *(int(d) for d in t.shape[1:]))).astype(numpy_dtype(t.dtype))
        for t in art.signature.inputs
    }


def runs(name: str, art: Artifact) -> bool:
    return ENGINES.get(name)().unavailable(art) is None


@pytest.mark.parametrize("name", NAMES)
def test_declarations_are_on_the_class(name: str) -> None:
    cls = ENGINES.get(name)
    assert cls.name == name and cls.description.strip() and isinstance(cls.searched, bool)


@pytest.mark.parametrize("name", NAMES)
def test_opens_runs_and_matches_the_signature(name: str, module_artifact: Artifact) -> None:
    art = module_artifact
    assert runs(name, art), ENGINES.get(name)().unavailable(art)
    session = open_session(name, art, RuntimeConfig(intra_op_threads=1, batch_size=3))
    try:
        out = session.run(feeds(art, 3))
    finally:
        session.close()
    assert list(out) == art.signature.output_names
    for spec in art.signature.outputs:
        arr = out[spec.name]
        assert arr.dtype == numpy_dtype(spec.dtype)
        assert arr.shape[0] == 3 and len(arr.shape) == len(spec.shape)
        assert all(d == n for d, n in zip(spec.shape[1:], arr.shape[1:], strict=True) if isinstance(d, int))


@pytest.mark.parametrize("name", NAMES)
def test_outputs_agree_with_onnxruntime(name: str, module_artifact: Artifact) -> None:
    x = feeds(module_artifact, 5, seed=1)
    want = open_session("onnxruntime", module_artifact).run(x)
    got = open_session(name, module_artifact).run(x)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_threads_are_honoured(name: str, module_artifact: Artifact) -> None:
    engine = ENGINES.get(name)()
    assert engine.threads_used(RuntimeConfig(intra_op_threads=1)) == 1
    assert engine.threads_used(RuntimeConfig(intra_op_threads=2)) == 2
    assert engine.threads_used(RuntimeConfig()) >= 1
    # one thread really means one: the process's CPU time stays within one core's worth of the wall time
    session = open_session(name, module_artifact, RuntimeConfig(intra_op_threads=1, batch_size=64))
    x = feeds(module_artifact, 64)
    session.run(x)
    wall, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - wall < 0.6:
        session.run(x)
    ratio = (time.process_time() - cpu) / (time.perf_counter() - wall)
    session.close()
    assert ratio < 1.35, f"{name} used {ratio:.2f} cores with intra_op_threads=1"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (lambda x: {}, "missing input"),
        (lambda x: {k: v.astype(np.int64) for k, v in x.items()}, r"int64|Long"),  # names what it got
        (lambda x: {k: v[:, :7] for k, v in x.items()}, r"\b7\b|x7\b|\(2, 7\)"),
    ],
    ids=["missing", "wrong-dtype", "wrong-shape"],
)
def test_an_input_it_cannot_take_gets_a_clear_error(name: str, bad: Any, why: str, module_artifact: Artifact) -> None:
    session = open_session(name, module_artifact)
    with pytest.raises(EngineError, match=why):
        session.run(bad(feeds(module_artifact, 2)))


@pytest.mark.parametrize("name", NAMES)
def test_unavailable_says_why_in_words(name: str, tiny_artifact: Artifact) -> None:
    why = ENGINES.get(name)().unavailable(tiny_artifact)  # an ONNX file: no PyTorch source
    assert why is None or (isinstance(why, str) and len(why) > 20)
