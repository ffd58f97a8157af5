"""The serving engine on a built ORT GenAI variant (the session's build, shared with test_causal_lm): a client's
``seed`` repeats its sampled text beside the batched requests, and ``--timeout`` cancels a stream that waits too
long for a token (504), freeing its slot."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from lepton.errors import ServeError
from lepton.ir.artifact import Artifact
from lepton.serve.generation.backends import Backend, Sampling, open_backend
from lepton.serve.generation.engine import GenerationEngine
from lepton.serve.generation.layout import GenerationSettings, generative_model

Build = Callable[..., Artifact]
INT8 = ("genai-build", {"precision": "int8"})


def _finish(backend: Backend, rids: set[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {r: [] for r in rids}
    for _ in range(200):
        for p in backend.step():
            out[p.rid] += p.tokens
            if p.finish is not None:
                rids.discard(p.rid)
        if not rids:
            return out
    raise AssertionError(f"requests {sorted(rids)} did not finish")


@pytest.mark.slow
def test_a_seed_repeats_sampled_text_on_ort_genai(build: Build) -> None:
    spec = generative_model(build(INT8).path, "lm")
    assert spec.backend == "ort-genai"
    backend = open_backend(spec, GenerationSettings(max_streams=4))
    try:
        ids = backend.encode("Once upon a time", special=True)
        seeded = Sampling(max_tokens=8, temperature=1.0, seed=7, seeded=True)
        backend.add(1, ids, seeded)
        backend.add(2, ids, seeded)
        backend.add(3, ids, Sampling(max_tokens=8, temperature=1.0, seed=8, seeded=True))
        backend.add(4, ids, Sampling(max_tokens=8, temperature=0.0))  # greedy, on the batching engine meanwhile
        got = _finish(backend, {1, 2, 3, 4})
    finally:
        backend.close()
    assert len(got[1]) == 8 and got[1] == got[2] and got[3] != got[1]
    assert len(got[4]) == 8


@pytest.mark.slow
def test_timeout_cancels_a_stream_that_waits_too_long(build: Build) -> None:
    spec = generative_model(build(INT8).path, "lm")
    settings = GenerationSettings(max_streams=1, timeout_s=1e-4)
    engine = GenerationEngine(lambda: open_backend(spec, settings), settings, "lm")
    engine.start()

    async def ask() -> None:
        stream = engine.submit(engine.backend.encode("The capital of France is", special=True), Sampling(64, 0.0))
        with pytest.raises(ServeError, match=r"did not produce a first token within 0.0001 s \(--timeout\)") as e:
            async for _ in stream:
                pass
        assert e.value.status == 504 and engine.load == 0  # cancelled: its slot is free
        await engine.drain(5)

    asyncio.run(ask())
