"""OpenAI-compatible text generation: ``POST /v1/completions`` and ``POST /v1/chat/completions`` for generative models.

The chat template is the model's own, applied on the server. ``stream: true`` answers Server-Sent Events
(``data: {chunk}`` lines, then ``data: [DONE]``); a client that goes away cancels its request in the engine, so its
stream slot frees at once. ``usage`` counts prompt and output tokens. Errors are OpenAI's ``{"error": {...}}``.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from lepton.errors import ServeError
from lepton.serve.generation.backends import Sampling
from lepton.serve.generation.engine import Stream
from lepton.serve.generation.served import GeneratingModel
from lepton.serve.limits import dumps, json_response, parse_json
from lepton.serve.openapi import answers, ok, ref
from lepton.serve.protocols.common import json_body, openai_error, server_of, timed
from lepton.serve.validate import bad, short

LISTED = ("/v1/completions", "/v1/chat/completions")
MAX_TOKENS_LIMIT = 8192
DEFAULT_COMPLETION_TOKENS = 16  # OpenAI's default for /v1/completions
DEFAULT_CHAT_TOKENS = 512
MAX_STOPS = 4
DISCONNECT_POLL_S = 0.25

_USAGE = {
    "type": "object",
    "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
    "properties": {k: {"type": "integer"} for k in ("prompt_tokens", "completion_tokens", "total_tokens")},
}
SCHEMAS: dict[str, dict[str, Any]] = {
    "Completion": {
        "type": "object",
        "required": ["id", "object", "created", "model", "choices", "usage"],
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string", "enum": ["text_completion"]},
            "created": {"type": "integer"},
            "model": {"type": "string"},
            "choices": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["index", "text", "finish_reason"],
                    "properties": {
                        "index": {"type": "integer"},
                        "text": {"type": "string"},
                        "finish_reason": {"type": "string", "enum": ["stop", "length"]},
                    },
                },
            },
            "usage": _USAGE,
        },
    },
    "ChatCompletion": {
        "type": "object",
        "required": ["id", "object", "created", "model", "choices", "usage"],
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string", "enum": ["chat.completion"]},
            "created": {"type": "integer"},
            "model": {"type": "string"},
            "choices": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["index", "message", "finish_reason"],
                    "properties": {
                        "index": {"type": "integer"},
                        "message": {
                            "type": "object",
                            "properties": {"role": {"type": "string"}, "content": {"type": "string"}},
                        },
                        "finish_reason": {"type": "string", "enum": ["stop", "length"]},
                    },
                },
            },
            "usage": _USAGE,
        },
    },
}
_SAMPLING = {
    "max_tokens": {"type": "integer", "minimum": 1, "maximum": MAX_TOKENS_LIMIT},
    "temperature": {"type": "number", "minimum": 0, "maximum": 2, "description": "0: greedy"},
    "top_p": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
    "seed": {"type": "integer"},
    "min_tokens": {"type": "integer", "minimum": 0, "description": "end of text is masked until this many tokens"},
    "stop": {
        "description": f"up to {MAX_STOPS} strings; the text ends before the first one (which is not returned)",
        "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "maxItems": MAX_STOPS}],
    },
    "stream": {"type": "boolean", "description": "answer Server-Sent Events, ending with data: [DONE]"},
    "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
    "n": {"type": "integer", "enum": [1]},
}
_COMPLETION_BODY = json_body(
    {
        "type": "object",
        "required": ["model", "prompt"],
        "properties": {"model": {"type": "string"}, "prompt": {"type": "string"}, **_SAMPLING},
        "example": {"model": "smollm2", "prompt": "The capital of France is", "max_tokens": 8, "temperature": 0},
    }
)
_CHAT_BODY = json_body(
    {
        "type": "object",
        "required": ["model", "messages"],
        "properties": {
            "model": {"type": "string"},
            "messages": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["role", "content"],
                    "properties": {"role": {"type": "string"}, "content": {"type": "string"}},
                },
            },
            "max_completion_tokens": {"type": "integer", "minimum": 1, "maximum": MAX_TOKENS_LIMIT},
            **_SAMPLING,
        },
        "example": {"model": "smollm2", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16},
    }
)


def _number(body: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    v = body.get(key)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise bad(f"{key!r} must be a number in {lo}..{hi}; got {short(v)}")
    return float(v)


def _whole(body: dict[str, Any], key: str) -> int | None:
    v = body.get(key)
    if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
        raise bad(f"{key!r} must be a whole number; got {short(v)}")
    return v


def _sampling(body: dict[str, Any], default_tokens: int) -> Sampling:
    max_tokens = _whole(body, "max_completion_tokens") or _whole(body, "max_tokens") or default_tokens
    if not 1 <= max_tokens <= MAX_TOKENS_LIMIT:
        raise bad(f"'max_tokens' must be in 1..{MAX_TOKENS_LIMIT}; got {max_tokens}")
    n = _whole(body, "n")
    if n not in (None, 1):
        raise bad(f"'n' must be 1 (one choice per request); got {n}. Send n requests instead")
    temperature = _number(body, "temperature", 1.0, 0.0, 2.0)
    top_p = _number(body, "top_p", 1.0, 1e-9, 1.0)
    seed = _whole(body, "seed")
    min_tokens = _whole(body, "min_tokens") or 0
    if not 0 <= min_tokens <= max_tokens:
        raise bad(f"'min_tokens' must be in 0..max_tokens ({max_tokens}); got {min_tokens}")
    seed_value = random.getrandbits(31) if seed is None else seed % (1 << 31)
    return Sampling(max_tokens, temperature, top_p, seed_value, min_tokens, seeded=seed is not None)


def _stops(body: dict[str, Any]) -> tuple[str, ...]:
    raw = body.get("stop")
    if raw is None:
        return ()
    stops = [raw] if isinstance(raw, str) else raw
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops) or len(stops) > MAX_STOPS:
        raise bad(f"'stop' must be a non-empty string or a list of at most {MAX_STOPS} of them; got {short(raw)}")
    return tuple(stops)


def _message_text(content: Any, n: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return "".join(str(p.get("text", "")) for p in content)
    raise bad(f"messages[{n}].content must be a string or a list of text parts; got {short(content)}")


def _messages(body: dict[str, Any]) -> list[dict[str, str]]:
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise bad('\'messages\' must be a non-empty list of {"role": ..., "content": ...}; got ' + short(raw))
    out = []
    for n, m in enumerate(raw):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise bad(f"messages[{n}] must be an object with a 'role' string and a 'content'; got {short(m)}")
        out.append({"role": m["role"], "content": _message_text(m.get("content"), n)})
    return out


def _prompt(body: dict[str, Any]) -> str:
    raw = body.get("prompt")
    if isinstance(raw, list) and len(raw) == 1:
        raw = raw[0]
    if not isinstance(raw, str) or not raw:
        raise bad(f"'prompt' must be a non-empty string (one prompt per request); got {short(raw)}")
    return raw


async def _body(request: Request) -> tuple[dict[str, Any], GeneratingModel]:
    body = await parse_json(request)
    if not isinstance(body, dict):
        raise bad('the body must be a JSON object with "model" and "prompt" (or "messages")')
    if not isinstance(body.get("model"), str):
        raise bad(f"'model' must be the name of a loaded model (a string); got {short(body.get('model'))}")
    return body, server_of(request).registry.generator(body["model"])


def _usage(stream: Stream) -> dict[str, int]:
    p, c = stream.prompt_tokens, stream.completion_tokens
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _sse(obj: Any) -> bytes:
    return b"data: " + dumps(obj) + b"\n\n"


class _Call:
    """One generation request, for both routes: what to send, and how each answer is shaped."""

    def __init__(self, chat: bool, model: GeneratingModel, stream: Stream, include_usage: bool) -> None:
        self.chat = chat
        self.model = model
        self.stream = stream
        self.include_usage = include_usage
        self.id = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]
        self.created = int(time.time())

    def head(self, obj: str) -> dict[str, Any]:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model.name}

    def chunk(self, text: str | None, finish: str | None) -> dict[str, Any]:
        if self.chat:
            delta: dict[str, Any] = {} if text is None else {"content": text}
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return {**self.head("chat.completion.chunk"), "choices": [choice]}
        choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
        return {**self.head("text_completion"), "choices": [choice]}

    async def _watch(self, request: Request) -> None:
        """A client that goes away before a whole answer is ready cancels it (Starlette tells only a stream)."""
        while not self.stream.closed:
            await asyncio.sleep(DISCONNECT_POLL_S)
            if await request.is_disconnected():
                self.stream.cancel()
                return

    async def events(self) -> AsyncIterator[bytes]:
        if self.chat:
            first = {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}
            yield _sse({**self.head("chat.completion.chunk"), "choices": [first]})
        try:
            async for c in self.stream:
                if c.text:
                    yield _sse(self.chunk(c.text, None))
                if c.finish:
                    yield _sse(self.chunk(None if self.chat else "", c.finish))
        except ServeError as e:
            yield _sse({"error": {"message": str(e), "type": "server_error", "param": None, "code": e.status}})
        if self.include_usage:
            yield _sse({**self.head("chat.completion.chunk" if self.chat else "text_completion"), "choices": [],
                        "usage": _usage(self.stream)})  # fmt: skip
        yield b"data: [DONE]\n\n"

    async def whole(self, request: Request) -> Response:
        watcher = asyncio.get_running_loop().create_task(self._watch(request))
        try:
            parts = [c.text async for c in self.stream]
        finally:
            watcher.cancel()
        text = "".join(parts)
        finish = self.stream.finish or "stop"
        if self.chat:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": finish,
            }
            return json_response({**self.head("chat.completion"), "choices": [choice], "usage": _usage(self.stream)})
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
        return json_response({**self.head("text_completion"), "choices": [choice], "usage": _usage(self.stream)})


async def _generate(request: Request, chat: bool) -> Response:
    server = server_of(request)
    route = "chat" if chat else "completions"
    try:
        body, m = await _body(request)
        model_name = m.name
        async with timed(server, model_name, route):
            sampling = _sampling(body, DEFAULT_CHAT_TOKENS if chat else DEFAULT_COMPLETION_TOKENS)
            stops = _stops(body)
            prompt = m.backend.chat_prompt(_messages(body)) if chat else _prompt(body)
            ids = m.backend.encode(prompt, special=not chat)
            stream = m.engine.submit(ids, sampling, stops, m.observer)
            opts = body.get("stream_options")
            call = _Call(chat, m, stream, isinstance(opts, dict) and opts.get("include_usage") is True)
            if body.get("stream") is True:
                return StreamingResponse(
                    call.events(),
                    media_type="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
                )
            return await call.whole(request)
    except ServeError as e:
        return openai_error(e)


async def completions(request: Request) -> Response:
    return await _generate(request, chat=False)


async def chat_completions(request: Request) -> Response:
    return await _generate(request, chat=True)


def add_routes(router: APIRouter) -> None:
    """Declare the two routes on the OpenAI protocol's router (``openai.py``)."""
    router.add_api_route(
        "/v1/completions",
        completions,
        methods=["POST"],
        summary="Complete a prompt (OpenAI-compatible; generative models)",
        openapi_extra=_COMPLETION_BODY,
        responses=answers(
            ok(ref("Completion"), "The completion (text/event-stream chunks with stream: true)"),
            400,
            404,
            429,
            503,
            error="OpenAIError",
        ),
    )
    router.add_api_route(
        "/v1/chat/completions",
        chat_completions,
        methods=["POST"],
        summary="Answer a conversation (OpenAI-compatible; the model's chat template is applied on the server)",
        openapi_extra=_CHAT_BODY,
        responses=answers(
            ok(ref("ChatCompletion"), "The answer (text/event-stream chunks with stream: true)"),
            400,
            404,
            429,
            503,
            error="OpenAIError",
        ),
    )
