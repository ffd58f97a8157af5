"""Intake of the bundled MiniLM: export parity on real sentences, tokenizer files, and example reuse."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from intake_helpers import cosines, run_artifact

from lepton.engines import open_session
from lepton.errors import IntakeError, UserError
from lepton.examples import example_sentences, example_source, import_example, tokenize
from lepton.ir.artifact import Artifact
from lepton.ir.hf import load_torch_encoder
from lepton.ir.source import HfSource
from lepton.store import Store
from lepton.store.intake import import_model


def test_sentences_are_many_varied_and_unique() -> None:
    sentences = example_sentences()

    lengths = [len(s.split()) for s in sentences]
    assert len(sentences) >= 200 and len(set(sentences)) == len(sentences)
    assert min(lengths) <= 4 and max(lengths) >= 15


def test_unknown_example_lists_the_known_ones() -> None:
    with pytest.raises(UserError, match="bundled examples are: .*minilm"):
        import_example("resnet")


def test_a_generative_model_folder_goes_to_the_causal_lm_intake(tmp_path: Path, store: Store) -> None:
    """Not the encoder intake: a causal-LM config is read as one (and here refused for its missing weights)."""
    folder = tmp_path / "tiny-gpt"
    folder.mkdir()
    config = {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "n_layer": 1,
        "n_head": 2,
        "n_embd": 8,
    }
    (folder / "config.json").write_text(json.dumps(config))

    with pytest.raises(IntakeError, match="has a causal-LM config.json but no .safetensors weights"):
        import_model(folder, store=store)


@pytest.mark.slow
def test_minilm_signature_task_and_files(minilm: Artifact) -> None:
    sig = minilm.signature

    assert [(t.name, t.dtype, t.shape) for t in sig.inputs] == [
        (n, "int64", ("batch", "sequence")) for n in ("input_ids", "attention_mask", "token_type_ids")
    ]
    assert [(t.name, t.shape) for t in sig.outputs] == [("sentence_embedding", ("batch", 384))]
    assert (minilm.task, minilm.name, minilm.files) == ("embedding", "minilm", {"tokenizer": "tokenizer"})
    src = minilm.source
    assert isinstance(src, HfSource) and src.path == str(example_source("minilm").resolve())
    assert (src.max_length, src.model_type, src.num_heads, src.hidden_size) == (256, "bert", 12, 384)


@pytest.mark.slow
def test_minilm_onnx_matches_the_pytorch_encoder_on_real_sentences(minilm: Artifact) -> None:
    sentences = example_sentences()
    assert isinstance(minilm.source, HfSource) and minilm.source.path
    encoder = load_torch_encoder(minilm.source.path)
    batches = [sentences, [" ".join(sentences[:15]), sentences[0]]]  # the second one holds 256 tokens

    for batch in batches:
        feeds = tokenize(minilm, batch, max_length=256)
        with torch.no_grad():
            want = encoder(*(torch.from_numpy(feeds[n]) for n in minilm.signature.input_names)).numpy()
        (got,) = run_artifact(minilm, feeds)
        assert cosines(got, want).min() >= 0.9999


@pytest.mark.slow
def test_minilm_onnx_matches_sentence_transformers(minilm: Artifact) -> None:
    st = pytest.importorskip("sentence_transformers")
    sentences = example_sentences()
    model = st.SentenceTransformer(str(example_source("minilm")), device="cpu")

    want = model.encode(sentences, convert_to_numpy=True)
    (got,) = run_artifact(minilm, tokenize(minilm, sentences, max_length=model.max_seq_length))
    assert cosines(got, want).min() >= 0.9999


@pytest.mark.slow
def test_minilm_runs_at_batch_1_and_padded_to_max_length(minilm: Artifact) -> None:
    sentences = example_sentences()[:5]

    (longest,) = run_artifact(minilm, tokenize(minilm, sentences))
    padded_feeds = tokenize(minilm, sentences, pad_to="max_length")
    (padded,) = run_artifact(minilm, padded_feeds)
    (single,) = run_artifact(minilm, tokenize(minilm, sentences[:1]))
    assert padded_feeds["input_ids"].shape == (5, 256)  # padded to the model's own limit by default
    assert cosines(padded, longest).min() >= 0.9999
    assert cosines(single, longest[:1]).min() >= 0.9999


@pytest.mark.slow
def test_tokenizer_folder_loads_both_ways_and_tokenize_matches_transformers(minilm: Artifact) -> None:
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    folder = minilm.file("tokenizer")
    assert folder is not None
    Tokenizer.from_file(str(folder / "tokenizer.json"))
    sentences = example_sentences()[:40]

    want = AutoTokenizer.from_pretrained(folder)(
        sentences, padding=True, truncation=True, max_length=16, return_tensors="np"
    )
    got = tokenize(folder, sentences, max_length=16)
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        np.testing.assert_array_equal(got[name], want[name])
        assert got[name].dtype == np.int64


@pytest.mark.slow
def test_import_example_reuses_the_stored_artifact(minilm: Artifact, minilm_store: Store) -> None:
    stored = sorted(p.name for p in minilm_store.artifacts_dir.iterdir())

    again = import_example("minilm", store=minilm_store)
    assert again.id == minilm.id
    assert sorted(p.name for p in minilm_store.artifacts_dir.iterdir()) == stored


@pytest.mark.slow
def test_torch_engine_rebuilds_the_encoder_from_the_stored_source(minilm: Artifact) -> None:
    loaded = Artifact.load(minilm.path)  # as a new process sees it: no module in memory
    feeds = tokenize(loaded, example_sentences()[:8])

    eager = open_session("torch", loaded).run(feeds)["sentence_embedding"]
    (got,) = run_artifact(loaded, feeds)
    assert cosines(eager, got).min() >= 0.9999


@pytest.mark.slow
def test_minilm_export_lets_the_transformer_optimizer_fuse_attention(minilm: Artifact) -> None:
    from onnxruntime.transformers import optimizer

    fused = optimizer.optimize_model(
        str(minilm.model_path),
        model_type="bert",
        num_heads=minilm.source.num_heads,  # type: ignore[union-attr]
        hidden_size=minilm.source.hidden_size,  # type: ignore[union-attr]
        opt_level=0,
    ).get_fused_operator_statistics()
    assert fused["Attention"] == 6 and fused["EmbedLayerNormalization"] == 1
