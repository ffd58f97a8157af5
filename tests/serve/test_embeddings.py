"""OpenAI-compatible embeddings on the bundled MiniLM through the ``openai`` package, and lepton.Client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest
from serve_helpers import ServerThread

from lepton.client import Client
from lepton.engines import open_session
from lepton.serve import ServeConfig, build_app
from lepton.serve.loadtest import LoadSpec, run_loadtest
from lepton.store.store import Store

pytestmark = pytest.mark.slow


def _older_import(current: Store, home: Path) -> Store:
    """A store holding 'minilm-old': MiniLM as imported before intake wrote the token limit into its tokenizer.

    Its tokenizer files are the source folder's own (model_max_length 512; tokenizer.json cuts and pads at
    128), as every store made before then holds; only ``source["max_length"]`` (256) says the real limit.
    (A store of its own: an artifact's id hashes its top-level files, so in the same store it would be
    the same artifact as 'minilm'.)
    """
    import shutil

    from lepton.examples import example_source

    art = current.model_artifact("minilm")
    assert art is not None
    store = Store(home)
    with store.workdir() as work:
        shutil.copy(art.model_path, work / "model.onnx")
        (work / "tokenizer").mkdir()
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
            shutil.copy(example_source("minilm") / name, work / "tokenizer" / name)
        old = store.commit_artifact(
            work, signature=art.signature, task=art.task, source=art.source, files=art.files, name="minilm-old"
        )
    store.name_model("minilm-old", old.id)
    return store


@pytest.fixture(scope="module")
def minilm_server(tmp_path_factory: pytest.TempPathFactory, minilm_home: Path) -> Iterator[tuple[ServerThread, Store]]:
    import shutil

    from lepton.examples import example_sentences  # noqa: F401 - fails early if missing

    home = tmp_path_factory.mktemp("minilm-home")
    shutil.copytree(minilm_home, home, dirs_exist_ok=True)  # the session's one import, in this module's own store
    store = Store(home)
    with ServerThread(build_app(ServeConfig(), ["minilm"], store=store)) as s:
        yield s, store


@pytest.fixture(scope="module")
def older_server(
    minilm_server: tuple[ServerThread, Store], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerThread, Store]]:
    """A second server holding only 'minilm-old' (see ``_older_import``)."""
    store = _older_import(minilm_server[1], tmp_path_factory.mktemp("older-home"))
    with ServerThread(build_app(ServeConfig(), ["minilm-old"], store=store)) as s:
        yield s, store


def _in_process(store: Store, texts: list[str]) -> np.ndarray:
    from tokenizers import Tokenizer

    art = store.model_artifact("minilm")
    folder = art.file("tokenizer") if art is not None else None
    assert art is not None and folder is not None
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    session = open_session("onnxruntime", art)
    rows = []
    for text in texts:  # one at a time, unpadded: the reference the server must match
        ids = np.array([tok.encode(text).ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        rows.append(session.run(feeds)["sentence_embedding"][0])
    return np.asarray(rows)


def test_openai_client_gets_in_process_embeddings(minilm_server: tuple[ServerThread, Store]) -> None:
    from lepton.examples import example_sentences

    server, store = minilm_server
    texts = example_sentences()[:6]
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused")

    as_base64 = client.embeddings.create(model="minilm", input=texts)  # the client's default encoding
    as_float = client.embeddings.create(model="minilm", input=texts[0], encoding_format="float")

    got = np.asarray([d.embedding for d in as_base64.data], dtype=np.float32)
    want = _in_process(store, texts)
    assert got.shape == (6, 384)
    np.testing.assert_allclose(got, want, atol=2e-5)
    np.testing.assert_allclose(as_float.data[0].embedding, want[0], atol=2e-5)
    assert as_base64.usage.prompt_tokens > 6


@pytest.fixture(scope="module")
def sentence_transformer() -> Any:
    from sentence_transformers import SentenceTransformer

    from lepton.examples import example_source

    return SentenceTransformer(str(example_source("minilm")), device="cpu")


def _long_text(words: int) -> str:
    from lepton.ir.text import sample_sentences

    out: list[str] = []
    for s in sample_sentences():
        out.extend(s.split())
    return " ".join(out[:words])


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return np.asarray(np.sum(a64 * b64, axis=1) / (np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1)))


@pytest.mark.parametrize(("fixture", "model"), [("minilm_server", "minilm"), ("older_server", "minilm-old")])
def test_a_text_past_the_token_limit_embeds_as_sentence_transformers_does(
    request: pytest.FixtureRequest, sentence_transformer: Any, fixture: str, model: str
) -> None:
    server, _ = request.getfixturevalue(fixture)
    long = _long_text(450)
    assert len(sentence_transformer.tokenizer(long)["input_ids"]) > sentence_transformer.max_seq_length
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)

    got = client.embeddings.create(model=model, input=long)

    want = sentence_transformer.encode([long], convert_to_numpy=True)
    assert _cosines(np.asarray([got.data[0].embedding]), want).min() >= 0.9999
    assert got.usage.prompt_tokens == sentence_transformer.max_seq_length


@pytest.mark.parametrize(("fixture", "model"), [("minilm_server", "minilm"), ("older_server", "minilm-old")])
def test_one_request_mixing_short_and_long_texts_matches_sentence_transformers(
    request: pytest.FixtureRequest, sentence_transformer: Any, fixture: str, model: str
) -> None:
    server, _ = request.getfixturevalue(fixture)
    texts = ["A man is eating food.", _long_text(450), "Rain.", _long_text(180), _long_text(900)]
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)

    got = client.embeddings.create(model=model, input=texts)

    want = sentence_transformer.encode(texts, convert_to_numpy=True)
    assert [d.index for d in got.data] == list(range(len(texts)))
    assert _cosines(np.asarray([d.embedding for d in got.data]), want).min() >= 0.9999


def test_token_ids_past_the_limit_are_refused(minilm_server: tuple[ServerThread, Store]) -> None:
    server, _ = minilm_server
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)

    with pytest.raises(openai.BadRequestError, match="has 300 token ids; model 'minilm' takes at most 256"):
        client.embeddings.create(model="minilm", input=[[101] + [2000] * 298 + [102]])


def test_openai_client_sees_errors(minilm_server: tuple[ServerThread, Store]) -> None:
    server, _ = minilm_server
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)

    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="nope", input="hello")
    with pytest.raises(openai.BadRequestError, match="empty string"):
        client.embeddings.create(model="minilm", input=[""])


def test_lepton_client_embed_predict_health_and_loadtest(minilm_server: tuple[ServerThread, Store]) -> None:
    server, store = minilm_server
    texts = ["A man is eating food.", "A cheetah chases its prey across a field."]
    ids = np.array([[101, 1037, 2158, 102]], dtype=np.int64)

    with Client(server.url) as c:
        health = c.health()
        emb = c.embed(texts, model="minilm")
        out = c.predict(
            "minilm",
            {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)},
        )
        models = c.models()
    result = run_loadtest(LoadSpec(url=server.url, requests=20, concurrency=4, protocol="embeddings"))

    assert health == {"live": True, "ready": True} and models == ["minilm"]
    np.testing.assert_allclose(emb, _in_process(store, texts), atol=2e-5)
    assert out["sentence_embedding"].shape == (1, 384)
    assert result.statuses == {"200": 20} and result.throughput > 0 and result.percentile(50) is not None
