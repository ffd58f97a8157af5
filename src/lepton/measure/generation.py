"""Generation figures of a causal-LM session: time to first token by prompt length, time per output token,
decode / end-to-end / prefill tokens/s, and their price per 1M output and input tokens.

Every call is timed through ``measure.timing`` (warm-up, blocks watched for interference): a time to first token is
the latency of a one-token generation; a decode run generates ``new_tokens`` greedily from the shortest prompt, and
the gaps between its tokens are the time per output token (flagged when its runs were disturbed). Where the engine
batches, ``streams`` concurrent streams (OpenVINO GenAI's continuous batching; ORT GenAI's static batch) give the
aggregate output tokens/s and the time per output token within a stream under that load (its p95 is what a user
of a busy replica sees). Prices follow the one cost rule (``cost.model.usd_per_1m``): the serving capacity (the best
of one stream and the streams together) for output tokens, prefill tokens/s for input tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from lepton.contract import Contract
from lepton.cost.catalog import PricePoint
from lepton.cost.model import usd_per_1m
from lepton.engines.generation import GenerationSession
from lepton.measure.interference import Disturbance
from lepton.measure.timing import Latency, LatencyStats, TimingPlan, measure_latency

PROMPT_LENGTHS = (32, 128)
NEW_TOKENS = 32
STREAMS = 16
STREAM_TOKENS = 16


@dataclass(frozen=True)
class GenerationPlan:
    """What a generation measurement runs: prompt lengths, tokens per decode run, and how long each timing lasts."""

    prompt_lengths: tuple[int, ...] = PROMPT_LENGTHS
    new_tokens: int = NEW_TOKENS
    streams: int = STREAMS  # concurrent streams where the engine batches (1: single stream only)
    stream_tokens: int = STREAM_TOKENS  # output tokens per stream in a concurrent run
    timing: TimingPlan = field(
        default_factory=lambda: TimingPlan(
            warmup=1, min_runs=3, min_seconds=0.5, max_runs=20, max_seconds=4.0, block_seconds=0.15
        )
    )
    streams_timing: TimingPlan = field(  # a concurrent run lasts seconds: two runs, one where a run takes > 4 s
        default_factory=lambda: TimingPlan(
            warmup=1, min_runs=2, min_seconds=0.0, max_runs=2, max_seconds=4.0, block_seconds=0.0
        )
    )


class PromptLatency(Contract):
    """Time to first token at one prompt length."""

    prompt_tokens: int
    ttft_ms: Latency


class GenerationFigures(Contract):
    """How a causal-LM configuration generates: the figures its trial carries (``Trial.generation``)."""

    new_tokens: int  # tokens per decode run
    ttft: tuple[PromptLatency, ...]
    tpot_ms: Latency  # time per output token after the first
    decode_tokens_per_s: float
    e2e_tokens_per_s: float  # new tokens over the whole call, first token included (shortest prompt)
    prefill_tokens_per_s: float  # prompt tokens over the time to first token (longest prompt)
    usd_per_1m_output: float  # at the serving capacity: the best of one stream and ``streams`` together
    usd_per_1m_input: float
    streams: int = 1  # sequences decoded together for ``streams_tokens_per_s`` (1: the engine does not batch)
    streams_tokens_per_s: float | None = None  # aggregate output tokens/s of ``streams`` sequences at once
    streams_tpot_ms: Latency | None = None  # time per output token within a stream while ``streams`` run together
    disturbed: Disturbance | None = None

    @property
    def capacity_tokens_per_s(self) -> float:
        """Output tokens/s one replica serves: the best of one stream and several decoded together."""
        return max(self.decode_tokens_per_s, self.streams_tokens_per_s or 0.0)

    def load_at(self, streams: int) -> float:
        """Output tokens/s that ``streams`` concurrent streams ask of replicas, each stream at the rate it had when
        this replica's capacity was measured (``streams`` together, or alone where one stream was the best)."""
        together = self.streams_tokens_per_s is not None and self.streams_tokens_per_s >= self.decode_tokens_per_s
        return streams * self.capacity_tokens_per_s / (self.streams if together else 1)

    def ttft_at(self, prompt_tokens: int) -> Latency | None:
        for p in self.ttft:
            if p.prompt_tokens == prompt_tokens:
                return p.ttft_ms
        return None


