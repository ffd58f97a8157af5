"""``lepton replay NAME URL``: send a model's captured requests to a server at their recorded arrival times.

Each captured request goes out as it was served (its inputs, as Open Inference v2 binary tensors, so every
dtype and value is exact) at ``start + (arrival - first arrival) / speed``. Bounded: at most ``limit`` requests
(the newest captured), at most ``max_in_flight`` at once (a request due while that many wait is sent late, and
the lag is reported), each with ``timeout_s``.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass

import httpx
import numpy as np

from lepton import wire
from lepton.contract import Contract
from lepton.errors import UserError
from lepton.serve.capture import from_npz
from lepton.store import rollouts as stored
from lepton.store.store import Store


def parse_speed(text: str | float) -> float:
    """``2x``, ``0.5x`` or ``2`` -> 2.0 (how much faster than recorded)."""
    raw = str(text).strip().lower().rstrip("x")
    try:
        speed = float(raw)
    except ValueError:
        raise UserError(f"--speed: {text!r} is not a speed; write it like 2x (twice as fast) or 0.5x") from None
    if not 0 < speed <= 1000:
        raise UserError(f"--speed must be above 0x and at most 1000x; got {text!r}")
    return speed


@dataclass(frozen=True)
class ReplaySpec:
    model: str  # the captured model
    url: str
    target: str | None = None  # the served model to send to (default: ``model``)
    speed: float = 1.0
    limit: int = 10_000
    max_in_flight: int = 64
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.limit < 1 or self.max_in_flight < 1 or self.timeout_s <= 0:
            raise UserError("--limit and --max-in-flight must be >= 1 and --timeout positive")


class ReplayResult(Contract):
    model: str
    requests: int
    ok: int
    statuses: dict[str, int]
    recorded_s: float  # from the first captured arrival to the last
    seconds: float  # the replay's own duration
    p50_ms: float | None = None
    p95_ms: float | None = None
    max_lag_ms: float = 0.0  # the latest a request was sent after its due time

    def summary(self) -> str:
        lat = "-" if self.p50_ms is None else f"p50 {self.p50_ms:.1f} ms, p95 {self.p95_ms:.1f} ms"
        return (
            f"replayed {self.requests} requests of {self.model} (recorded over {self.recorded_s:.1f} s) in "
            f"{self.seconds:.1f} s: {self.ok} ok, statuses {dict(self.statuses)}; {lat}; "
            f"latest send {self.max_lag_ms:.1f} ms behind schedule"
        )


def replay(spec: ReplaySpec, store: Store | None = None) -> ReplayResult:
    return asyncio.run(_replay(spec, store or Store()))


async def _replay(spec: ReplaySpec, store: Store) -> ReplayResult:
    caps = stored.captures(store, spec.model, spec.limit)
    if not caps:
        raise UserError(
            f"lepton replay: nothing is captured for {spec.model!r}; serve it with --capture 1% first "
            f"(LEPTON_HOME {store.home})"
        )
    path = f"{spec.url.rstrip('/')}/v2/models/{spec.target or spec.model}/infer"
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    lag = 0.0
    gate = asyncio.Semaphore(spec.max_in_flight)

    async def send(client: httpx.AsyncClient, body: bytes, headers: dict[str, str]) -> None:
        t0 = time.perf_counter()
        try:
            r = await client.post(path, content=body, headers=headers)
            statuses[str(r.status_code)] += 1
            if r.status_code == 200:
                latencies.append((time.perf_counter() - t0) * 1000)
        except httpx.HTTPError as e:
            statuses[type(e).__name__] += 1
        finally:
            gate.release()

    limits = httpx.Limits(max_connections=spec.max_in_flight, max_keepalive_connections=spec.max_in_flight)
    async with httpx.AsyncClient(timeout=spec.timeout_s, limits=limits) as client:
        start = time.perf_counter()
        tasks = []
        for c in caps:
            body, headers = wire.encode_request(from_npz(c.inputs), binary=True)
            due = start + (c.t - caps[0].t) / spec.speed
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            await gate.acquire()
            lag = max(lag, time.perf_counter() - due)
            tasks.append(asyncio.create_task(send(client, body, headers)))
        await asyncio.gather(*tasks)
        seconds = time.perf_counter() - start
    return ReplayResult(
        model=spec.model,
        requests=len(caps),
        ok=statuses.get("200", 0),
        statuses=dict(statuses),
        recorded_s=round(caps[-1].t - caps[0].t, 3),
        seconds=round(seconds, 3),
        p50_ms=round(float(np.percentile(latencies, 50)), 3) if latencies else None,
        p95_ms=round(float(np.percentile(latencies, 95)), 3) if latencies else None,
        max_lag_ms=round(lag * 1000, 3),
    )
