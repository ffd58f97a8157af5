"""OpenAI-compatible embeddings on the bundled MiniLM through the ``openai`` package, and lepton.Client."""

from __future__ import annotations

from collections.abc import Iterator

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


@pytest.fixture(scope="module")
def minilm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, Store]]:
    from lepton.examples import example_sentences, import_example  # noqa: F401 - fails early if missing

    store = Store(tmp_path_factory.mktemp("minilm-home"))
    import_example("minilm", store)
    with ServerThread(build_app(ServeConfig(), ["minilm"], store=store)) as s:
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
