"""The server's settings: one frozen object, validated when built (flags, then ``LEPTON_TOKEN``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from lepton.constraints import POSITIVE, POSITIVE_INT, SECONDS, Constraint, Interval, check_constraints
from lepton.errors import UserError
from lepton.serve.generation.layout import GenerationSettings
from lepton.serve.rollout_state import RolloutPlan
from lepton.slo import Slo, parse_slo  # the one SLO grammar, shared with lepton optimize

SERVE_CONSTRAINTS: dict[str, Constraint] = {
    "workers": POSITIVE_INT,
    "port": Interval(0, 65535, integer=True, note="0: any free port"),
    "max_batch_size": Interval(1, 4096, integer=True),
    "max_delay_ms": Interval(0, 10_000),
    "instances": Interval(1, 64, integer=True),
    "max_queue": POSITIVE_INT,
    "timeout_s": SECONDS,
    "max_body_bytes": Interval(1024, None, integer=True),
    "shadow_rate": Interval(0, 1, note="a fraction of requests"),
    "price_per_hour": Interval(0, None, closed="neither", note="USD per hour"),
    "graceful_timeout_s": Interval(0, None),
    "drift_window": Interval(20, None, integer=True, note="rows"),
    "capture_rate": Interval(0, 1, note="a share of requests like 1% or 0.01"),
    "capture_max_rows": POSITIVE_INT,
    "capture_max_mb": POSITIVE,
    "max_connections": POSITIVE_INT,
    "keep_alive_s": Interval(1, 3600, note="seconds"),
}
SERVE_FLAGS = {"timeout_s": "--timeout", "capture_rate": "--capture", "keep_alive_s": "--keep-alive"}


@dataclass(frozen=True)
class ServeConfig:
    """Everything ``lepton serve`` can be told. ``None`` means "what the navigator chose, else a default"."""

    models: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    engine: str | None = None  # None: the engine the model's trial chose (resolve.ResolvedModel.engine)
    max_batch_size: int | None = None  # None: the navigator's batch size, else 32
    max_delay_ms: float | None = None  # None: no fixed window (dispatch when the session is free)
    slo: Slo | None = None  # adaptive batching towards this latency target (its @N caps batches at N rows)
    instances: int | None = None  # sessions per model run side by side (None: auto, see models.lane_count)
    max_queue: int = 256  # queued rows per model before answering 429
    max_connections: int = 2048  # open connections or requests in flight before answering 503 at once
    keep_alive_s: float = 75.0  # idle keep-alive; longer than client pool expiries (see serve/connections.py)
    timeout_s: float = 30.0  # per request, queue wait included
    max_body_bytes: int = 16 * 1024 * 1024
    max_texts: int = 2048  # per /v1/embeddings request
    shadow_rate: float = 0.0
    drift: bool = False  # watch live inputs and outputs against the model's evaluation data (serve/drift.py)
    drift_data: str | None = None  # the reference data file (default: what the model's store entry holds)
    drift_window: int = 500  # live rows per judged window
    token: str | None = None
    price_per_hour: float | None = None
    instance: str | None = None
    graceful_timeout_s: float = 30.0
    log_level: str = "warning"
    max_streams: int = 16  # generative models: sequences generated at once (continuous batching)
    stream_queue: int = 64  # generative models: requests waiting for a free stream before answering 429
    kv_cache_gb: float = 1.0  # generative models: KV cache size
    rollout: RolloutPlan | None = None  # --candidate and its test (serve.rollout)
    capture_rate: float = 0.0  # --capture: share of requests kept in the store (serve.capture)
    capture_max_rows: int = 10_000  # per model, newest kept
    capture_max_mb: float = 256.0  # per model, of tensors
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_constraints(self, SERVE_CONSTRAINTS, flags=SERVE_FLAGS)
        if self.rollout is not None and self.workers > 1:
            raise UserError(
                "--candidate needs one server process (each worker would run its own rollout); drop --workers"
            )
        self.generation()  # --max-streams, --stream-queue, --kv-cache-gb: checked once, where they are defined

    def generation(self) -> GenerationSettings:
        """The continuous-batching settings of generative models, from the flags."""
        return GenerationSettings(
            max_streams=self.max_streams,
            max_waiting=self.stream_queue,
            kv_cache_gb=self.kv_cache_gb,
            timeout_s=self.timeout_s,
        )

    @classmethod
    def build(cls, **values: Any) -> ServeConfig:
        """From ``lepton serve``'s options by their CLI names (``timeout`` is ``timeout_s``, ``slo`` a string), as
        the CLI and ``lepton.api.serve`` give them."""
        v = dict(values)
        if "timeout" in v:
            v["timeout_s"] = v.pop("timeout")
        if isinstance(v.get("slo"), str):
            v["slo"] = parse_slo(v["slo"]) if v["slo"] else None
        if "models" in v:
            v["models"] = tuple(v["models"] or ())
        return cls(**v)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["slo"] = str(self.slo) if self.slo else None
        d["rollout"] = self.rollout.to_json() if self.rollout else None
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ServeConfig:
        d = dict(d)
        d["models"] = tuple(d.get("models", ()))
        d["slo"] = parse_slo(d["slo"]) if d.get("slo") else None
        d["rollout"] = RolloutPlan.from_json(d["rollout"]) if d.get("rollout") else None
        return cls(**d)

    def dumps(self) -> str:
        return json.dumps(self.to_json())


def config_from_flags(
    *,
    candidate: str | None = None,
    shadow: bool = False,
    sample: str | float | None = None,
    canary: str | float | None = None,
    steps: str | None = "5%,25%,50%,100%",
    step_requests: int = 50,
    min_samples: int = 50,
    max_drop: float | None = None,
    latency_bound: float | None = None,
    capture: str | float | None = None,
    keep_alive: float = 75.0,
    **options: Any,
) -> ServeConfig:
    """``lepton serve``'s options by their CLI names (``lepton.api.serve`` takes the same), read into a
    ``ServeConfig`` in one place: the rollout flags become a ``RolloutPlan``, ``--capture`` a share."""
    if (shadow or canary or sample) and not candidate:
        raise UserError("--shadow, --sample and --canary route requests to a --candidate: name one")
    rollout = (
        plan_rollout(
            candidate,
            shadow=shadow,
            sample=sample,
            canary=canary,
            steps=steps,
            step_requests=step_requests,
            min_samples=min_samples,
            max_drop=max_drop,
            latency_bound_ms=latency_bound,
        )
        if candidate
        else None
    )
    capture_rate = parse_share(capture, "--capture") if capture else 0.0
    return ServeConfig.build(**options, rollout=rollout, capture_rate=capture_rate, keep_alive_s=keep_alive)


def parse_share(text: str | float, flag: str) -> float:
    """``5%``, ``0.05`` or ``5`` (percent when above 1) -> 0.05; a share of requests in [0, 1]."""
    raw = str(text).strip()
    try:
        value = float(raw.rstrip("%")) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        raise UserError(f"{flag}: {raw!r} is not a share of requests; write it like 5% or 0.05") from None
    value = value / 100.0 if value > 1.0 and not raw.endswith("%") else value
    if not 0.0 <= value <= 1.0:
        raise UserError(f"{flag}: {raw!r} is outside 0%..100%; write it like 5% or 0.05")
    return value


def split_candidate(text: str) -> tuple[str, str]:
    """``--candidate SERVED=REF`` -> (SERVED, REF); a bare REF (or a path with '=' in it) -> ("", REF)."""
    target, sep, ref = text.partition("=")
    return (target, ref) if sep and "/" not in target else ("", text)


def plan_rollout(
    candidate: str,
    *,
    shadow: bool = False,
    sample: str | float | None = None,
    canary: str | float | None = None,
    steps: str | None = None,
    **test: Any,
) -> RolloutPlan:
    """The plan ``--candidate`` runs: ``--shadow`` (``--sample`` of the requests, default all), ``--canary`` (the
    first step's share), ``--steps`` (the ramp, e.g. ``5%,25%,50%,100%``) and the test's settings (``test``: the
    ``RolloutPlan`` fields by name)."""
    if sample is not None and not shadow:
        raise UserError("--sample is the share of requests shadowed: give it with --shadow")
    rate = parse_share(sample, "--sample") if sample is not None else (1.0 if shadow else 0.0)
    first = parse_share(canary, "--canary") if canary is not None else 0.0
    if rate == 0.0 and first == 0.0:
        raise UserError(
            f"--candidate {candidate}: nothing would reach the candidate; add --shadow (optionally --sample 10%) "
            "and/or --canary 5%"
        )
    ramp = [parse_share(s, "--steps") for s in steps.split(",")] if steps else [0.05, 0.25, 0.5, 1.0]
    if ramp != sorted(ramp) or ramp[-1] != 1.0:
        raise UserError(f"--steps: {steps!r} must rise and end at 100%; write it like 5%,25%,50%,100%")
    if first >= 1.0:
        raise UserError("--canary 100% would serve the candidate untested; use a share below 100%")
    try:
        return RolloutPlan(candidate=candidate, shadow_rate=rate, canary=first, steps=tuple(ramp), **test)
    except ValueError as e:
        raise UserError(f"--candidate: {e}") from None


# ``--workers N`` runs N processes that each build the app: the parent hands them the settings here.
# (Process plumbing, not user configuration: settings.py still owns the user-facing variables.)
_CONFIG_ENV = "LEPTON_SERVE_CONFIG"


def export_config(cfg: ServeConfig) -> None:
    import os

    os.environ[_CONFIG_ENV] = cfg.dumps()


def config_from_env() -> ServeConfig:
    import os

    text = os.environ.get(_CONFIG_ENV)
    if not text:
        raise UserError(f"{_CONFIG_ENV} is not set; start worker processes through `lepton serve --workers N`")
    return ServeConfig.from_json(json.loads(text))
