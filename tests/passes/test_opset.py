"""Old opsets: an opset-11 CNN gets per-channel static QDQ through a recorded, cached conversion to opset 13."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx_models import small_cnn
from pass_helpers import commit, run

from lepton.errors import NotApplicable
from lepton.hardware import Hardware
from lepton.ir.onnx_intake import default_opset
from lepton.passes import PassContext, apply_chain, apply_pass
from lepton.passes.opset import ConvertOpset
from lepton.passes.quantize import StaticInt8
from lepton.store import Store


@pytest.fixture(scope="module")
def cnn_opset11(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small CNN at opset 11, IR 6, as exporters of that time wrote it."""
    return small_cnn(tmp_path_factory.mktemp("models") / "cnn11.onnx", opset=11, ir_version=6, seed=1)


def _feeds(n: int = 4) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [{"x": rng.random((8, 1, 8, 8)).astype(np.float32)} for _ in range(n)]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return float(np.mean(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


def test_per_channel_static_qdq_converts_an_opset_11_cnn_first(
    store: Store, cnn_opset11: Path, ctx_for: Callable[..., PassContext]
) -> None:
    art = commit(store, cnn_opset11)
    ctx = ctx_for(calibration=_feeds())
    child = apply_chain(art, [StaticInt8(calibrate_method="minmax", per_channel=True)], ctx)
    assert child.lineage.parent is not None
    parent = store.artifact(child.lineage.parent)  # the recorded step between the two
    assert (parent.lineage.pass_name, dict(parent.lineage.pass_params)) == ("convert-opset", {"opset": 13})
    assert parent.lineage.parent == art.id and child.lineage.pass_name == "quantize-static"
    model = onnx.load(str(child.model_path))
    opset = default_opset(model)
    assert opset is not None and opset >= 13
    per_channel = [
        n for n in model.graph.node if n.op_type == "DequantizeLinear" and any(a.name == "axis" for a in n.attribute)
    ]
    assert per_channel  # per-channel weight scales: what opset 11 could not express
    x = np.random.default_rng(2).random((16, 1, 8, 8)).astype(np.float32)
    assert _cosine(run(art, {"x": x}), run(child, {"x": x})) > 0.99
    # a second request reuses both steps: same child, nothing new in the store
    before = sorted(p.name for p in store.artifacts_dir.iterdir())
    again = apply_chain(art, [StaticInt8(calibrate_method="minmax", per_channel=True)], ctx)
    assert again.id == child.id and sorted(p.name for p in store.artifacts_dir.iterdir()) == before


def test_per_tensor_static_qdq_needs_no_conversion(
    store: Store, cnn_opset11: Path, ctx_for: Callable[..., PassContext]
) -> None:
    art = commit(store, cnn_opset11)
    child = apply_chain(art, [StaticInt8(calibrate_method="minmax", per_channel=False)], ctx_for(calibration=_feeds()))
    assert child.lineage.parent == art.id
    assert default_opset(onnx.load(str(child.model_path))) == 11


def test_convert_opset_only_upgrades_and_says_why_not(
    store: Store, cnn_opset11: Path, cnn: object, hw: Hardware, ctx_for: Callable[..., PassContext]
) -> None:
    art = commit(store, cnn_opset11)
    assert ConvertOpset(opset=11).check(art, hw) == (
        "the model is already at opset 11 (asked for 11); only upgrades are made"
    )
    assert "newer than onnx and onnxruntime here support" in (ConvertOpset(opset=999).check(art, hw) or "")
    with pytest.raises(NotApplicable, match="convert-opset: the model is already at opset 17"):
        apply_pass(cnn, ConvertOpset(opset=13), ctx_for())  # type: ignore[arg-type]
    newest = apply_pass(art, ConvertOpset(), ctx_for())  # 0: the newest both onnx and onnxruntime support
    assert default_opset(onnx.load(str(newest.model_path))) == ConvertOpset().target() > 13
