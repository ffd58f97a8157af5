"""OpenVINO on the CPU: ONNX or OpenVINO IR in; threads, streams, performance hint and inference precision.

The inference precision is always set explicitly (``f32`` unless ``bf16`` is asked for): OpenVINO otherwise
picks bf16 by itself on CPUs with native bf16, which changes the outputs. What the compiled model really
uses (precision, streams, threads, how many layers run in int8) is read back into ``Session.settings``.

Callers may share one session from many threads: each call takes an infer request from a pool (made on
demand, reused after), so calls run side by side on the model's streams instead of queueing on one lock.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from lepton.engines.base import ENGINES, Engine, EngineSettings, RuntimeConfig
from lepton.engines.profile import Feeds, OpProfile, mean_per_call, timed_calls
from lepton.errors import EngineError, EngineUnavailable, UserError
from lepton.hardware import Hardware, default_threads, detect_hardware, searched_threads
from lepton.ir.artifact import Artifact
from lepton.ir.openvino_ir import OPENVINO_MISSING, ov_core, ov_message, port_name, read_model

HINTS = ("latency", "throughput")
PRECISIONS = ("f32", "bf16")
COMPUTE_LAYERS = frozenset({"Convolution", "GroupConvolution", "Deconvolution", "FullyConnected", "MatMul"})


def bf16_native() -> bool:
    """Whether OpenVINO's CPU plugin has native bf16 here (AVX512-BF16 or AMX)."""
    return "BF16" in ov_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def compile_properties(config: RuntimeConfig) -> dict[str, str]:
    """The CPU plugin properties for ``config``; unknown options or values are a UserError."""
    unknown = sorted(set(config.options) - set(OpenVinoEngine.options))
    if unknown:
        raise UserError(
            f"openvino: unknown runtime option {unknown[0]!r}; it takes {', '.join(OpenVinoEngine.options)}"
        )
    hint = config.option("hint", "latency").lower()
    precision = config.option("precision", "f32").lower()
    streams = config.option("streams", "").lower()
    if hint not in HINTS:
        raise UserError(f"openvino: hint {hint!r} is not one of {', '.join(HINTS)}")
    if precision not in PRECISIONS:
        raise UserError(f"openvino: precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if streams and streams != "auto" and not (streams.isdigit() and int(streams) >= 1):
        raise UserError(f"openvino: streams must be 'auto' or a positive integer; got {streams!r}")
    if precision == "bf16" and not bf16_native():
        raise EngineUnavailable(
            "openvino: precision bf16 needs native bf16 (AVX512-BF16 or AMX), which this CPU lacks; use f32"
        )
    props = {"PERFORMANCE_HINT": hint.upper(), "INFERENCE_PRECISION_HINT": precision}
    if streams:
        props["NUM_STREAMS"] = streams.upper()
    props["INFERENCE_NUM_THREADS"] = str(config.intra_op_threads or default_threads())  # OpenVINO ignores a quota
    return props


def layer_precisions(compiled: Any) -> dict[str, int]:
    """How many compute layers (convolutions, matrix products) the compiled model runs in int8 and in float."""
    counts = {"int8_layers": 0, "float_layers": 0}
    for op in compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()
        if str(info["layerType"].astype(str)) not in COMPUTE_LAYERS:
            continue
        precision = str(info["runtimePrecision"].astype(str))
        counts["int8_layers" if precision in ("u8", "i8") else "float_layers"] += 1
    return counts


class _Input:
    """What one model input takes: its numpy dtype (None: any) and its dims (None: dynamic)."""

    def __init__(self, port: Any) -> None:
        try:
            self.dtype: np.dtype[Any] | None = np.dtype(port.get_element_type().to_dtype())
        except (RuntimeError, TypeError, ValueError):
            self.dtype = None
        pshape = port.get_partial_shape()
        self.dims: tuple[int | None, ...] | None = (
            tuple(int(d.get_length()) if d.is_static else None for d in pshape) if pshape.rank.is_static else None
        )

    def why_not(self, name: str, arr: np.ndarray) -> str | None:
        if self.dtype is not None and arr.dtype != self.dtype:
            return f"input {name!r} takes {self.dtype}; got {arr.dtype}. Cast it to {self.dtype}"
        if self.dims is None:
            return None
        want = "x".join("?" if d is None else str(d) for d in self.dims)
        if arr.ndim != len(self.dims) or any(
            d is not None and d != g for d, g in zip(self.dims, arr.shape, strict=True)
        ):
            got = "x".join(map(str, arr.shape)) or "a scalar"
            return f"input {name!r} takes shape {want} (? is any size); got {got}"
        return None


class OpenVinoSession:
    engine = "openvino"

    def __init__(self, artifact: Artifact, config: RuntimeConfig) -> None:
        self.config = config
        props = compile_properties(config)
        model = read_model(artifact.model_path, EngineError)
        try:
            self._compiled = ov_core().compile_model(model, "CPU", props)
        except RuntimeError as e:
            raise EngineError(f"openvino could not compile {artifact.model_path}: {ov_message(e)}") from None
        sig = artifact.signature
        self.input_names = [port_name(p, sig.input_names) for p in self._compiled.inputs]
        self.output_names = [port_name(p, sig.output_names) for p in self._compiled.outputs]
        self._inputs = {n: _Input(p) for n, p in zip(self.input_names, self._compiled.inputs, strict=True)}
        self.settings = self._read_back(props)
        self._idle: list[Any] = []
        self._made = 0
        self._lock = threading.Lock()

    def _read_back(self, props: Mapping[str, str]) -> EngineSettings:
        """What the compiled model really uses; a precision other than the one asked for is an error."""
        c = self._compiled
        precision = c.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        if precision != props["INFERENCE_PRECISION_HINT"]:
            raise EngineError(
                f"openvino was asked for {props['INFERENCE_PRECISION_HINT']} inference but compiled {precision}"
            )
        return {
            "precision": precision,
            "hint": str(c.get_property("PERFORMANCE_HINT")).lower(),
            "streams": int(c.get_property("NUM_STREAMS")),
            "threads": int(c.get_property("INFERENCE_NUM_THREADS")),
            "optimal_requests": int(c.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")),
            **layer_precisions(c),
        }

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        inputs = {}
        for name, spec in self._inputs.items():
            if name not in feeds:
                raise EngineError(f"missing input {name!r}; the model needs {', '.join(self.input_names)}")
            arr = np.ascontiguousarray(feeds[name])
            why = spec.why_not(name, arr)
            if why:
                raise EngineError(why)
            inputs[name] = arr
        request = self._acquire()
        try:
            result = request.infer(inputs, share_inputs=True, share_outputs=False)
        except RuntimeError as e:  # the request is dropped, not reused
            raise EngineError(f"openvino failed to run the model: {ov_message(e)}") from None
        outputs = {n: result[i] for i, n in enumerate(self.output_names)}
        with self._lock:
            self._idle.append(request)
        return outputs

    @property
    def pool_size(self) -> int:
        """Infer requests made so far: as many as callers ever ran at once."""
        return self._made

    def _acquire(self) -> Any:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            compiled = self._compiled
            if compiled is not None:
                self._made += 1
        if compiled is None:
            raise EngineError("the openvino session is closed")
        return compiled.create_infer_request()

    def close(self) -> None:
        with self._lock:
            self._idle.clear()
            self._compiled = None


ORT_DYNAMIC_INT8 = frozenset({"MatMulInteger", "DynamicQuantizeLinear", "ConvInteger", "QAttention"})


@ENGINES.register("openvino")
class OpenVinoEngine(Engine):
    description = "OpenVINO on the CPU (ONNX or OpenVINO IR; threads, streams, performance hint, precision)"
    formats: ClassVar[frozenset[str]] = frozenset({"onnx", "openvino"})
    options: ClassVar[Mapping[str, str]] = {
        "hint": "latency (one stream, all threads; the default) | throughput (streams for parallel callers)",
        "streams": "auto | a positive integer (default: what the hint chooses)",
        "precision": "f32 (the default) | bf16 (only on CPUs with native bf16)",
    }

    def unavailable(self, artifact: Artifact | None = None) -> str | None:
        hw = detect_hardware()
        if hw.arch in ("x86_64", "AMD64") and hw.flags and "sse4_2" not in hw.flags:
            return "OpenVINO's CPU plugin needs SSE4.2, which this CPU lacks"
        try:
            import openvino  # noqa: F401
        except ImportError:
            return OPENVINO_MISSING
        if "CPU" not in ov_core().available_devices:
            return f"OpenVINO finds no CPU device here (devices: {', '.join(ov_core().available_devices) or 'none'})"
        return super().unavailable(artifact)

    def unlikely(self, artifact: Artifact) -> str | None:
        if artifact.format != "onnx":
            return None
        from lepton.ir.family import op_types

        if op_types(artifact) & ORT_DYNAMIC_INT8:
            return (
                "OpenVINO runs ONNX Runtime's dynamic int8 ops (MatMulInteger, DynamicQuantizeLinear) in float: "
                "0 int8 layers when measured here; its own int8 is quantize-nncf"
            )
        return None

    def runtime_options(self, hw: Hardware, batch_sizes: Sequence[int]) -> list[RuntimeConfig]:
        """All cores as one latency stream and one thread per caller (as the server's lanes run), in f32; and
        bf16 with all cores where the CPU has native bf16 (it changes the outputs: quality is measured for it)."""
        out = []
        for threads, precision in self._settings(hw):  # batch sizes innermost: one session serves them all
            options = {"hint": "latency", "precision": precision}
            out += [RuntimeConfig(intra_op_threads=threads, batch_size=b, options=options) for b in batch_sizes]
        return out

    @staticmethod
    def _settings(hw: Hardware) -> list[tuple[int, str]]:
        threads = searched_threads(hw)
        return [(t, "f32") for t in threads] + ([(threads[0], "bf16")] if hw.bf16_native else [])

    def option_choices(self, hw: Hardware) -> dict[str, tuple[str, ...]]:
        """Both hints; bf16 beside f32 where the CPU has native bf16 (it changes the outputs: measure quality)."""
        return {"hint": HINTS, "precision": ("f32", "bf16") if hw.bf16_native else ("f32",)}

    def open(self, artifact: Artifact, config: RuntimeConfig) -> OpenVinoSession:
        return OpenVinoSession(artifact, config)

    def profile(
        self, artifact: Artifact, config: RuntimeConfig, feeds: Feeds, *, runs: int = 10, warmup: int = 2
    ) -> OpProfile:
        return profile_openvino(artifact, config, feeds, runs, warmup)


_PRECISIONS = ("f32", "bf16", "f16", "i8", "u8", "i32")


def profile_openvino(artifact: Artifact, config: RuntimeConfig, feeds: Feeds, runs: int, warmup: int) -> OpProfile:
    """OpenVINO's per-layer performance counters (``PERF_COUNT``): each executed layer's real time per call, its
    type and the primitive it ran (``brgemm_avx512_amx_i8``, ``jit_avx512_f32``, ``ref_any_f32`` ...).

    The CPU plugin reports each layer's running mean over every call the compiled model has made (measured here:
    the figures after call n average calls 1..n), so the profiled calls' mean is taken from the totals read
    before and after them: ``(after * (warmup + runs) - before * warmup) / runs``.
    """
    props = {**compile_properties(config), "PERF_COUNT": "YES"}
    model = read_model(artifact.model_path, EngineError)
    try:
        compiled = ov_core().compile_model(model, "CPU", props)
    except RuntimeError as e:
        raise EngineError(f"openvino could not compile {artifact.model_path}: {ov_message(e)}") from None
    names = [port_name(p, artifact.signature.input_names) for p in compiled.inputs]
    inputs = {i: np.ascontiguousarray(feeds[n]) for i, n in enumerate(names)}
    request = compiled.create_infer_request()

    def means() -> dict[tuple[str, str, str, str, str], float]:
        out = {}
        for info in request.get_profiling_info():
            if str(info.status).endswith("EXECUTED"):
                exec_type = str(info.exec_type)
                precision = next((p for p in _PRECISIONS if exec_type.endswith("_" + p)), "")
                key = (str(info.node_name), str(info.node_type), exec_type, "", precision)
                out[key] = info.real_time.total_seconds() * 1000.0
        return out

    timed_calls(lambda: request.infer(inputs, share_inputs=True), warmup, 0)
    before = means() if warmup else {}
    wall = timed_calls(lambda: request.infer(inputs, share_inputs=True), 0, runs)
    after = means()
    items = [(k, max(0.0, v * (warmup + runs) - before.get(k, 0.0) * warmup)) for k, v in after.items()]
    batch = next(iter(inputs.values())).shape[0] if inputs else 1
    return OpProfile(
        engine="openvino", runs=runs, batch_size=batch, wall_ms=sum(wall) / len(wall), ops=mean_per_call(items, runs)
    )
