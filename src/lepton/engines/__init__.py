"""Engines open an Artifact on real hardware as a Session: ONNX Runtime, OpenVINO and PyTorch eager."""

from lepton.engines.base import ENGINES, Engine, RuntimeConfig, Session, open_session

# Importing the modules registers the built-in engines.
from lepton.engines import onnxruntime as _ort  # noqa: E402,F401  isort: skip
from lepton.engines import openvino as _openvino  # noqa: E402,F401  isort: skip
from lepton.engines import torch_eager as _torch  # noqa: E402,F401  isort: skip
from lepton.engines import generation as _generation  # noqa: E402,F401  isort: skip
from lepton.engines import genai as _genai  # noqa: E402,F401  isort: skip

__all__ = ["ENGINES", "Engine", "RuntimeConfig", "Session", "open_session"]
