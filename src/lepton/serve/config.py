"""The server's settings: one frozen object, validated when built (flags, then ``LEPTON_TOKEN``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from lepton.errors import UserError
from lepton.slo import Slo, parse_slo  # the one SLO grammar, shared with lepton optimize


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
    timeout_s: float = 30.0  # per request, queue wait included
    max_body_bytes: int = 16 * 1024 * 1024
    max_texts: int = 2048  # per /v1/embeddings request
    shadow_rate: float = 0.0
    token: str | None = None
    price_per_hour: float | None = None
    instance: str | None = None
    graceful_timeout_s: float = 30.0
    log_level: str = "warning"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise UserError(f"--workers must be >= 1; got {self.workers}")
        if not 0 < self.port < 65536 and self.port != 0:
            raise UserError(f"--port must be in 1..65535; got {self.port}")
        if self.max_batch_size is not None and not 1 <= self.max_batch_size <= 4096:
            raise UserError(f"--max-batch-size must be in 1..4096; got {self.max_batch_size}")
        if self.max_delay_ms is not None and not 0 <= self.max_delay_ms <= 10_000:
            raise UserError(f"--max-delay-ms must be in 0..10000; got {self.max_delay_ms}")
        if self.instances is not None and not 1 <= self.instances <= 64:
            raise UserError(f"--instances must be in 1..64; got {self.instances}")
        if self.max_queue < 1:
            raise UserError(f"--max-queue must be >= 1; got {self.max_queue}")
        if self.timeout_s <= 0:
            raise UserError(f"--timeout must be positive (seconds); got {self.timeout_s}")
        if self.max_body_bytes < 1024:
            raise UserError(f"--max-body-bytes must be at least 1024; got {self.max_body_bytes}")
        if not 0.0 <= self.shadow_rate <= 1.0:
            raise UserError(f"--shadow-rate is a fraction of requests in [0, 1]; got {self.shadow_rate}")

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
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ServeConfig:
        d = dict(d)
        d["models"] = tuple(d.get("models", ()))
        d["slo"] = parse_slo(d["slo"]) if d.get("slo") else None
        return cls(**d)

    def dumps(self) -> str:
        return json.dumps(self.to_json())


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
