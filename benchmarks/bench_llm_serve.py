"""Generative serving benchmark (issue #19, item 4): the continuous-batching engine in process vs the same engine
behind ``lepton serve`` (OpenAI completions, SSE streaming), at 1 and 16 concurrent streams.

Each stream asks for exactly ``--tokens`` output tokens (greedy, ``min_tokens`` = ``max_tokens``) from one prompt.
Rounds interleave the sides (in-process 1, served 1, in-process 16, served 16), so load from elsewhere hits both
alike; each point is timed as one block watched by ``measure.interference`` and flagged when others used the CPU.

Figures: aggregate output tokens/s, p95 time per output token (gaps between a stream's tokens), p50 time to first
token; ratios in one run: 16 streams vs 1 (goal >= 5x) and served vs in process at the same concurrency (goal >= 0.9).

    .venv/bin/python benchmarks/bench_llm_serve.py                 # results/llm_serve.json + BENCHMARKS.md section
    .venv/bin/python benchmarks/bench_llm_serve.py --small --out /tmp/llm_serve.json   # a quick check
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write_result  # noqa: E402

from lepton.measure.interference import Watch  # noqa: E402

PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def summarize(tokens: int, seconds: float, gaps: list[float], ttfts: list[float]) -> dict[str, Any]:
    return {
        "tokens": tokens,
        "seconds": round(seconds, 3),
        "tokens_per_s": round(tokens / seconds, 2),
        "tpot_p95_ms": round(float(np.percentile(gaps, 95)) * 1000, 2) if gaps else None,
        "tpot_p50_ms": round(float(np.percentile(gaps, 50)) * 1000, 2) if gaps else None,
        "ttft_p50_ms": round(float(np.percentile(ttfts, 50)) * 1000, 2) if ttfts else None,
    }


async def in_process(engine: Any, prompt_ids: list[int], streams: int, tokens: int) -> dict[str, Any]:
    """``streams`` requests on the engine the server uses, read as the server reads them."""
    from lepton.serve.generation.backends import Sampling

    sampling = Sampling(max_tokens=tokens, temperature=0.0, min_tokens=tokens)

    async def one() -> tuple[int, list[float], float]:
        t0 = time.perf_counter()
        stream = engine.submit(prompt_ids, sampling)
        last, gaps, ttft = None, [], 0.0
        async for chunk in stream:
            now = time.perf_counter()
            if chunk.tokens:
                if last is None:
                    ttft = now - t0
                else:
                    gaps.extend([(now - last) / chunk.tokens] * chunk.tokens)
                last = now
        return stream.completion_tokens, gaps, ttft

    t = time.perf_counter()
    results = await asyncio.gather(*(one() for _ in range(streams)))
    seconds = time.perf_counter() - t
    return summarize(sum(r[0] for r in results), seconds, [g for r in results for g in r[1]], [r[2] for r in results])


async def served(url: str, model: str, streams: int, tokens: int) -> dict[str, Any]:
    """``streams`` SSE completions at once through httpx; tokens counted from the usage chunk."""
    import httpx

    body = {
        "model": model,
        "prompt": PROMPT,
        "max_tokens": tokens,
        "min_tokens": tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    async def one(client: httpx.AsyncClient) -> tuple[int, list[float], float]:
        t0 = time.perf_counter()
        last, gaps, ttft, count = None, [], 0.0, 0
        async with client.stream("POST", f"{url}/v1/completions", json=body) as r:
            r.raise_for_status()
            async for line in r.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                now = time.perf_counter()
                if chunk.get("usage"):
                    count = chunk["usage"]["completion_tokens"]
                elif chunk["choices"] and chunk["choices"][0]["text"]:
                    if last is None:
                        ttft = now - t0
                    else:
                        gaps.append(now - last)
                    last = now
        return count, gaps, ttft

    limits = httpx.Limits(max_connections=streams + 4)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        t = time.perf_counter()
        results = await asyncio.gather(*(one(client) for _ in range(streams)))
        seconds = time.perf_counter() - t
    return summarize(sum(r[0] for r in results), seconds, [g for r in results for g in r[1]], [r[2] for r in results])


def start_server(path: Path, port: int, max_streams: int, home: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LEPTON_HOME": home, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "lepton", "serve", f"bench={path}", "--port", str(port)]
    cmd += ["--max-streams", str(max_streams), "--log-level", "warning"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


def merge(points: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one point: summed tokens and seconds; the median of the per-round percentiles."""
    tokens = sum(p["tokens"] for p in points)
    seconds = sum(p["seconds"] for p in points)

    def med(k: str) -> float | None:
        vals = [p[k] for p in points if p[k] is not None]
        return round(float(np.median(vals)), 2) if vals else None

    return {
        "tokens": tokens,
        "seconds": round(seconds, 3),
        "tokens_per_s": round(tokens / seconds, 2),
        "tpot_p95_ms": med("tpot_p95_ms"),
        "tpot_p50_ms": med("tpot_p50_ms"),
        "ttft_p50_ms": med("ttft_p50_ms"),
        "rounds": points,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import tempfile

    from lepton.serve.config import ServeConfig
    from lepton.serve.generation import generative_model
    from lepton.serve.generation.served import open_generator

    path = Path(args.model) if args.model else None
    if path is None:
        from lepton.examples.wheels import smollm2_gguf

        path = smollm2_gguf()
    top = max(args.streams)
    model = open_generator(str(path), generative_model(path, "bench"), ServeConfig(max_streams=top), None)
    prompt_ids = model.backend.encode(PROMPT, special=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    home = tempfile.mkdtemp(prefix="lepton-bench-llm-")
    proc = start_server(path, port, top, home)
    points: dict[str, list[dict[str, Any]]] = {}
    watch = Watch()
    try:
        wait_ready(url, proc)
        await served(url, "bench", 1, 4)  # warm the client and the server
        await in_process(model.engine, prompt_ids, 1, 4)
        for r in range(args.rounds):
            for n in args.streams:
                for side in ("in_process", "served"):
                    watch.start_block()
                    if side == "in_process":
                        point = await in_process(model.engine, prompt_ids, n, args.tokens)
                    else:
                        point = await served(url, "bench", n, args.tokens)
                    point["disturbed"] = watch.end_block()
                    points.setdefault(f"{side}@{n}", []).append(point)
                    print(f"round {r + 1} {side} {n} streams: {point}", flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        await model.engine.drain(10)
    merged = {k: merge(v) for k, v in points.items()}
    lo, hi = min(args.streams), max(args.streams)

    def rate(side: str, n: int) -> float:
        return float(merged[f"{side}@{n}"]["tokens_per_s"])

    ratios = {
        f"in_process_{hi}_vs_{lo}": round(rate("in_process", hi) / rate("in_process", lo), 3),
        f"served_{hi}_vs_{lo}": round(rate("served", hi) / rate("served", lo), 3),
        **{f"served_vs_in_process@{n}": round(rate("served", n) / rate("in_process", n), 3) for n in args.streams},
    }
    disturbance = watch.disturbance()
    return {
        "model": str(path),
        "backend": model.backend.name,
        "tokens_per_stream": args.tokens,
        "rounds": args.rounds,
        "points": merged,
        "ratios": ratios,
        "goals": {
            "aggregate_16_vs_1_at_least_5x": ratios.get(f"in_process_{hi}_vs_{lo}", 0) >= 5,
            "served_at_least_0.9_of_in_process": all(ratios[f"served_vs_in_process@{n}"] >= 0.9 for n in args.streams),
        },
        "disturbed": disturbance is not None,
        "disturbance": disturbance.text if disturbance is not None else None,
    }


def markdown(res: dict[str, Any]) -> str:
    lines = [
        "## Generative serving (continuous batching, in process vs served)",
        "",
        f"{res['backend']} on `{Path(res['model']).name}`, {res['tokens_per_stream']} output tokens per stream, "
        f"greedy, {res['rounds']} interleaved rounds." + (f" **{res['disturbance']}**" if res["disturbed"] else ""),
        "",
        "| point | tokens/s | p95 ms/token | p50 ms to first token |",
        "|---|---:|---:|---:|",
    ]
    for k, p in res["points"].items():
        lines.append(f"| {k} | {p['tokens_per_s']} | {p['tpot_p95_ms']} | {p['ttft_p50_ms']} |")
    lines += ["", "Ratios (one run): " + ", ".join(f"{k} {v}x" for k, v in res["ratios"].items())]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a GGUF file or generative model folder (default: the SmolLM2 GGUF)")
    ap.add_argument("--streams", default="1,16", help="concurrent streams to measure, e.g. 1,16")
    ap.add_argument("--tokens", type=int, default=64, help="output tokens per stream")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--small", action="store_true", help="a quick check: 16 tokens, one round")
    ap.add_argument("--out", help="write the JSON here instead of results/llm_serve.json and BENCHMARKS.md")
    args = ap.parse_args()
    args.streams = sorted({int(s) for s in args.streams.split(",")})
    if args.small:
        args.tokens, args.rounds = 16, 1
    res = asyncio.run(run(args))
    print(json.dumps({k: v for k, v in res.items() if k != "points"}, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    else:
        write_result("llm_serve", res, markdown(res))


if __name__ == "__main__":
    main()
