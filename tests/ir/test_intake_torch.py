"""Intake of torch modules: export with a working dynamic batch axis, parity with PyTorch, clear failures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from intake_helpers import assert_store_empty, run_artifact
from torch import nn

from lepton.engines import open_session
from lepton.errors import IntakeError
from lepton.store import Store
from lepton.store.intake import import_model


class SmallCNN(nn.Module):
    """A digits-sized CNN: 1x8x8 image -> 10 logits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = nn.functional.max_pool2d(torch.relu(self.bn(self.conv(image))), 2)
        out: torch.Tensor = self.fc(x.flatten(1))
        return out


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(6, 5)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.tanh(self.body(a + b))
        return h.softmax(-1), h.sum(-1)


class FixedBatch(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(3, -1).sum(1)  # the batch size 3 is baked into the graph


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))


@pytest.mark.parametrize("batch", [1, 7])
def test_mlp_export_matches_pytorch_at_any_batch(batch: int, store: Store) -> None:
    mlp = _mlp()
    art = import_model(mlp, example_input=torch.randn(4, 8), store=store)

    x = torch.randn(batch, 8)
    with torch.no_grad():
        want = mlp(x).numpy()
    np.testing.assert_allclose(run_artifact(art, {"input_0": x.numpy()})[0], want, rtol=1e-4, atol=1e-5)
    assert art.signature.input("input_0").shape == ("batch", 8)
    assert art.signature.outputs[0].shape == ("batch", 3)
    assert (art.name, art.source.kind if art.source else None) == ("sequential", "torch")


@pytest.mark.parametrize("batch", [1, 7])
def test_cnn_with_named_input_matches_pytorch_at_any_batch(batch: int, store: Store) -> None:
    torch.manual_seed(0)
    cnn = SmallCNN()
    art = import_model(cnn, example_input={"image": torch.randn(4, 1, 8, 8)}, store=store)

    x = torch.randn(batch, 1, 8, 8)
    with torch.no_grad():
        want = cnn(x).numpy()
    np.testing.assert_allclose(run_artifact(art, {"image": x.numpy()})[0], want, rtol=1e-4, atol=1e-5)
    assert art.signature.input_names == ["image"]
    assert art.signature.outputs[0].shape == ("batch", 10)


def test_tuple_inputs_and_outputs_get_positional_names(store: Store) -> None:
    art = import_model(TwoHeads(), example_input=(torch.randn(2, 6), torch.randn(2, 6)), store=store)

    assert art.signature.input_names == ["input_0", "input_1"]
    assert [(o.name, o.shape) for o in art.signature.outputs] == [
        ("output_0", ("batch", 5)),
        ("output_1", ("batch",)),
    ]


def test_the_module_stays_runnable_by_the_torch_engine(store: Store) -> None:
    mlp = _mlp()
    art = import_model(mlp, example_input=torch.randn(4, 8), store=store)

    x = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    eager = open_session("torch", art).run({"input_0": x})["output_0"]
    ort_out = open_session("onnxruntime", art).run({"input_0": x})["output_0"]
    assert art.torch_module is mlp
    np.testing.assert_allclose(eager, ort_out, rtol=1e-4, atol=1e-5)


def test_a_module_without_example_input_is_rejected(store: Store) -> None:
    with pytest.raises(IntakeError, match="needs example_input"):
        import_model(_mlp(), store=store)


def test_example_input_the_module_rejects_is_reported(store: Store) -> None:
    with pytest.raises(IntakeError, match="failed on example_input"):
        import_model(_mlp(), example_input=torch.randn(4, 5), store=store)
    assert_store_empty(store)


def test_a_baked_in_batch_size_is_rejected_and_nothing_is_stored(store: Store) -> None:
    with pytest.raises(IntakeError, match="batch size 4"):
        import_model(FixedBatch(), example_input=torch.randn(3, 4), store=store)
    assert_store_empty(store)
