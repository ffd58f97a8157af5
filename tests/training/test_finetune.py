"""``finetune``: the bundled MiniLM with a classification head, fine-tuned on the bundled tickets (slow: the
encoder itself trains on 2 cores)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import lepton
from lepton.examples import tokenize


@pytest.mark.slow
def test_finetune_tickets_exports_a_text_classifier_with_its_tokenizer() -> None:
    r = lepton.train("finetune", example="tickets", epochs=2, freeze=4, max_length=16)
    art = r.artifact
    assert art.task == "classification" and set(art.files) == {"eval_data", "tokenizer"}
    assert art.signature.input_names == ["input_ids", "attention_mask"]
    assert art.signature.inputs[0].shape == ("batch", "sequence") and art.torch_module is not None
    assert art.signature.inputs[0].dtype == "int64" and r.classes == ("account", "billing", "shipping", "technical")
    with np.load(art.file("eval_data")) as z:
        assert sorted(z.files) == ["attention_mask", "input_ids", "label"] and z["input_ids"].shape == (64, 16)
    # better than guessing after two epochs; the TF-IDF baseline is beside it
    assert r.metrics["accuracy"] > 0.5 and r.baselines[1].metrics["accuracy"] == 0.25
    assert r.baselines[0].name == "TF-IDF + logistic regression"
    assert r.parity.same_class == 1.0 and r.parity.max_abs_error < 1e-3
    # the stored tokenizer turns new text into the model's inputs, padded to any length
    feeds = tokenize(art, ["I was charged twice for my order", "The parcel never arrived"], max_length=16)
    logits = ort.InferenceSession(str(art.model_path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert logits.shape == (2, 4)
