"""Prometheus metrics (``/metrics``) and the per-second history the dashboard draws."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from lepton.contract import Contract
from lepton.cost.model import usd_per_1m
from lepton.measure.drift import DriftReport
from lepton.measure.prediction import Prediction
from lepton.serve.policy import PolicyState

__all__ = ["CONTENT_TYPE_LATEST", "LivePoint", "Metrics", "TokenObserver"]

_LATENCY_BUCKETS = (
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.5,
    0.75,
    1,
    2,
    5,
    10,
)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
HISTORY = 600  # seconds of dashboard history


@dataclass
class _Second:
    """What happened during one second, for one model."""

    requests: int = 0
    rows: int = 0
    errors: int = 0
    rejected: int = 0
    batches: int = 0
    batch_rows: int = 0
    latencies: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)  # generative models: seconds to first token
    tpot: list[float] = field(default_factory=list)  # generative models: seconds per output token


def _ms(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(np.asarray(values) * 1000.0, q)), 3) if values else None


class LivePoint(Contract):
    """One finished second of one model, as ``/dashboard/data`` lists it. The figures the navigator also
    predicts carry the ``Prediction``'s names (``throughput_per_s``, ``usd_per_1m``); latencies are ms."""

    t: float  # Unix time the second closed
    throughput_per_s: float  # rows served
    rps: float  # requests answered
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    batch: float | None = None  # mean rows per batch
    queue: int = 0
    errors: int = 0
    rejected: int = 0
    usd_per_1m: float | None = None  # at this second's rate and the server's hourly price
    max_batch_size: int | None = None
    delay_ms: float | None = None
    fidelity: float | None = None
    # generative models: a row is an output token (throughput_per_s is tokens/s, usd_per_1m USD per 1M tokens)
    ttft_p50: float | None = None  # ms to first token
    ttft_p95: float | None = None
    tpot_p50: float | None = None  # ms per output token
    tpot_p95: float | None = None
    streams: int | None = None  # streams generating


class ModelStats:
    """Live figures of one model: the current second, and a history of finished seconds."""

    def __init__(self, usd_per_hour: float | None, predicted: Prediction) -> None:
        self.usd_per_hour = usd_per_hour
        self.predicted = predicted
        self.current = _Second()
        self.history: deque[LivePoint] = deque(maxlen=HISTORY)
        self.queue = 0
        self.state: PolicyState | None = None
        self.fidelity: float | None = None
        self.shadow_samples = 0
        self.totals = {"requests": 0, "errors": 0, "rejected": 0}
        self.streams: int | None = None  # generative models: streams generating now
        self.busy_s = 0.0  # session seconds since start, and the rows they ran (a variant's live $/1M)
        self.busy_rows = 0
        self.batch_seconds: deque[float] = deque(maxlen=1000)  # the last batches' session time (rollout guard)

    def roll(self, now: float, elapsed: float) -> LivePoint:
        s, self.current = self.current, _Second()
        lat = np.asarray(s.latencies) * 1000.0 if s.latencies else None
        rate = s.rows / elapsed if elapsed > 0 else 0.0
        cost = usd_per_1m(self.usd_per_hour, rate) if self.usd_per_hour and rate > 0 else None
        point = LivePoint(
            t=round(now, 3),
            throughput_per_s=round(rate, 2),
            rps=round(s.requests / elapsed, 2) if elapsed > 0 else 0.0,
            p50=None if lat is None else round(float(np.percentile(lat, 50)), 3),
            p95=None if lat is None else round(float(np.percentile(lat, 95)), 3),
            p99=None if lat is None else round(float(np.percentile(lat, 99)), 3),
            batch=round(s.batch_rows / s.batches, 2) if s.batches else None,
            queue=self.queue,
            errors=s.errors,
            rejected=s.rejected,
            usd_per_1m=None if cost is None else round(cost, 6),
            max_batch_size=self.state.max_batch_size if self.state else None,
            delay_ms=round(self.state.delay_s * 1000, 3) if self.state else None,
            fidelity=self.fidelity,
            ttft_p50=_ms(s.ttft, 50),
            ttft_p95=_ms(s.ttft, 95),
            tpot_p50=_ms(s.tpot, 50),
            tpot_p95=_ms(s.tpot, 95),
            streams=self.streams,
        )
        self.history.append(point)
        return point


