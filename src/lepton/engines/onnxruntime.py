"""ONNX Runtime: providers chosen from what the machine has, CPU always."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from lepton.engines.base import ENGINES, Engine, RuntimeConfig
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
