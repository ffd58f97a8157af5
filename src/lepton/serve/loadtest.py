"""``lepton loadtest``: a fixed number of requests at a chosen concurrency; throughput, latency percentiles.

A Python client costs ~2 ms of CPU per request: on a small machine it competes with the server, so for
benchmarks use a compiled generator (``wrk``, see benchmarks/serve_bench.py); this one is for quick checks.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from lepton import wire
from lepton.errors import UserError
from lepton.ir.graph_ranges import ValueRange
from lepton.ir.signature import Signature, TensorSpec
from lepton.ir.synthesis import synthesize_from

PROTOCOLS = ("v2", "v2-binary", "simple", "embeddings")
_SENTENCES = [
    "A man is eating food.",
    "The new movie is awesome and everyone should see it.",
    "A woman is playing the violin on a street corner while people walk past.",
    "Hello!",
]


@dataclass(frozen=True)
class LoadSpec:
    url: str
    model: str | None = None
    requests: int = 500
    concurrency: int = 8
    protocol: str = "v2"
    seq_len: int = 128
    rows: int = 1
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise UserError(f"--protocol must be one of {', '.join(PROTOCOLS)}; got {self.protocol!r}")
        if not 1 <= self.requests <= 10_000_000 or not 1 <= self.concurrency <= 10_000:
            raise UserError("--requests must be >= 1 and --concurrency in 1..10000")
        if self.rows < 1 or self.seq_len < 1:
            raise UserError("--rows and --seq-len must be >= 1")


@dataclass
class LoadResult:
    requests: int
    concurrency: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)

    @property
    def throughput(self) -> float:
        ok = self.statuses.get("200", 0)
        return ok / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float | None:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else None

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 3),
            "throughput_per_s": round(self.throughput, 2),
            "p50_ms": self.percentile(50),
            "p95_ms": self.percentile(95),
            "p99_ms": self.percentile(99),
            "statuses": dict(self.statuses),
        }

    def summary(self) -> str:
        d = self.to_json()

        def ms(x: float | None) -> str:
            return "-" if x is None else f"{x:.1f}"

        codes = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        return (
            f"{self.requests} requests at concurrency {self.concurrency} in {d['seconds']} s: "
            f"{d['throughput_per_s']}/s ok; latency p50 {ms(d['p50_ms'])} ms, p95 {ms(d['p95_ms'])} ms, "
            f"p99 {ms(d['p99_ms'])} ms; statuses {codes}"
        )


def _signature(meta: dict[str, Any]) -> tuple[Signature, dict[str, ValueRange]]:
    """The model as its v2 metadata describes it: dim 0 of any size is the batch, other open dims the
    sequence; an input with ``parameters.index_rows`` indexes a table of that many rows."""
    specs, hints = [], {}
    for t in meta["inputs"]:
        dims = tuple(d if d >= 0 else ("batch" if i == 0 else "sequence") for i, d in enumerate(t["shape"]))
        specs.append(TensorSpec(t["name"], wire.V2_TO_NUMPY.get(t["datatype"], "float32"), dims))
        rows = (t.get("parameters") or {}).get("index_rows")
        if isinstance(rows, int) and rows > 0:
            why = f"indexes a table of {rows} rows (the server's metadata)"
            hints[t["name"]] = ValueRange("index", 0, rows - 1, why=why, rows=rows, lookup=True)
    return Signature(tuple(specs), ()), hints


def synthesize_inputs(meta: dict[str, Any], spec: LoadSpec) -> dict[str, np.ndarray]:
    """One request's inputs, made by the one synthesis (``ir.synthesis``) from the model's v2 metadata: ids
    inside the vocabulary the server declares, masks of ones, floats ~N(0, 1); ``spec.rows`` rows of
    ``spec.seq_len`` tokens. Text (BYTES) inputs get sample sentences."""
    signature, hints = _signature(meta)
    numeric = Signature(tuple(t for t in signature.inputs if t.dtype != "str"), ())
    made = synthesize_from(
        hints, numeric, text=False, rows=spec.rows, sequence=spec.seq_len, fill_unknown=spec.seq_len
    ).arrays
    out = {}
    for t in signature.inputs:
        if t.dtype == "str":
            shape = [spec.rows if d == "batch" else 1 if isinstance(d, str) else d for d in t.shape]
            n = int(np.prod(shape))
            out[t.name] = np.array([_SENTENCES[i % len(_SENTENCES)] for i in range(n)], dtype=object).reshape(shape)
        else:
            out[t.name] = made[t.name]
    return out


def build_payload(meta: dict[str, Any], spec: LoadSpec) -> tuple[str, bytes, dict[str, str]]:
    """(path, body, headers) for one request, synthesized from the model's v2 metadata."""
    from lepton.wire import dumps

    name = meta["name"]
    if spec.protocol == "embeddings":
        texts = [_SENTENCES[i % len(_SENTENCES)] for i in range(spec.rows)]
        return "/v1/embeddings", dumps({"model": name, "input": texts, "encoding_format": "float"}), {}
    arrays = synthesize_inputs(meta, spec)
    if spec.protocol == "simple":
        return f"/v1/models/{name}/predict", dumps({"inputs": {k: a.tolist() for k, a in arrays.items()}}), {}
    datatypes = {t["name"]: t["datatype"] for t in meta["inputs"]}
    binary = spec.protocol == "v2-binary" and "BYTES" not in datatypes.values()  # text has no binary form
    body, headers = wire.encode_request(arrays, binary=binary, binary_output=binary, datatypes=datatypes)
    return f"/v2/models/{name}/infer", body, headers


async def _run(spec: LoadSpec) -> LoadResult:
    limits = httpx.Limits(max_connections=spec.concurrency, max_keepalive_connections=spec.concurrency)
    async with httpx.AsyncClient(base_url=spec.url.rstrip("/"), timeout=spec.timeout_s, limits=limits) as client:
        model = spec.model
        if model is None:
            listed = (await client.get("/v1/models")).json()["data"]
            if len(listed) != 1:
                raise UserError(
                    f"--model: the server has {len(listed)} models ({', '.join(m['id'] for m in listed)}); name one"
                )
            model = listed[0]["id"]
        r = await client.get(f"/v2/models/{model}")
        if r.status_code != 200:
            raise UserError(f"{spec.url}: model {model!r}: {r.text}")
        path, body, headers = build_payload(r.json(), spec)
        result = LoadResult(spec.requests, spec.concurrency, 0.0)
        remaining = spec.requests

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                t0 = time.perf_counter()
                try:
                    resp = await client.post(path, content=body, headers=headers)
                    await resp.aread()
                    code = str(resp.status_code)
                except httpx.HTTPError as e:
                    code = type(e).__name__
                if code == "200":
                    result.latencies_ms.append((time.perf_counter() - t0) * 1000)
                result.statuses[code] += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(min(spec.concurrency, spec.requests))))
        result.seconds = time.perf_counter() - start
        return result


def run_loadtest(spec: LoadSpec) -> LoadResult:
    try:
        return asyncio.run(_run(spec))
    except httpx.ConnectError as e:
        raise UserError(f"cannot connect to {spec.url} ({e}); is `lepton serve` running there?") from None
