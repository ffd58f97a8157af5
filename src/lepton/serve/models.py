"""The models a server holds: each a session, its Batcher, its signature checks and (optionally) a shadow.

Only model files are opened (ONNX by ONNX Runtime or OpenVINO, OpenVINO IR by OpenVINO) and tokenizers are
read from ``tokenizer.json``: nothing is unpickled and no code is imported from a model folder or a request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

from lepton.engines import open_session
from lepton.engines.base import RuntimeConfig, Session
from lepton.errors import ServeError, UserError
from lepton.hardware import serving_lanes
from lepton.ir import graph_ranges, text
from lepton.ir.signature import Signature, TensorSpec
from lepton.measure.prediction import Prediction
from lepton.serve.batcher import Batcher, Lanes, Policy
from lepton.serve.config import ServeConfig, split_candidate
from lepton.serve.drift import DriftMonitor, reference_profile
from lepton.serve.generation.layout import GenerativeSpec, generative_model, layout_of
from lepton.serve.generation.served import GeneratingModel
from lepton.serve.merge import pad_rule
from lepton.serve.metrics import Metrics
from lepton.serve.policy import AdaptivePolicy, FixedPolicy
from lepton.serve.refs import ResolvedModel
from lepton.serve.rollout_state import RolloutPlan
from lepton.serve.shadow import Shadow
from lepton.store.store import Store
from lepton.wire import v2_datatype

if TYPE_CHECKING:
    from lepton.serve.capture import Capture
    from lepton.serve.rollout import Rollout

log = logging.getLogger("lepton.serve")
DEFAULT_MAX_BATCH = 32
LANE_ENGINES = ("onnxruntime", "openvino")  # engines whose batches run on parallel lanes
PLATFORMS = {"onnxruntime": "onnxruntime_onnx", "openvino": "openvino"}  # Triton's names


def served_engine(cfg: ServeConfig, resolved: ResolvedModel) -> str:
    """``--engine`` when given, else the engine the model's trial was measured on (ONNX Runtime by default)."""
    return cfg.engine or resolved.engine


def batchable(inputs: tuple[TensorSpec, ...]) -> bool:
    """A model batches when every input's first dim is symbolic."""
    return bool(inputs) and all(len(t.shape) >= 1 and not isinstance(t.shape[0], int) for t in inputs)


def synthetic_feeds(inputs: tuple[TensorSpec, ...], rows: int = 1, length: int = 8) -> dict[str, np.ndarray]:
    """Small valid inputs for a warm-up run (token ids 1, masks 1, floats 0.5)."""
    feeds = {}
    for t in inputs:
        shape = [
            rows if i == 0 and not isinstance(d, int) else (d if isinstance(d, int) else length)
            for i, d in enumerate(t.shape)
        ]
        feeds[t.name] = np.full(shape, 0.5 if np.dtype(t.dtype).kind == "f" else 1, dtype=t.dtype)
    return feeds


