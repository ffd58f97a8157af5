"""OpenAI-compatible embeddings: ``POST /v1/embeddings`` takes text and tokenizes it on the server
(cut at the model's token limit, as ``SentenceTransformer.encode`` does).

Texts are sorted by length and cut into chunks of at most the batch cap, so a long list pads little; the
Batcher then merges chunks of concurrent requests (padding where the model masks it). Completions and chat
completions for generative models (``openai_generate``) are routes of this protocol too.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from starlette.responses import Response

from lepton.errors import ServeError
from lepton.ir import text
from lepton.serve.limits import json_response, parse_json
from lepton.serve.models import ServedModel
from lepton.serve.openapi import INFER_ERRORS, answers, ok, ref
from lepton.serve.protocols import openai_generate as generate
from lepton.serve.protocols.common import json_body, openai_error, server_of, timed
from lepton.serve.protocols.spec import PROTOCOLS, Protocol
from lepton.serve.validate import bad, short

router = APIRouter(tags=["OpenAI-compatible"])

_SCHEMAS: dict[str, dict[str, Any]] = {
    "OpenAIError": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type", "code"],
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string", "enum": ["invalid_request_error", "server_error"]},
                    "param": {"type": ["string", "null"]},
                    "code": {"type": "integer"},
                },
            }
        },
    },
    "Embeddings": {
        "type": "object",
        "required": ["object", "data", "model", "usage"],
        "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["object", "index", "embedding"],
                    "properties": {
                        "object": {"type": "string", "enum": ["embedding"]},
                        "index": {"type": "integer"},
                        "embedding": {
                            "oneOf": [
                                {"type": "array", "items": {"type": "number"}},
                                {"type": "string", "description": "base64 of little-endian float32"},
                            ]
                        },
                    },
                },
            },
            "model": {"type": "string"},
            "usage": {
                "type": "object",
                "required": ["prompt_tokens", "total_tokens"],
                "properties": {"prompt_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"}},
            },
        },
    },
    "ModelList": {
        "type": "object",
        "required": ["object", "data"],
        "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "object", "created", "owned_by"],
                    "properties": {
                        "id": {"type": "string"},
                        "object": {"type": "string", "enum": ["model"]},
                        "created": {"type": "integer"},
                        "owned_by": {"type": "string"},
                        "version": {"type": "string"},
                        "task": {"type": "string"},
                    },
                },
            },
        },
    },
}

_BODY = json_body(
    {
        "type": "object",
        "required": ["input", "model"],
        "properties": {
            "input": {
                "description": "a text, texts, or token ids (one list, or one list per text); texts are cut at "
                "the model's token limit, token-id lists may not exceed it",
                "oneOf": [
                    {"type": "string", "minLength": 1},
                    {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
                    {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}},
                    {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}},
                    },
                ],
            },
            "model": {"type": "string"},
            "encoding_format": {"type": "string", "enum": ["float", "base64"]},
            "dimensions": {"type": "integer", "minimum": 1, "description": "at most the model's embedding size"},
        },
        "example": {"model": "minilm", "input": ["A man is eating food."]},
    }
)


def _is_id(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_ids(m: ServedModel, lists: list[list[int]]) -> None:
    """Token-id lists must fit the model: at most its token limit, ids inside its vocabulary."""
    vocab = m.index_bounds.get("input_ids")
    for n, ids in enumerate(lists):
        if m.max_tokens is not None and len(ids) > m.max_tokens:
            raise bad(
                f"'input' item {n} has {len(ids)} token ids; model {m.name!r} takes at most {m.max_tokens}. "
                f"Send fewer, or send the text (the server cuts it at {m.max_tokens} tokens)"
            )
        worst = min(ids) if min(ids) < 0 else max(ids)
        if worst < 0 or (vocab is not None and worst >= vocab):
            span = f"0..{vocab - 1}" if vocab is not None else "0 and up"
            raise bad(f"'input' item {n} has token id {worst}; model {m.name!r} takes ids in {span}")


def _token_lists(m: ServedModel, raw: Any, max_texts: int) -> list[list[int]]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise bad("'input' must be a string, a list of strings, or a list of token-id lists; got none")
    if len(raw) > max_texts:
        raise bad(f"'input' has {len(raw)} items; the limit is {max_texts} per request (--max-texts)")
    if all(_is_id(x) for x in raw):
        raw = [raw]
    if all(isinstance(x, list) and x and all(_is_id(i) for i in x) for x in raw):
        _check_ids(m, raw)
        return raw  # type: ignore[no-any-return]
    if not all(isinstance(x, str) for x in raw):
        raise bad("'input' must be all strings or all token-id lists (of whole numbers, none empty)")
    if any(not x for x in raw):
        raise bad("'input' has an empty string; embeddings need at least one character")
    if m.tokenizer is None:
        raise bad(f"model {m.name!r} has no tokenizer; send token ids, or use /v2/models/{m.name}/infer")
    encodings = m.tokenizer.encode_batch(raw)
    return [e.ids for e in encodings]


Chunk = tuple[list[int], dict[str, np.ndarray], np.ndarray]  # text indices, the model's feeds, the mask


def _chunk_feeds(m: ServedModel, ids: list[list[int]], chunk: int) -> list[Chunk]:
    """Sorted-by-length chunks of at most ``chunk`` texts, each padded (``ir.text.pad``) to its longest text."""
    names = m.signature.input_names
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = []
    for s in range(0, len(order), chunk):
        idx = order[s : s + chunk]
        feeds = text.pad([ids[i] for i in idx], pad_with=m.pad_id)
        out.append((idx, {k: v for k, v in feeds.items() if k in names}, feeds["attention_mask"]))
    return out


@router.post(
    "/v1/embeddings",
    summary="Embeddings of text (OpenAI-compatible)",
    openapi_extra=_BODY,
    responses=answers(ok(ref("Embeddings"), "One embedding per input, in order"), *INFER_ERRORS, error="OpenAIError"),
)
async def embeddings(request: Request) -> Response:
    server = server_of(request)
    try:
        body = await parse_json(request)
        if not isinstance(body, dict):
            raise bad('the body must be {"model": NAME, "input": TEXT or [TEXTS]}')
        if not isinstance(body.get("model"), str):
            raise bad(f"'model' must be the name of a loaded model (a string); got {short(body.get('model'))}")
        model_name = body["model"]
        async with timed(server, model_name, "openai") as t:
            m = server.registry.get(model_name)
            if m.signature.input_names and "input_ids" not in m.signature.input_names:
                raise bad(f"model {m.name!r} does not take token ids (input_ids); it is not a text embedding model")
            fmt = body.get("encoding_format", "float")
            if fmt not in ("float", "base64"):
                raise bad(f"encoding_format must be 'float' or 'base64'; got {short(fmt)}")
            dims = body.get("dimensions")
            if dims is not None and (not _is_id(dims) or dims < 1):
                raise bad(f"dimensions must be a whole number >= 1; got {short(dims)}")
            raw = body.get("input")
            if isinstance(raw, list) and len(raw) > 16:
                ids = await asyncio.to_thread(_token_lists, m, raw, server.cfg.max_texts)
            else:
                ids = _token_lists(m, raw, server.cfg.max_texts)
            out_name = m.embedding_output()
            chunks = _chunk_feeds(m, ids, max(1, m.max_rows))
            t.rows = len(ids)
            results = await asyncio.gather(*(m.infer(f, len(idx), server.cfg.timeout_s) for idx, f, _ in chunks))
            vectors: list[np.ndarray] = [np.empty(0)] * len(ids)
            for (idx, _, mask), outs in zip(chunks, results, strict=True):
                pooled = text.mean_pool(outs[out_name], mask)
                for r, i in enumerate(idx):
                    vectors[i] = pooled[r]
            if dims is not None:
                if dims > vectors[0].shape[0]:
                    raise bad(f"dimensions must be in 1..{vectors[0].shape[0]}; got {dims!r}")
                vectors = [v[:dims] / max(float(np.linalg.norm(v[:dims])), 1e-12) for v in vectors]
            data = []
            for i, v in enumerate(vectors):
                v32 = np.ascontiguousarray(v, dtype="<f4")
                emb: Any = base64.b64encode(v32.tobytes()).decode() if fmt == "base64" else v32
                data.append({"object": "embedding", "index": i, "embedding": emb})
            tokens = sum(len(x) for x in ids)
            return json_response(
                {
                    "object": "list",
                    "data": data,
                    "model": m.name,
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                }
            )
    except ServeError as e:
        return openai_error(e)


@router.get(
    "/v1/models",
    summary="Loaded models (OpenAI-compatible list)",
    responses=answers(ok(ref("ModelList"), "The models")),
)
async def list_models(request: Request) -> Response:
    server = server_of(request)
    data = [
        {
            "id": m.name,
            "object": "model",
            "created": int(m.loaded_at),
            "owned_by": "lepton",
            "version": m.version,
            "task": m.resolved.artifact.task,
        }
        for m in server.registry.models.values()
    ]
    data += [
        {
            "id": g.name,
            "object": "model",
            "created": int(g.loaded_at),
            "owned_by": "lepton",
            "version": g.version,
            "task": "text-generation",
        }
        for g in server.registry.generators.values()
    ]
    return json_response({"object": "list", "data": data})


generate.add_routes(router)  # completions and chat completions, for generative models


@PROTOCOLS.register("openai")
class OpenAiEmbeddings(Protocol):
    """OpenAI-compatible embeddings for embedding models, completions and chat completions (streaming) for generative
    models, and the model list their clients ask for."""

    router = router
    hot = (embeddings, generate.completions, generate.chat_completions)
    schemas = {**_SCHEMAS, **generate.SCHEMAS}
    listed = ("/v1/embeddings", *generate.LISTED)
    rank = 30
