"""Generative serving end to end: the real SmolLM2 GGUF on OpenVINO GenAI's continuous batching, a real server on
loopback, and the ``openai`` client unchanged (streaming included)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from serve_helpers import ServerThread

from lepton.examples.wheels import smollm2_gguf
from lepton.resolve import resolve_served
from lepton.serve import ServeConfig, build_app
from lepton.serve.generation import GenerativeSpec, generative_model

MODEL = "smollm2"
PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def llm() -> Iterator[ServerThread]:
    """Two streams at once and no waiting room: a third request is refused."""
    cfg = ServeConfig(max_streams=2, stream_queue=0, price_per_hour=1.0)
    with ServerThread(build_app(cfg, [generative_model(smollm2_gguf(), MODEL)])) as s:
        yield s


@pytest.fixture(scope="module")
def client(llm: ServerThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{llm.url}/v1", api_key="unused", max_retries=0)


def test_serve_resolves_a_gguf_path_and_the_example_to_a_generative_model() -> None:
    ((_, by_path),) = resolve_served([f"chat={smollm2_gguf()}"], None)
    ((_, by_example),) = resolve_served([], "smollm2")
    assert isinstance(by_path, GenerativeSpec) and by_path.name == "chat" and by_path.layout == "gguf"
    assert isinstance(by_example, GenerativeSpec) and by_example.name == "smollm2"


def test_models_lists_the_generative_model(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == [MODEL]


def test_completion_honours_max_tokens_and_counts_usage(client: openai.OpenAI) -> None:
    r = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=5, temperature=0)
    assert r.choices[0].finish_reason == "length"
    assert r.usage is not None and r.usage.completion_tokens == 5 and r.usage.prompt_tokens == 5
    assert r.choices[0].text.startswith(" Paris")


def test_stop_ends_the_text_before_the_stop_string(client: openai.OpenAI) -> None:
    full = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=12, temperature=0).choices[0].text
    assert "\n\n" in full  # " Paris.\n\nThe answer ..." greedy
    cut = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=12, temperature=0, stop=["zzz", "\n\n"])
    assert cut.choices[0].text == full[: full.index("\n\n")]
    assert cut.choices[0].finish_reason == "stop"
    one = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=12, temperature=0, stop=".")
    assert one.choices[0].text == full[: full.index(".")]


def test_streamed_chat_is_the_whole_answer_in_pieces(client: openai.OpenAI) -> None:
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "Name a color."}]
    whole = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=12, temperature=0)
    parts, finish, usage = [], None, None
    stream = client.chat.completions.create(
        model=MODEL,
        messages=messages,
        max_tokens=12,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        usage = chunk.usage or usage
    assert len([p for p in parts if p]) > 1  # it came in pieces
    assert "".join(parts) == whole.choices[0].message.content
    assert finish == whole.choices[0].finish_reason
    assert usage == whole.usage
    assert whole.usage is not None and whole.usage.prompt_tokens > 20  # the chat template (system turn) was applied


def test_seeded_sampling_repeats(client: openai.OpenAI) -> None:
    texts = {
        client.completions.create(model=MODEL, prompt="Once", max_tokens=8, temperature=1.0, seed=11).choices[0].text
        for _ in range(2)
    }
    assert len(texts) == 1


def test_errors_are_openai_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError, match="no generative model 'nope'"):
        client.completions.create(model="nope", prompt=PROMPT)
    with pytest.raises(openai.BadRequestError, match="temperature"):
        client.completions.create(model=MODEL, prompt=PROMPT, temperature=5)


def test_full_server_refuses_with_429_and_a_cancelled_stream_frees_its_slot(client: openai.OpenAI) -> None:
    long = {"model": MODEL, "prompt": "Once upon a time", "max_tokens": 2000, "extra_body": {"min_tokens": 2000}}
    first = client.completions.create(**long, stream=True)  # type: ignore[call-overload]
    second = client.completions.create(**long, stream=True)  # type: ignore[call-overload]
    try:
        next(iter(first)), next(iter(second))  # both generating
        with pytest.raises(openai.RateLimitError, match="full"):
            client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=2)
        first.close()  # the client goes away mid-stream
        deadline = time.monotonic() + 10
        while True:
            try:
                r = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=2, temperature=0)
                break
            except openai.RateLimitError:
                assert time.monotonic() < deadline, "the cancelled stream's slot was not freed"
                time.sleep(0.05)
        assert r.usage is not None and r.usage.completion_tokens == 2
    finally:
        first.close()
        second.close()


def _metric(text: str, name: str) -> float:
    m = re.search(rf'^{name}{{model="{MODEL}"}} (\S+)$', text, re.MULTILINE)
    assert m is not None, f"{name} not exported"
    return float(m.group(1))


def test_token_metrics_are_exported_and_drawn(llm: ServerThread, client: openai.OpenAI) -> None:
    client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=4, temperature=0)
    time.sleep(1.2)  # one tick of the per-second history
    text = httpx.get(f"{llm.url}/metrics").text
    assert _metric(text, "lepton_time_to_first_token_seconds_count") >= 1
    assert _metric(text, "lepton_time_per_output_token_seconds_count") >= 3
    assert _metric(text, "lepton_completion_tokens_total") >= 4
    assert _metric(text, "lepton_prompt_tokens_total") >= 5
    assert _metric(text, "lepton_active_streams") >= 0
    assert _metric(text, "lepton_cost_per_1m_output_tokens_usd") > 0
    data = httpx.get(f"{llm.url}/dashboard/data").json()["models"][MODEL]
    assert data["generative"] is True
    assert any(p["ttft_p50"] is not None and p["throughput_per_s"] > 0 for p in data["points"])


def test_serve_refuses_several_workers_for_a_generative_model() -> None:
    import typer
    from typer.testing import CliRunner

    from lepton.cli.serve import register
    from lepton.errors import UserError

    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["serve", str(smollm2_gguf()), "--workers", "2"])
    assert isinstance(result.exception, UserError) and "one process" in str(result.exception)


def test_a_whole_answer_whose_client_went_away_frees_its_slot(llm: ServerThread, client: openai.OpenAI) -> None:
    long = {"model": MODEL, "prompt": "Once upon a time", "max_tokens": 2000, "min_tokens": 2000}
    with pytest.raises(httpx.ReadTimeout):  # the client gives up and closes its connection
        httpx.post(f"{llm.url}/v1/completions", json=long, timeout=1.0)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{llm.url}/v1/completions", json=long, timeout=1.0)
    deadline = time.monotonic() + 10  # both slots were taken; each frees when the server sees its client gone
    while True:
        try:
            r = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=2, temperature=0)
            break
        except openai.RateLimitError:
            assert time.monotonic() < deadline, "an abandoned request kept its slot"
            time.sleep(0.05)
    assert r.usage is not None and r.usage.completion_tokens == 2
