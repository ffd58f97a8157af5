"""The ASGI app: protocol routers, /metrics, /dashboard, admin routes, and the lifespan that loads models.

``build_app(cfg, models)`` is what tests and ``lepton serve`` run under uvicorn; ``serve(cfg, models)``
runs it (SIGTERM: stop accepting, finish in-flight requests, drain the queues, exit 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import PlainTextResponse, Response

from lepton.errors import ServeError
from lepton.serve import dashboard, drift, rollout_routes
from lepton.serve.auth import require_admin
from lepton.serve.config import ServeConfig
from lepton.serve.generation.layout import GenerativeSpec
from lepton.serve.hot import LeptonApp
from lepton.serve.limits import error_response, json_response, serve_error_handler
from lepton.serve.metrics import CONTENT_TYPE_LATEST, Metrics
from lepton.serve.models import ModelRegistry
from lepton.serve.openapi import answers, ok
from lepton.serve.protocols import protocols
from lepton.serve.refs import ResolvedModel
from lepton.settings import VERSION

log = logging.getLogger("lepton.serve")
# resolved, a ref to resolve, or (ref, resolved); a GenerativeSpec (or (ref, spec)) is a generative model
ModelSpec = ResolvedModel | GenerativeSpec | str | tuple[str, ResolvedModel] | tuple[str, GenerativeSpec]


def hourly_price(cfg: ServeConfig) -> float | None:
    """The price of an hour of this machine (catalog match, ``--instance`` or ``--price-per-hour``)."""
    try:
        from lepton.cost.catalog import PriceCatalog
        from lepton.hardware import detect_hardware

        return (
            PriceCatalog.load()
            .price(detect_hardware(), instance=cfg.instance, price_per_hour=cfg.price_per_hour)
            .usd_per_hour
        )
    except Exception as e:  # noqa: BLE001 - cost is informative; serving goes on without it
        log.warning("no price for this machine (%s); live cost is off", e)
        return None


class Server:
    """What the routes share: settings, models, metrics, and whether the server takes traffic."""

    def __init__(self, cfg: ServeConfig, models: Sequence[ModelSpec], store: Any = None) -> None:
        self.cfg = cfg
        self.metrics = Metrics()
        self.registry = ModelRegistry(cfg, self.metrics, hourly_price(cfg), store)
        self.initial = list(models)
        self.ready = False

    def admin(self, request: Request) -> None:
        require_admin(request, self.cfg.token)

    async def start(self) -> None:
        for m in self.initial:
            if isinstance(m, str):
                name, sep, ref = m.partition("=")
                await self.registry.load(ref, name) if sep and "/" not in name else await self.registry.load(m)
            elif isinstance(m, GenerativeSpec):
                await self.registry.add_generator(str(m.path), m)
            elif isinstance(m, tuple) and isinstance(m[1], GenerativeSpec):
                await self.registry.add_generator(m[0], m[1])
            elif isinstance(m, tuple) and isinstance(m[1], ResolvedModel):
                await self.registry.add(m[0], m[1])
            else:
                await self.registry.add(m.name, m)
        if self.cfg.rollout is not None:
            await self.registry.start_rollout(self.cfg.rollout)
        self.ready = True

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for m in self.registry.models.values():
                self.metrics.observe_queue(m.name, m.batcher.queued_rows)
            for g in self.registry.generators.values():
                self.metrics.observe_streams(g.name, *g.engine.counts())
            self.metrics.roll()


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s", request.url.path, exc_info=exc)
    return error_response(f"internal error: {type(exc).__name__}; see the server log", 500)


def build_app(cfg: ServeConfig, models: Sequence[ModelSpec] = (), store: Any = None) -> FastAPI:
    server = Server(cfg, models, store)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await server.start()
        ticker = asyncio.get_running_loop().create_task(server.tick())
        try:
            yield
        finally:
            server.ready = False
            ticker.cancel()
            await server.registry.close()

    app = LeptonApp(
        title="Lepton inference server",
        version=VERSION,
        description="Open Inference Protocol v2 (with binary tensor data), a simple JSON route, "
        "OpenAI-compatible embeddings, completions and chat (generative models), Prometheus metrics and a live "
        "dashboard.",
        lifespan=lifespan,
        redoc_url=None,
    )
    app.state.server = server
    app.add_exception_handler(ServeError, serve_error_handler)
    app.add_exception_handler(Exception, _internal_error)
    app.limit_body(cfg.max_body_bytes)
    for proto in protocols():
        app.include_router(proto.router)
    app.include_router(dashboard.router)
    app.include_router(drift.router)
    app.include_router(rollout_routes.router)

    @app.get(
        "/metrics",
        tags=["Observability"],
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={200: {"description": "Prometheus text exposition format", "content": {"text/plain": {}}}},
    )
    async def metrics() -> Response:
        return Response(server.metrics.expose(), media_type=CONTENT_TYPE_LATEST)

    @app.get(
        "/",
        tags=["Observability"],
        summary="What this server serves",
        responses=answers(
            ok(
                {
                    "type": "object",
                    "required": ["server", "version", "models", "routes"],
                    "properties": {
                        "server": {"type": "string"},
                        "version": {"type": "string"},
                        "models": {"type": "object"},
                        "routes": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "The server, its models and batching state, and its main routes",
            )
        ),
    )
    async def index() -> Response:
        return json_response(
            {
                "server": "lepton",
                "version": VERSION,
                "models": {
                    **{m.name: {"version": m.version, **m.batcher.snapshot()} for m in server.registry.models.values()},
                    **{g.name: {"version": g.version, **g.snapshot()} for g in server.registry.generators.values()},
                },
                "routes": [
                    *(path for proto in protocols() for path in proto.listed),
                    "/metrics",
                    "/dashboard",
                    "/openapi.json",
                    "/docs",
                ],
            }
        )

    return app


def app_from_env() -> FastAPI:
    """The app factory uvicorn's worker processes call (``--workers`` > 1)."""
    from lepton.serve.config import config_from_env

    cfg = config_from_env()
    return build_app(cfg, list(cfg.models))


class _GracefulServer:
    """uvicorn re-raises SIGTERM after its graceful shutdown (exit status -15); a drained stop exits 0."""

    def __new__(cls, config: Any) -> Any:
        import signal

        import uvicorn

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: Any) -> None:
                super().handle_exit(sig, frame)
                if sig == signal.SIGTERM:
                    self._captured_signals.clear()

        return Server(config)


def serve(cfg: ServeConfig, models: Sequence[ModelSpec]) -> None:
    """Run the server in the foreground until SIGINT/SIGTERM; returns after a graceful drain."""
    import uvicorn

    from lepton.serve.connections import connection_options

    common: dict[str, Any] = {
        "host": cfg.host,
        "port": cfg.port,
        "log_level": cfg.log_level,
        "access_log": False,
        "timeout_graceful_shutdown": int(cfg.graceful_timeout_s),
        "loop": "auto",
        "http": "auto",
        "server_header": False,
        **connection_options(cfg),  # every accepted connection gets an answer
    }
    if cfg.workers == 1:
        _GracefulServer(uvicorn.Config(build_app(cfg, models), **common)).run()
        return
    from lepton.serve.config import export_config

    export_config(cfg)  # each worker process builds its own app (and loads its own models)
    uvicorn.run("lepton.serve.app:app_from_env", factory=True, workers=cfg.workers, **common)