def prompt_of(length: int, source: Sequence[int]) -> list[int]:
    """A prompt of ``length`` tokens cut from ``source`` (repeated when it is shorter)."""
    reps = -(-length // max(1, len(source)))
    return (list(source) * reps)[:length]


def measure_generation(
    session: GenerationSession, source: Sequence[int], price: PricePoint, plan: GenerationPlan | None = None
) -> GenerationFigures:
    """Time ``session`` on prompts cut from ``source`` and price its tokens/s on ``price``'s machine."""
    plan = plan or GenerationPlan()
    one: list[Mapping[str, np.ndarray]] = [{}]  # measure_latency cycles over inputs; the prompt is bound in the closure
    ttft: list[PromptLatency] = []
    flags: list[Disturbance] = []
    for length in plan.prompt_lengths:
        prompt = prompt_of(length, source)
        stats = measure_latency(lambda _f, p=prompt: session.generate(p, 1), one, plan.timing)  # type: ignore[misc]
        ttft.append(PromptLatency(prompt_tokens=length, ttft_ms=stats.summary()))
        if stats.disturbance is not None:
            flags.append(stats.disturbance)
    gaps: list[float] = []
    short = prompt_of(min(plan.prompt_lengths), source)

    def decode(_feeds: Mapping[str, np.ndarray]) -> None:
        g = session.generate(short, plan.new_tokens)
        gaps.extend((b - a) * 1000.0 for a, b in zip(g.times, g.times[1:], strict=False))

    calls = measure_latency(decode, one, plan.timing)
    if calls.disturbance is not None:
        flags.append(calls.disturbance)
    kept = gaps[-(calls.n * (plan.new_tokens - 1)) :]  # the timed runs' gaps, warm-up left out
    tpot = LatencyStats(tuple(kept), 1, calls.warmup_runs, calls.dropped_runs, calls.disturbance)
    decode_tps = 1000.0 / tpot.mean_ms
    streams_tps, streams_tpot = None, None
    if plan.streams > 1 and session.batches:
        streams_tps, streams_tpot = _concurrent(session, short, source, plan, flags)
    capacity = max(decode_tps, streams_tps or 0.0)
    longest = ttft[-1]
    prefill_tps = longest.prompt_tokens * 1000.0 / longest.ttft_ms.mean
    return GenerationFigures(
        new_tokens=plan.new_tokens,
        ttft=tuple(ttft),
        tpot_ms=tpot.summary(),
        decode_tokens_per_s=round(decode_tps, 3),
        e2e_tokens_per_s=round(plan.new_tokens * 1000.0 / calls.mean_ms, 3),
        prefill_tokens_per_s=round(prefill_tps, 3),
        usd_per_1m_output=float(f"{usd_per_1m(price.usd_per_hour, capacity):.6g}"),
        usd_per_1m_input=float(f"{usd_per_1m(price.usd_per_hour, prefill_tps):.6g}"),
        streams=plan.streams if streams_tps is not None else 1,
        streams_tokens_per_s=streams_tps,
        streams_tpot_ms=streams_tpot,
        disturbed=Disturbance.merge(flags),
    )


def _concurrent(
    session: GenerationSession,
    short: Sequence[int],
    source: Sequence[int],
    plan: GenerationPlan,
    flags: list[Disturbance],
) -> tuple[float, Latency]:
    """``plan.streams`` prompts (distinct, of one length) generated as concurrent streams: the aggregate output
    tokens/s over the whole call (prefill included) and the gaps between each stream's tokens."""
    one: list[Mapping[str, np.ndarray]] = [{}]
    prompts = [prompt_of(len(short), source[i:]) for i in range(plan.streams)]
    gaps: list[list[float]] = []

    def run(_feeds: Mapping[str, np.ndarray]) -> None:
        out = session.generate_streams(prompts, plan.stream_tokens)
        gaps.append([(b - a) * 1000.0 for g in out for a, b in zip(g.times, g.times[1:], strict=False)])

    calls = measure_latency(run, one, plan.streams_timing)
    if calls.disturbance is not None:
        flags.append(calls.disturbance)
    kept = [g for run_gaps in gaps[-calls.n :] for g in run_gaps]  # the timed runs', warm-up left out
    tpot = LatencyStats(tuple(kept), 1, calls.warmup_runs, calls.dropped_runs, calls.disturbance)
    return round(plan.streams * plan.stream_tokens * 1000.0 / calls.mean_ms, 3), tpot.summary()
