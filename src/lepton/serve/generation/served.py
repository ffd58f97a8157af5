"""A generative model as the server holds it: its spec, its continuous-batching engine and its token metrics."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from lepton.serve.config import ServeConfig
from lepton.serve.generation.backends import Backend, Sampling, open_backend
from lepton.serve.generation.engine import GenerationEngine, StreamObserver
from lepton.serve.generation.layout import GenerativeSpec


@dataclass
class GeneratingModel:
    ref: str
    spec: GenerativeSpec
    backend: Backend
    engine: GenerationEngine
    observer: StreamObserver | None = None
    loaded_at: float = field(default_factory=time.time)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        return self.spec.version

    def snapshot(self) -> dict[str, Any]:
        """What the server's index says about it."""
        active, waiting = self.engine.counts()
        s = self.engine.settings
        return {
            "task": "text-generation",
            "backend": self.backend.name,
            "batching": "continuous",
            "max_streams": s.max_streams,
            "max_waiting": s.max_waiting,
            "streams": active,
            "waiting": waiting,
        }


def warm_up(backend: Backend) -> None:
    """Generate two tokens once, so the first client does not pay for the engine's lazy compilation."""
    backend.add(0, backend.encode("Hello", special=True), Sampling(max_tokens=2, temperature=0.0))
    for _ in range(64):
        if any(p.finish for p in backend.step()):
            return
    backend.cancel(0)


def open_generator(
    ref: str, spec: GenerativeSpec, cfg: ServeConfig, observer: StreamObserver | None
) -> GeneratingModel:
    """Open the backend on the model's files, warmed up, on its engine's thread (started here)."""
    settings = cfg.generation()

    def opener() -> Backend:
        backend = open_backend(spec, settings)
        warm_up(backend)
        return backend

    engine = GenerationEngine(opener, settings, spec.name)
    backend = engine.start()
    return GeneratingModel(ref, spec, backend, engine, observer)