@dataclass
class ServedModel:
    ref: str
    resolved: ResolvedModel
    sessions: list[Session]
    batcher: Batcher
    max_batch_size: int  # 0: the model has a fixed batch dim (Triton's convention)
    shadow: Shadow | None = None
    tokenizer: Any = None  # a tokenizers.Tokenizer (truncating at max_tokens, no padding) for text models
    max_tokens: int | None = None  # the most tokens per text the model takes (known for text models)
    index_bounds: dict[str, int] = field(default_factory=dict)  # index input -> table rows (graph_ranges.index_bounds)
    pad_id: int = 0  # the id token-id lists are padded with (the tokenizer's pad token)
    loaded_at: float = field(default_factory=time.time)
    engine: str = "onnxruntime"
    drift: DriftMonitor | None = None
    rollout: Rollout | None = None  # a candidate beside this model (serve.rollout): it routes the requests
    capture: Capture | None = None  # --capture: a sample of requests kept in the store

    @property
    def name(self) -> str:
        return self.resolved.name

    @property
    def version(self) -> str:
        return self.resolved.version

    @property
    def signature(self) -> Signature:
        return self.resolved.artifact.signature

    @property
    def platform(self) -> str:
        return PLATFORMS.get(self.engine, self.engine)

    @property
    def max_rows(self) -> int:
        return self.max_batch_size or int(self.signature.inputs[0].shape[0])

    async def infer(self, feeds: Mapping[str, np.ndarray], rows: int, timeout_s: float) -> dict[str, np.ndarray]:
        arrival, t0 = time.time(), time.perf_counter()
        if self.rollout is not None:
            out = await self.rollout.infer(feeds, rows, timeout_s)
        else:
            out = await self.batcher.submit(feeds, rows, timeout_s)
        if self.shadow is not None:
            self.shadow.maybe(feeds, out)
        if self.drift is not None:
            self.drift.observe(feeds, out)
        if self.capture is not None:
            self.capture.maybe(feeds, out, arrival, time.perf_counter() - t0)
        return out

    def embedding_output(self) -> str:
        outs = self.signature.outputs
        for t in outs:
            if "embedding" in t.name and len(t.shape) == 2:
                return str(t.name)
        for t in outs:
            if len(t.shape) in (2, 3):
                return str(t.name)
        raise ServeError(f"model {self.name!r} has no [batch, dim] output to use as an embedding", 400)

    def metadata(self) -> dict[str, Any]:
        """The v2 model metadata; an index input also says the rows of the table it indexes
        (``parameters.index_rows``), so a client can send ids the model takes (``lepton loadtest`` does)."""

        def spec(t: TensorSpec, bounds: Mapping[str, int]) -> dict[str, Any]:
            out: dict[str, Any] = {
                "name": t.name,
                "datatype": v2_datatype(t.dtype),
                "shape": [d if isinstance(d, int) else -1 for d in t.shape],
            }
            if t.name in bounds:
                out["parameters"] = {"index_rows": bounds[t.name]}
            return out

        return {
            "name": self.name,
            "versions": [self.version],
            "platform": self.platform,
            "inputs": [spec(t, self.index_bounds) for t in self.signature.inputs],
            "outputs": [spec(t, {}) for t in self.signature.outputs],
        }


def _tokenizer(resolved: ResolvedModel) -> tuple[Any, int | None, int]:
    """The model's tokenizer (cutting at its token limit, not padding: chunks are padded with ``ir.text.pad``),
    that limit, and the id it pads with.

    From the served artifact, else from its reference (the base it was optimized from); (None, None, 0) when
    neither has one.
    """
    for art in (resolved.artifact, resolved.reference):
        if art is not None and text.has_tokenizer(art):
            limit = text.max_length(art)
            return text.load_tokenizer(art, max_length=limit, padding="none"), limit, text.pad_id(art)
    return None, None, 0


def _policy(cfg: ServeConfig, max_batch: int) -> Policy:
    if max_batch <= 1:
        return FixedPolicy(1, 0.0)
    if cfg.slo is not None:
        # an SLO stated at a batch size (p95<=20ms@8) was measured at that size: batches stay within it
        cap = min(max_batch, cfg.slo.batch_size or max_batch)
        return AdaptivePolicy(cap, cfg.slo, time.perf_counter)
    return FixedPolicy(max_batch, (cfg.max_delay_ms or 0.0) / 1000.0)


def lane_count(
    cfg: ServeConfig, artifact_bytes: int, threads: int, engine: str | None = None, *, cores: int | None = None
) -> int:
    """How many lanes run a model's batches side by side: ``--instances``, or auto.

    Auto (the thread policy's ``serving_lanes``): one lane per thread the session would use, at most one per
    core this process may use (``cores``; None: detected, within its affinity mask and cgroup quota) and at
    most 4, for ONNX Runtime and OpenVINO, when the extra copies fit in a quarter of the memory available; else
    one. Each lane gets its share of the threads.
    """
    if cfg.instances is not None:
        return cfg.instances
    if (engine or cfg.engine or "onnxruntime") not in LANE_ENGINES or threads < 2:
        return 1
    import psutil

    lanes = serving_lanes(threads, cores)
    while lanes > 1 and artifact_bytes * (lanes + 1) > 0.25 * psutil.virtual_memory().available:
        lanes -= 1
    return lanes


