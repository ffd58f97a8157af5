"""ONNX Runtime: providers chosen from what the machine has, CPU always."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from lepton.engines.base import ENGINES, Engine, RuntimeConfig
from lepton.engines.profile import Feeds, OpProfile, mean_per_call, timed_calls
from lepton.errors import EngineError, EngineUnavailable, one_line
from lepton.hardware import default_threads
from lepton.ir.artifact import Artifact

_PREFERENCE = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "OpenVINOExecutionProvider",
    "CPUExecutionProvider",
)


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def choose_providers(requested: str | None) -> list[str]:
    have = available_providers()
    if requested:
        full = requested if requested.endswith("ExecutionProvider") else f"{requested}ExecutionProvider"
        if full not in have:
            raise EngineUnavailable(
                f"provider {requested!r} is not available here; this onnxruntime has: {', '.join(have)}"
            )
        return [full] + (["CPUExecutionProvider"] if full != "CPUExecutionProvider" else [])
    ordered = [p for p in _PREFERENCE if p in have]
    return ordered or ["CPUExecutionProvider"]


def session_options(config: RuntimeConfig) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = config.intra_op_threads or default_threads()  # ORT's own default ignores a quota
    so.inter_op_num_threads = config.inter_op_threads
    so.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[config.graph_level]
    so.execution_mode = (
        ort.ExecutionMode.ORT_PARALLEL if config.execution_mode == "parallel" else ort.ExecutionMode.ORT_SEQUENTIAL
    )
    so.log_severity_level = 3
    return so


class OrtSession:
    engine = "onnxruntime"

    def __init__(self, artifact: Artifact, config: RuntimeConfig) -> None:
        import onnxruntime as ort

        self.config = config
        try:
            self._sess = ort.InferenceSession(
                str(artifact.model_path), session_options(config), providers=choose_providers(config.provider)
            )
        except EngineUnavailable:
            raise
        except Exception as e:  # ORT raises its own Fail/InvalidGraph types
            raise EngineError(f"onnxruntime could not open {artifact.model_path}: {e}") from e
        self.input_names = [i.name for i in self._sess.get_inputs()]
        self.output_names = [o.name for o in self._sess.get_outputs()]
        self.providers = self._sess.get_providers()

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            outs = self._sess.run(None, {k: feeds[k] for k in self.input_names})
        except KeyError as e:
            raise EngineError(f"missing input {e.args[0]!r}; the model needs {', '.join(self.input_names)}") from None
        except Exception as e:  # ORT's InvalidArgument/Fail: a wrong dtype or shape, a kernel that failed
            raise EngineError(f"onnxruntime could not run the inputs given ({one_line(e, 300)})") from e
        return dict(zip(self.output_names, outs, strict=True))

    def close(self) -> None:
        self._sess = None


@ENGINES.register("onnxruntime")
class OnnxRuntimeEngine(Engine):
    description = "ONNX Runtime (CPU always; CUDA/TensorRT/OpenVINO when this machine has them)"

    def unavailable(self, artifact: Artifact | None = None) -> str | None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return "the onnxruntime package is not installed; pip install onnxruntime"
        return super().unavailable(artifact)  # ONNX only: an OpenVINO IR artifact needs the openvino engine

    def open(self, artifact: Artifact, config: RuntimeConfig) -> OrtSession:
        return OrtSession(artifact, config)

    def profile(
        self, artifact: Artifact, config: RuntimeConfig, feeds: Feeds, *, runs: int = 10, warmup: int = 2
    ) -> OpProfile:
        return profile_ort(artifact, config, feeds, runs, warmup)


_KERNEL = "_kernel_time"


def profile_ort(artifact: Artifact, config: RuntimeConfig, feeds: Feeds, runs: int, warmup: int) -> OpProfile:
    """ONNX Runtime's own profiler (``SessionOptions.enable_profiling``): the node events of the last ``runs``
    calls (each ``model_run`` event bounds one call), by node, with the op type and provider it ran on."""
    import json
    import shutil
    import tempfile

    import onnxruntime as ort

    folder = tempfile.mkdtemp(prefix="lepton-ort-profile-")
    try:
        so = session_options(config)
        so.enable_profiling = True
        so.profile_file_prefix = f"{folder}/profile"
        try:
            sess = ort.InferenceSession(str(artifact.model_path), so, providers=choose_providers(config.provider))
        except Exception as e:
            raise EngineError(f"onnxruntime could not open {artifact.model_path}: {one_line(e, 300)}") from e
        names = [i.name for i in sess.get_inputs()]
        inputs = {n: feeds[n] for n in names}
        wall = timed_calls(lambda: sess.run(None, inputs), warmup, runs)
        with open(sess.end_profiling()) as f:
            events = json.load(f)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    calls = [(e["ts"], e["ts"] + e["dur"]) for e in events if e.get("name") == "model_run"][-runs:]
    start = calls[0][0] if calls else 0
    items = [
        (
            (
                e["name"][: -len(_KERNEL)],
                str(e["args"].get("op_name", "?")),
                str(e["args"].get("provider", "")),
                "",
                "",
            ),
            e["dur"] / 1000.0,
        )
        for e in events
        if e.get("cat") == "Node" and e.get("name", "").endswith(_KERNEL) and e["ts"] >= start
    ]
    batch = next(iter(inputs.values())).shape[0] if inputs else 1
    ops = mean_per_call(items, len(calls) or 1)
    engine_ms = sum(b - a for a, b in calls) / 1000.0 / len(calls) if calls else None
    return OpProfile(
        engine="onnxruntime", runs=runs, batch_size=batch, wall_ms=sum(wall) / len(wall), ops=ops, engine_ms=engine_ms
    )
