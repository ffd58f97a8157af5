"""The causal-LM family on the real SmolLM2: intake from the GGUF and from a folder, every builder's variant run
on its GenAI engine against the PyTorch reference (greedy tokens, perplexity, top-1 agreement), and the timing."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lepton
from lepton.cost.catalog import PricePoint
from lepton.cost.model import usd_per_1m
from lepton.engines.base import RuntimeConfig, open_session
from lepton.engines.generation import GenerationSession
from lepton.errors import EngineUnavailable, IntakeError, UserError
from lepton.hardware import detect_hardware
from lepton.ir.artifact import Artifact
from lepton.ir.causal_lm import lm_folder_kind
from lepton.ir.source import CausalLmSource
from lepton.measure.generation import GenerationPlan, measure_generation
from lepton.measure.lm_quality import LmData, LmReference, lm_quality, lm_reference, load_lm_data, matched
from lepton.measure.timing import TimingPlan
from lepton.passes import create
from lepton.passes.genai import GenAiBuild
from lepton.resolve import stored_generative
from lepton.store import Store

Build = Callable[..., Artifact]  # the session's builder (conftest.build)

TINY = GenerationPlan(
    prompt_lengths=(8, 32),
    new_tokens=6,
    streams=2,
    stream_tokens=4,
    timing=TimingPlan(warmup=1, min_runs=2, min_seconds=0.0, max_runs=3, max_seconds=2.0, block_seconds=0.05),
)


def test_gguf_intake_keeps_tokenizer_chat_template_and_the_config_figures(smollm2: Artifact) -> None:
    assert smollm2.format == "hf-causal" and smollm2.task == "text-generation"
    assert lm_folder_kind(smollm2.path) == "hf-causal"
    assert {"tokenizer", "chat_template"} <= set(smollm2.files)
    assert "{% for message in messages %}" in (smollm2.path / "chat_template.jinja").read_text()
    src = smollm2.source
    assert isinstance(src, CausalLmSource) and src.gguf and src.gguf.endswith(".gguf")
    assert (src.architecture, src.num_layers, src.hidden_size, src.num_heads, src.num_kv_heads, src.vocab_size) == (
        "LlamaForCausalLM",
        30,
        576,
        9,
        3,
        49152,
    )
    assert smollm2.signature.output_names == ["logits"]
    assert Artifact.load(smollm2.path).source == src  # meta.json keeps the typed source


def test_a_hugging_face_folder_is_imported_as_it_is(smollm2: Artifact, tmp_path: Path, lm_store: Store) -> None:
    folder = tmp_path / "smollm2-hf"
    shutil.copytree(smollm2.path, folder, ignore=shutil.ignore_patterns("meta.json"))
    art = lepton.import_model(folder, store=lm_store)
    assert art.format == "hf-causal" and art.task == "text-generation"
    assert isinstance(art.source, CausalLmSource) and art.source.gguf is None
    assert (art.path / "model.safetensors").read_bytes() == (smollm2.path / "model.safetensors").read_bytes()
    why = create("openvino-gguf").check(art, detect_hardware())
    assert why is not None and "not imported from a GGUF" in why


def test_serving_a_stored_causal_lm_by_name(smollm2: Artifact, lm_store: Store) -> None:
    """Before any optimize run, ``lepton serve smollm2`` serves the GGUF the baseline was dequantized from (the
    PyTorch folder opens in no serving engine); a name that is no stored causal LM is left to the tensor path."""
    spec = stored_generative("smollm2", store=lm_store)
    assert spec is not None and spec.layout == "gguf" and spec.name == "smollm2"
    assert isinstance(smollm2.source, CausalLmSource) and str(spec.path) == smollm2.source.gguf
    assert stored_generative("no-such-model", store=lm_store) is None


def test_a_causal_lm_folder_without_weights_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}))
    with pytest.raises(IntakeError, match=r"no \.safetensors weights .* save_pretrained"):
        lepton.import_model(tmp_path)


def test_the_reference_scores_the_held_out_text(reference: LmReference, lm_data: LmData) -> None:
    assert len(lm_data.windows) == 2 and all(len(w) == 128 for w in lm_data.windows)
    assert 10.0 < reference.perplexity < 60.0  # SmolLM2-135M-Instruct on the bundled prose: 42.6 here
    assert all(len(c) == 16 for c in reference.continuations)


def test_the_torch_session_is_its_own_reference(torch_session: GenerationSession, lm_data: LmData) -> None:
    small = LmData(lm_data.windows[:1], lm_data.prompts[:1], "one window and one prompt")  # the rule, cheaply
    ref = lm_reference(torch_session, small, "torch-lm fp32")
    q = lm_quality(torch_session, small, ref)
    assert q.top1_agreement == 1.0 and q.greedy_match == 1.0
    assert q.perplexity == pytest.approx(ref.perplexity, rel=1e-6)
    assert q.headline() is not None and q.headline().name == "perplexity"  # type: ignore[union-attr]


# One variant per builder kind (chain, engine, runtime options, largest relative perplexity increase, least greedy
# match): the int4 settings of the same builders are built by the same code (their arguments: test_builder_arguments)
F16 = ("openvino-gguf", {"weights": "f16"})
VARIANTS = [
    ((("genai-build", {"precision": "int8"}),), "ort-genai", {}, 0.02, 0.25),
    ((F16,), "openvino-genai", {"precision": "f32"}, 0.01, 0.9),
    (
        (F16, ("openvino-compress", {"mode": "int8_asym"})),
        "openvino-genai",
        {"precision": "f32", "kv_cache": "u8"},
        0.02,
        0.25,
    ),
]


@pytest.mark.slow  # each builds a variant (ORT GenAI builder ~40 s, OpenVINO's GGUF reader ~20 s on 2 cores)
@pytest.mark.parametrize(("chain", "engine", "options", "max_increase", "min_match"), VARIANTS)
def test_each_builder_variant_runs_and_matches_the_reference(
    build: Build,
    reference: LmReference,
    lm_data: LmData,
    chain: tuple[tuple[str, dict[str, Any]], ...],
    engine: str,
    options: dict[str, str],
    max_increase: float,
    min_match: float,
) -> None:
    art = build(*chain)
    assert lm_folder_kind(art.path) == art.format  # the folder its runtime opens by path
    session = open_session(engine, art, RuntimeConfig(intra_op_threads=2, options=options))
    assert isinstance(session, GenerationSession)
    prompts = [list(p[:16]) for p in lm_data.prompts]
    try:
        q = lm_quality(session, lm_data, reference)
        gen = session.generate(list(lm_data.prompts[0]), 5)
        alone = [session.generate(p, 4).tokens for p in prompts]
        together = session.generate_streams(prompts, 4)  # continuous batching (OpenVINO) or a static batch (ORT)
    finally:
        session.close()
    assert q.perplexity is not None and q.perplexity / reference.perplexity - 1 <= max_increase, q
    assert q.greedy_match is not None and q.greedy_match >= min_match, q
    assert q.top1_agreement is not None and q.top1_agreement > 0.5, q
    assert len(gen.tokens) == 5 and list(gen.times) == sorted(gen.times)
    # concurrent streams: every stream gets the greedy tokens it gets alone, with its own clock
    assert [g.tokens for g in together] == alone
    assert all(len(g.times) == 4 and list(g.times) == sorted(g.times) and g.times[0] > 0 for g in together)


def test_builder_arguments_carry_the_int4_settings(smollm2: Artifact, tmp_path: Path) -> None:
    """The builder's command line for the int4 variants the search builds (k-quant with the LM head at int8; RTN
    with a block size and accuracy level), without running the builder."""
    kq = create("genai-build", precision="int4", algo="k_quant", last_matmul_int8=True)
    assert isinstance(kq, GenAiBuild)
    cmd = kq.command(smollm2, tmp_path / "out", tmp_path / "cache")
    assert cmd[cmd.index("-p") + 1] == "int4"
    extra = cmd[cmd.index("--extra_options") + 1 :]
    assert {"algo_config=k_quant", "matmul_mixed_precision=last_matmul:int8", "block_size=32"} <= set(extra)
    rtn = create("genai-build", precision="int4", algo="rtn", block_size=64, accuracy_level=2)
    assert isinstance(rtn, GenAiBuild)
    assert {"algo_config=rtn", "block_size=64", "accuracy_level=2"} <= set(rtn.command(smollm2, tmp_path, tmp_path))
    assert create("genai-build", precision="int8", last_matmul_int8=True).check(smollm2, detect_hardware())


@pytest.mark.slow
def test_generation_is_timed_and_priced_per_token(build: Build, lm_data: LmData) -> None:
    art = build(("genai-build", {"precision": "int8"}))
    session = open_session("ort-genai", art, RuntimeConfig(intra_op_threads=2))
    assert isinstance(session, GenerationSession)
    price = PricePoint("test", 1.0, "a test price", "given")
    try:
        fig = measure_generation(session, lm_data.windows[0], price, TINY)
    finally:
        session.close()
    assert [p.prompt_tokens for p in fig.ttft] == [8, 32] and fig.tpot_ms.n >= 2 * (TINY.new_tokens - 1)
    assert fig.decode_tokens_per_s == pytest.approx(1000.0 / fig.tpot_ms.mean, rel=1e-3)
    assert fig.streams == 2 and fig.streams_tokens_per_s is not None and fig.streams_tokens_per_s > 0
    # every stream's gaps of every timed run: streams x (tokens - 1) per run
    assert fig.streams_tpot_ms is not None and fig.streams_tpot_ms.n >= 2 * 2 * (TINY.stream_tokens - 1)
    assert fig.streams_tpot_ms.p95 >= fig.streams_tpot_ms.p50 > 0
    assert fig.capacity_tokens_per_s == max(fig.decode_tokens_per_s, fig.streams_tokens_per_s)
    assert fig.usd_per_1m_output == pytest.approx(usd_per_1m(1.0, fig.capacity_tokens_per_s), rel=1e-4)
    assert fig.usd_per_1m_input == pytest.approx(usd_per_1m(1.0, fig.prefill_tokens_per_s), rel=1e-4)
    assert math.isfinite(fig.e2e_tokens_per_s) and 0 < fig.e2e_tokens_per_s
    together = fig.streams_tokens_per_s >= fig.decode_tokens_per_s  # the load of 8 streams at each one's rate
    assert fig.load_at(8) == pytest.approx(8 * fig.capacity_tokens_per_s / (2 if together else 1))


@pytest.mark.slow
def test_runtime_options_are_checked_and_reported(build: Build) -> None:
    art = build(("openvino-gguf", {"weights": "f16"}))
    with pytest.raises(UserError, match="kv_cache 'fp8' is not one of f32, u8"):
        open_session("openvino-genai", art, RuntimeConfig(options={"kv_cache": "fp8"}))
    session = open_session("openvino-genai", art, RuntimeConfig(intra_op_threads=1, options={"kv_cache": "u8"}))
    try:
        assert session.settings == {"threads": 1, "precision": "f32", "kv_cache": "u8"}  # type: ignore[attr-defined]
        out = session.run({"input_ids": np.array([[1, 2, 3]], dtype=np.int64)})
    finally:
        session.close()
    assert out["logits"].shape == (1, 3, 49152)
    with pytest.raises(EngineUnavailable, match="opens only hf-causal"):
        open_session("torch-lm", art)


def test_prompts_come_from_a_jsonl_file_and_bad_data_is_refused(smollm2: Artifact, tmp_path: Path) -> None:
    from lepton.ir.causal_lm import load_tokenizer

    tok = load_tokenizer(smollm2.path)
    rows = tmp_path / "prompts.jsonl"
    text = (Path(lepton.__file__).parent / "ir" / "data" / "lm_heldout.txt").read_text()
    rows.write_text("\n".join(json.dumps({"prompt": p}) for p in text.split("\n\n")))
    data = load_lm_data(tok, rows)
    assert data.prompts[0] == tuple(tok(text.split("\n\n")[0], add_special_tokens=False)["input_ids"])
    with_bos = load_lm_data(tok, rows, bos=7)  # a model whose tokenizer starts every text with a BOS (Gemma)
    assert all(w[0] == 7 and len(w) == len(data.windows[0]) for w in with_bos.windows)
    assert with_bos.windows[0][1:] == data.windows[0][:-1] and with_bos.prompts[0] == (7, *data.prompts[0])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "hi"}\n')
    with pytest.raises(UserError, match='line 1 of .* has no "prompt" or "text"'):
        load_lm_data(tok, bad)
    short = tmp_path / "short.txt"
    short.write_text("Too short.")
    with pytest.raises(UserError, match="perplexity needs at least 129"):
        load_lm_data(tok, short)


def test_greedy_match_counts_the_common_prefix() -> None:
    assert matched((1, 2, 3, 4), (1, 2, 9, 4)) == 0.5
    assert matched((1, 2), (1, 2, 3)) == 1.0


def test_streams_and_qps_are_one_load_or_the_other() -> None:
    from lepton.navigate.options import OptimizeOptions

    assert OptimizeOptions.build(streams=16).to_json()["streams"] == 16
    with pytest.raises(UserError, match="--streams 16 and --qps 100 both set the load"):
        OptimizeOptions.build(streams=16, qps=100)
    with pytest.raises(UserError, match="streams"):
        OptimizeOptions.build(streams=0)


def test_streams_is_refused_for_a_model_that_does_not_generate(tiny_onnx: Path, lepton_home: Path) -> None:
    with pytest.raises(UserError, match="--streams sizes replicas for a causal LM's concurrent streams; .* give --qps"):
        lepton.optimize(tiny_onnx, streams=4)