def open_lanes(
    cfg: ServeConfig, resolved: ResolvedModel, session: Session, engine: str = "onnxruntime"
) -> tuple[Lanes, list[Session]]:
    """The model's lanes: ``session`` alone, or N sessions with a share of its threads each plus ``session``
    itself as the solo lane (all the threads, for requests that arrive alone)."""
    from dataclasses import replace

    from lepton.engines import ENGINES

    runtime = resolved.runtime
    threads = ENGINES.get(engine)().threads_used(runtime)
    if engine == "openvino":
        return _openvino_lanes(cfg, resolved, session, threads)
    n = lane_count(cfg, int(resolved.artifact.size_mb * 1e6), threads, engine)
    if n <= 1:
        return Lanes((session.run,)), [session]
    per_lane = max(1, threads // n)
    narrow = [open_session(engine, resolved.artifact, replace(runtime, intra_op_threads=per_lane)) for _ in range(n)]
    for s in narrow:
        s.run(synthetic_feeds(resolved.artifact.signature.inputs))
    solo = session.run if threads > per_lane else None
    return Lanes(tuple(s.run for s in narrow), solo), [*narrow, session]


def _openvino_lanes(
    cfg: ServeConfig, resolved: ResolvedModel, session: Session, threads: int
) -> tuple[Lanes, list[Session]]:
    """OpenVINO runs parallel batches as streams of one compiled model (the weights are shared): N lanes call
    one session compiled with N streams, each call on its own infer request. A session measured with several
    streams already is that session; else ``session`` (one stream, all the threads) stays the solo lane."""
    from dataclasses import replace

    settings = getattr(session, "settings", {})
    streams = int(settings.get("streams", 1))
    if streams > 1 and cfg.instances in (None, streams):
        return Lanes((session.run,) * streams), [session]
    n = lane_count(cfg, int(resolved.artifact.size_mb * 1e6), threads, "openvino")
    if n <= 1:
        return Lanes((session.run,)), [session]
    per_lane = max(1, threads // n)
    runtime = resolved.runtime
    options = {**runtime.options, "hint": "throughput", "streams": str(n)}
    wide = open_session("openvino", resolved.artifact, replace(runtime, intra_op_threads=per_lane * n, options=options))
    wide.run(synthetic_feeds(resolved.artifact.signature.inputs))
    got = int(getattr(wide, "settings", {}).get("streams", n))  # OpenVINO may give fewer streams than asked
    solo = session.run if threads > per_lane else None
    return Lanes((wide.run,) * max(1, got), solo), [wide, session]


def open_off_path(resolved: ResolvedModel, engine: str) -> Session:
    """A single-threaded session of ``resolved`` for a rollout's off-path copies (``serve.offpath``): one thread,
    so the run happens on the calling (low-priority) thread, with no pool of its own competing for the cores."""
    runtime = replace(resolved.runtime, intra_op_threads=1, inter_op_threads=0, execution_mode="sequential")
    if engine == "openvino":
        options = {k: v for k, v in runtime.options.items() if k != "streams"}
        runtime = replace(runtime, options={**options, "hint": "latency"})
    session = open_session(engine, resolved.artifact, runtime)
    session.run(synthetic_feeds(resolved.artifact.signature.inputs))
    return session


def open_model(
    ref: str, resolved: ResolvedModel, cfg: ServeConfig, metrics: Metrics, usd_per_hour: float | None
) -> ServedModel:
    """Open the sessions (with the navigator's runtime config), warm them up, and build the Batcher."""
    sig = resolved.artifact.signature
    runtime = resolved.runtime
    engine = served_engine(cfg, resolved)
    session = open_session(engine, resolved.artifact, runtime)
    if batchable(sig.inputs):
        chosen = runtime.batch_size if resolved.prediction else DEFAULT_MAX_BATCH
        max_batch = cfg.max_batch_size or chosen
    else:
        max_batch = 0
    try:
        session.run(synthetic_feeds(sig.inputs))
    except Exception as e:  # noqa: BLE001 - a model that cannot run one row should not be served
        raise UserError(f"model {resolved.name!r} failed its warm-up run on synthetic inputs: {e}") from None
    name = resolved.name
    lanes, sessions = open_lanes(cfg, resolved, session, engine)
    batcher = Batcher(
        lanes,
        _policy(cfg, max_batch),
        max_queue_rows=max(cfg.max_queue, max_batch),
        pad=pad_rule(sig) if max_batch else None,
        observer=metrics.observer(name),
        name=name,
    )
    shadow = None
    ref_art = resolved.reference
    if cfg.shadow_rate > 0:
        if ref_art is None or ref_art.id == resolved.artifact.id:
            log.warning("--shadow-rate: %s is its own reference (not an optimized variant); no shadow", name)
        else:
            ref_session = open_session(engine, ref_art, RuntimeConfig(intra_op_threads=1))
            shadow = Shadow(ref_session.run, cfg.shadow_rate, lambda c, m: metrics.observe_shadow(name, c, m))
    tokenizer, max_tokens, pad_id = _tokenizer(resolved) if resolved.artifact.task == "embedding" else (None, None, 0)
    info = {
        "version": resolved.version,
        "artifact": resolved.artifact.id,
        "engine": engine,
        "task": resolved.artifact.task,
        "max_batch_size": str(max_batch),
        "batching": batcher.policy.mode,
        "lanes": str(len(lanes.parallel)) + ("+solo" if lanes.solo is not None else ""),
        "runtime": json.dumps(runtime.to_json(), sort_keys=True),
        "ref": ref,
    }
    metrics.add_model(name, info, usd_per_hour, resolved.prediction or Prediction())
    graph = resolved.artifact if resolved.artifact.format == "onnx" else resolved.reference
    bounds: dict[str, int] = {}
    if graph is not None and graph.format == "onnx":  # the tables indices must stay inside (IR: its ONNX source)
        bounds = graph_ranges.index_bounds(onnx.load(str(graph.model_path), load_external_data=False))
    if tokenizer is not None and "input_ids" in sig.input_names and "input_ids" not in bounds:
        bounds["input_ids"] = tokenizer.get_vocab_size()  # e.g. a table a pass computes rather than stores
    drift = None
    if cfg.drift:
        from pathlib import Path

        data = Path(cfg.drift_data) if cfg.drift_data else None
        ref_profile = reference_profile(resolved.reference or resolved.artifact, session.run, data)
        drift = DriftMonitor(name, ref_profile, resolved.artifact.task, metrics.observe_drift, window=cfg.drift_window)
    return ServedModel(
        ref, resolved, sessions, batcher, max_batch, shadow, tokenizer, max_tokens, bounds, pad_id, engine=engine,
        drift=drift,
    )  # fmt: skip


class ModelRegistry:
    """Models by name. Load/unload/reload swap entries whole: in-flight requests finish on the old one."""

    def __init__(self, cfg: ServeConfig, metrics: Metrics, usd_per_hour: float | None, store: Any = None) -> None:
        self.cfg = cfg
        self.metrics = metrics
        self.usd_per_hour = usd_per_hour
        self.store: Store | None = store
        self.models: dict[str, ServedModel] = {}
        self.generators: dict[str, GeneratingModel] = {}  # generative models (continuous batching)
        self._lock = asyncio.Lock()

    def get(self, name: str, version: str | None = None) -> ServedModel:
        m = self.models.get(name)
        if m is None and name in self.generators:
            raise ServeError(f"model {name!r} generates text; use /v1/completions or /v1/chat/completions", 400)
        if m is None:
            known = ", ".join(sorted(self.models)) or "none"
            raise ServeError(f"no model {name!r} is loaded; loaded: {known}", 404)
        if version is not None and version != m.version:
            raise ServeError(f"model {name!r} has version {m.version!r}, not {version!r}", 404)
        return m

    async def add(self, ref: str, resolved: ResolvedModel) -> ServedModel:
        async with self._lock:
            model = await asyncio.to_thread(open_model, ref, resolved, self.cfg, self.metrics, self.usd_per_hour)
            model.batcher.start()
            old = self.models.get(model.name)
            self.models[model.name] = model
        if old is not None:
            await self._retire(old)
        if self.cfg.capture_rate > 0:
            from lepton.serve.capture import Capture

            cfg = self.cfg
            model.capture = Capture(
                self._store(), model.name, cfg.capture_rate, cfg.capture_max_rows, cfg.capture_max_mb
            )
        return model

    def generator(self, name: str) -> GeneratingModel:
        g = self.generators.get(name)
        if g is None:
            if name in self.models:
                raise ServeError(
                    f"model {name!r} does not generate text; /v1/completions serves generative models", 400
                )
            known = ", ".join(sorted(self.generators)) or "none"
            raise ServeError(f"no generative model {name!r} is loaded; loaded: {known}", 404)
        return g

    async def add_generator(self, ref: str, spec: GenerativeSpec) -> GeneratingModel:
        """Open a generative model (its backend and engine thread) and serve it under its name."""
        from lepton.serve.generation.served import open_generator

        async with self._lock:
            info = {"version": spec.version, "path": str(spec.path), "engine": spec.backend, "task": "text-generation"}
            observer = self.metrics.add_generator(spec.name, info, self.usd_per_hour, spec.prediction or Prediction())
            model = await asyncio.to_thread(open_generator, ref, spec, self.cfg, observer)
            old = self.generators.get(spec.name)
            self.generators[spec.name] = model
        if old is not None:
            await old.engine.drain(self.cfg.graceful_timeout_s)
        return model

    def _store(self) -> Store:
        """The store refs resolve in, and where rollouts and captures are kept (LEPTON_HOME unless given)."""
        if self.store is None:
            self.store = Store()
        return self.store

    async def start_rollout(self, plan: RolloutPlan) -> Rollout:
        """Open ``plan.candidate`` beside the served model it names (``TARGET=REF``, the candidate's own name, or
        the only model served) and route that model's requests through a ``Rollout``."""
        from lepton.serve.refs import resolve_ref
        from lepton.serve.rollout import Rollout

        target, ref = split_candidate(plan.candidate)
        resolved = await asyncio.to_thread(resolve_ref, ref, self._store())
        target = target or (resolved.name if resolved.name in self.models else "")
        if not target and len(self.models) == 1:
            target = next(iter(self.models))
        if target not in self.models:
            served = ", ".join(sorted(self.models)) or "none"
            raise UserError(
                f"--candidate {plan.candidate}: no served model named {target or resolved.name!r} (served: {served}); "
                "write --candidate SERVED_NAME=REF"
            )
        incumbent = self.models[target]
        if plan.max_drop is None:  # the bound the candidate was chosen under, else optimize's default
            options = self._store().run(resolved.version).payload.get("options") if resolved.deployment else None
            plan = plan.with_(max_drop=float((options or {}).get("max_drop", 0.01)))
        cfg = replace(self.cfg, shadow_rate=0.0)
        candidate = await asyncio.to_thread(
            open_model, ref, replace(resolved, name=f"{target}:candidate"), cfg, self.metrics, self.usd_per_hour
        )
        candidate.batcher.start()
        off_path = {
            "incumbent": await asyncio.to_thread(open_off_path, incumbent.resolved, incumbent.engine),
            "candidate": await asyncio.to_thread(open_off_path, resolved, candidate.engine),
        }
        incumbent.rollout = Rollout(
            incumbent, candidate, plan, self._store(), self.metrics, self.usd_per_hour, off_path
        )
        return incumbent.rollout

    async def load(self, ref: str, name: str | None = None) -> ServedModel | GeneratingModel:
        from pathlib import Path

        from lepton.serve.refs import resolve_ref

        if layout_of(Path(ref)) is not None:
            try:
                spec = generative_model(ref, name)
            except UserError as e:
                raise ServeError(str(e), 400) from None
            return await self.add_generator(ref, spec)

        try:
            resolved = await asyncio.to_thread(resolve_ref, ref, self.store)
        except UserError as e:
            raise ServeError(str(e), 400) from None
        if name:
            resolved = replace(resolved, name=name)
        return await self.add(ref, resolved)

    async def reload(self, name: str) -> ServedModel | GeneratingModel:
        if name in self.generators:
            gen = self.generators[name]
            return await self.add_generator(gen.ref, gen.spec)
        current = self.get(name)
        return await self.load(current.ref, name)

    async def unload(self, name: str) -> None:
        if name in self.generators:
            async with self._lock:
                gen = self.generators.pop(name)
            await gen.engine.drain(self.cfg.graceful_timeout_s)
            return
        async with self._lock:
            model = self.get(name)
            del self.models[name]
        await self._retire(model)

    async def _retire(self, model: ServedModel) -> None:
        await model.batcher.drain(self.cfg.graceful_timeout_s)
        if model.shadow is not None:
            model.shadow.close()
        if model.drift is not None:
            model.drift.close()
        if model.rollout is not None:
            await model.rollout.close(self.cfg.graceful_timeout_s)
        if model.capture is not None:
            await asyncio.to_thread(model.capture.close)

    async def close(self) -> None:
        for name in [*self.models, *self.generators]:
            await self.unload(name)