class Metrics:
    """One registry per server (not the process-global one), so tests and reloads stay independent."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "lepton_requests",
            "Requests answered, by model, route and HTTP status",
            ["model", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "lepton_request_latency_seconds",
            "Request latency inside the server",
            ["model", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge("lepton_queue_depth", "Rows waiting in the model's queue", ["model"], registry=r)
        self.batch_size = Histogram(
            "lepton_batch_size",
            "Rows per batch run by the model",
            ["model"],
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.inference = Histogram(
            "lepton_inference_seconds",
            "Time of one batch in the session",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.rejected = Counter(
            "lepton_rejected", "Requests refused before inference, by reason", ["model", "reason"], registry=r
        )
        self.cost = Gauge(
            "lepton_cost_per_1m_usd",
            "USD per 1M inferences at the live rate (last second)",
            ["model"],
            registry=r,
        )
        self.predicted_cost = Gauge(
            "lepton_predicted_cost_per_1m_usd",
            "USD per 1M inferences the navigator predicted",
            ["model"],
            registry=r,
        )
        self.throughput = Gauge("lepton_throughput", "Rows per second served (last second)", ["model"], registry=r)
        self.cap = Gauge("lepton_batch_max_size_current", "Batch cap the batcher uses now", ["model"], registry=r)
        self.delay = Gauge(
            "lepton_batch_delay_seconds_current",
            "Wait for more rows the batcher uses now",
            ["model"],
            registry=r,
        )
        self.fidelity = Gauge(
            "lepton_shadow_fidelity",
            "Mean cosine of served vs reference outputs (shadow)",
            ["model"],
            registry=r,
        )
        self.max_abs = Gauge(
            "lepton_shadow_max_abs_error",
            "Max abs error of served vs reference (shadow)",
            ["model"],
            registry=r,
        )
        self.shadow = Counter(
            "lepton_shadow_samples", "Requests also run through the reference model", ["model"], registry=r
        )
        self.rollout_share = Gauge(
            "lepton_rollout_share", "Share of live requests the rollout's candidate answers", ["model"], registry=r
        )
        self.rollout_agreement = Gauge(
            "lepton_rollout_agreement",
            "Share of compared requests where the candidate agrees with the incumbent within --max-drop",
            ["model"],
            registry=r,
        )
        self.rollout_llr = Gauge(
            "lepton_rollout_llr",
            "The rollout test's log-likelihood ratio (bad vs good candidate)",
            ["model"],
            registry=r,
        )
        self.rollout_dropped = Counter(
            "lepton_rollout_shadow_dropped",
            "Shadow copies dropped because the rollout's off-path queue was full (not compared)",
            ["model"],
            registry=r,
        )
        self.info = Info("lepton_model", "The model served under a name", ["model"], registry=r)
        self.ttft = Histogram(
            "lepton_time_to_first_token_seconds",
            "Generative models: time from admission to the first output token",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.tpot = Histogram(
            "lepton_time_per_output_token_seconds",
            "Generative models: time between output tokens of one stream",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.prompt_tokens = Counter("lepton_prompt_tokens", "Generative models: prompt tokens", ["model"], registry=r)
        self.completion_tokens = Counter(
            "lepton_completion_tokens", "Generative models: output tokens generated", ["model"], registry=r
        )
        self.tokens_per_s = Gauge(
            "lepton_output_tokens_per_second", "Generative models: output tokens/s (last second)", ["model"], registry=r
        )
        self.streams = Gauge("lepton_active_streams", "Generative models: streams generating", ["model"], registry=r)
        self.waiting = Gauge(
            "lepton_waiting_streams", "Generative models: requests waiting for a stream", ["model"], registry=r
        )
        self.token_cost = Gauge(
            "lepton_cost_per_1m_output_tokens_usd",
            "Generative models: USD per 1M output tokens at the live rate (last second)",
            ["model"],
            registry=r,
        )
        self.predicted_token_cost = Gauge(
            "lepton_predicted_cost_per_1m_output_tokens_usd",
            "Generative models: USD per 1M output tokens the navigator predicted",
            ["model"],
            registry=r,
        )
        self.generative: set[str] = set()
        self.drift_psi = Gauge(
            "lepton_drift_psi", "Population stability index of a feature's live window vs the reference",
            ["model", "feature"], registry=r,
        )  # fmt: skip
        self.drift_ks = Gauge(
            "lepton_drift_ks_pvalue", "Two-sample KS p-value of a numeric feature's live window vs the reference",
            ["model", "feature"], registry=r,
        )  # fmt: skip
        self.drift_alert = Gauge(
            "lepton_drift_alert", "1 when a feature drifted beyond the alert threshold (PSI and KS)", ["model"],
            registry=r,
        )  # fmt: skip
        self.drift_rows = Gauge("lepton_drift_window_rows", "Live rows in the judged window", ["model"], registry=r)
        self.stats: dict[str, ModelStats] = {}
        self._last_roll = time.monotonic()
        self._children: dict[tuple[str, str], Any] = {}

    # -- registration ---------------------------------------------------------------------------
    def add_model(self, name: str, info: dict[str, str], usd_per_hour: float | None, predicted: Prediction) -> None:
        self.info.labels(name).info(info)
        if name in self.stats:  # a reload keeps the history
            self.stats[name].predicted = predicted
        else:
            self.stats[name] = ModelStats(usd_per_hour, predicted)
        if predicted.usd_per_1m is not None:
            self.predicted_cost.labels(name).set(predicted.usd_per_1m)

    def add_generator(
        self, name: str, info: dict[str, str], usd_per_hour: float | None, predicted: Prediction
    ) -> TokenObserver:
        """Register a generative model; its rows are output tokens. Returns what its streams report to."""
        self.add_model(name, info, usd_per_hour, predicted)
        self.generative.add(name)
        if predicted.usd_per_1m is not None:
            self.predicted_token_cost.labels(name).set(predicted.usd_per_1m)
        return TokenObserver(self, name)

    def observe_streams(self, model: str, active: int, waiting: int) -> None:
        self.streams.labels(model).set(active)
        self.waiting.labels(model).set(waiting)
        st = self.stats.get(model)
        if st is not None:
            st.streams = active
            st.queue = waiting

    # -- hot path -------------------------------------------------------------------------------
    def _latency(self, model: str, route: str) -> Any:
        key = (model, route)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.latency.labels(model, route)
        return child

    def observe_request(self, model: str, route: str, status: int, seconds: float, rows: int) -> None:
        if model not in self.stats:
            model = "_unknown"  # names come from URLs: keep label values bounded
        self.requests.labels(model, route, str(status)).inc()
        st = self.stats.get(model)
        if status < 400:
            self._latency(model, route).observe(seconds)
        if st is None:
            return
        cur = st.current
        cur.requests += 1
        st.totals["requests"] += 1
        if status < 400:
            cur.rows += rows
            if len(cur.latencies) < 20000:
                cur.latencies.append(seconds)
        elif status in (429, 503, 504):
            cur.rejected += 1
            st.totals["rejected"] += 1
        else:
            cur.errors += 1
            st.totals["errors"] += 1

    def observe_rejected(self, model: str, reason: str) -> None:
        if model not in self.stats:
            model = "_unknown"
        self.rejected.labels(model, reason).inc()

    def observe_queue(self, model: str, rows: int) -> None:
        st = self.stats.get(model)
        if st is not None:
            st.queue = rows

    def observer(self, model: str) -> _BatchObserver:
        return _BatchObserver(self, model)

    def observe_drift(self, report: DriftReport) -> None:
        for f in report.features:
            self.drift_psi.labels(report.model, f.name).set(f.psi)
            if f.p_value is not None:
                self.drift_ks.labels(report.model, f.name).set(f.p_value)
        self.drift_alert.labels(report.model).set(1.0 if report.alert else 0.0)
        self.drift_rows.labels(report.model).set(report.window_rows)

    def observe_shadow(self, model: str, cosine: float, max_abs: float) -> None:
        self.shadow.labels(model).inc()
        st = self.stats.get(model)
        if st is None:
            return
        st.shadow_samples += 1
        st.fidelity = cosine if st.fidelity is None else round(0.9 * st.fidelity + 0.1 * cosine, 6)
        self.fidelity.labels(model).set(st.fidelity)
        self.max_abs.labels(model).set(max_abs)

    def observe_rollout(self, model: str, share: float, agreement: float | None, llr: float) -> None:
        self.rollout_share.labels(model).set(share)
        if agreement is not None:
            self.rollout_agreement.labels(model).set(agreement)
        self.rollout_llr.labels(model).set(llr)

    def observe_rollout_dropped(self, model: str) -> None:
        self.rollout_dropped.labels(model).inc()

    # -- the clock tick -------------------------------------------------------------------------
    def roll(self) -> None:
        """Close the current second of every model (called once a second by the server)."""
        now = time.monotonic()
        elapsed, self._last_roll = now - self._last_roll, now
        wall = time.time()
        for name, st in self.stats.items():
            point = st.roll(wall, elapsed)
            self.throughput.labels(name).set(point.throughput_per_s)
            self.queue_depth.labels(name).set(st.queue)
            if point.usd_per_1m is not None:
                self.cost.labels(name).set(point.usd_per_1m)
            if name in self.generative:
                self.tokens_per_s.labels(name).set(point.throughput_per_s)
                if point.usd_per_1m is not None:
                    self.token_cost.labels(name).set(point.usd_per_1m)

    def expose(self) -> bytes:
        return generate_latest(self.registry)

    def history(self, since: float = 0.0) -> dict[str, Any]:
        return {
            name: {
                "points": [p.to_json() for p in st.history if p.t > since],
                "predicted": st.predicted.to_json(),
                "usd_per_hour": st.usd_per_hour,
                "totals": dict(st.totals),
                "shadow_samples": st.shadow_samples,
                "generative": name in self.generative,
            }
            for name, st in self.stats.items()
        }


class _BatchObserver:
    def __init__(self, metrics: Metrics, model: str) -> None:
        self.m = metrics
        self.model = model
        self.batch = metrics.batch_size.labels(model)
        self.inference = metrics.inference.labels(model)
        self.cap = metrics.cap.labels(model)
        self.delay = metrics.delay.labels(model)
        self.queue = metrics.queue_depth.labels(model)

    def on_batch(self, rows: int, seconds: float, queue_rows: int, state: PolicyState) -> None:
        self.batch.observe(rows)
        self.inference.observe(seconds)
        self.cap.set(state.max_batch_size)
        self.delay.set(state.delay_s)
        self.queue.set(queue_rows)
        st = self.m.stats.get(self.model)
        if st is not None:
            st.current.batches += 1
            st.current.batch_rows += rows
            st.busy_s += seconds
            st.busy_rows += rows
            st.batch_seconds.append(seconds)
            st.queue = queue_rows
            st.state = state


class TokenObserver:
    """A generative model's streams report here (on the event loop): TTFT, time per token, token counts."""

    def __init__(self, metrics: Metrics, model: str) -> None:
        self.m = metrics
        self.model = model
        self.ttft = metrics.ttft.labels(model)
        self.tpot = metrics.tpot.labels(model)
        self.prompt = metrics.prompt_tokens.labels(model)
        self.completion = metrics.completion_tokens.labels(model)

    def first_token(self, seconds: float) -> None:
        self.ttft.observe(seconds)
        st = self.m.stats.get(self.model)
        if st is not None and len(st.current.ttft) < 20000:
            st.current.ttft.append(seconds)

    def tokens(self, n: int, seconds_each: float | None) -> None:
        self.completion.inc(n)
        st = self.m.stats.get(self.model)
        if st is not None:
            st.current.rows += n
        if seconds_each is not None:
            for _ in range(min(n, 64)):
                self.tpot.observe(seconds_each)
            if st is not None and len(st.current.tpot) < 20000:
                st.current.tpot.extend([seconds_each] * min(n, 64))

    def finished(self, prompt_tokens: int, completion_tokens: int) -> None:
        self.prompt.inc(prompt_tokens)
