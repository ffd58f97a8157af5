"""PyTorch eager: the baseline a user would otherwise deploy (the module itself, fp32, no export)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from lepton.engines.base import ENGINES, Engine, RuntimeConfig
from lepton.errors import EngineError, first_line
from lepton.ir.artifact import Artifact
from lepton.ir.source import HfSource


def torch_source(artifact: Artifact) -> Any | None:
    """The PyTorch module an artifact was made from, rebuilt from its recorded source when possible."""
    if artifact.torch_module is not None:
        return artifact.torch_module
    source = artifact.source
    if isinstance(source, HfSource) and source.path and artifact.lineage.pass_name is None:
        from lepton.ir.hf import load_torch_encoder

        return load_torch_encoder(source.path)
    return None


class TorchSession:
    engine = "torch"

    def __init__(self, module: Any, artifact: Artifact, config: RuntimeConfig) -> None:
        import torch

        self._torch = torch
        if config.intra_op_threads:
            torch.set_num_threads(config.intra_op_threads)
        self.module = module.eval()
        self.input_names = artifact.signature.input_names
        self.output_names = artifact.signature.output_names

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        try:
            args = [torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in self.input_names]
        except KeyError as e:
            raise EngineError(f"missing input {e.args[0]!r}; the model needs {', '.join(self.input_names)}") from None
        try:
            with torch.inference_mode():
                out = self.module(*args)
        except (RuntimeError, TypeError, ValueError, IndexError) as e:  # a wrong dtype or shape for this module
            raise EngineError(f"PyTorch could not run the inputs given ({first_line(e)})") from e
        if isinstance(out, Mapping):
            out = tuple(out.values())
        if not isinstance(out, (tuple, list)):
            out = (out,)
        return {n: t.detach().cpu().numpy() for n, t in zip(self.output_names, out, strict=False)}

    def close(self) -> None:
        self.module = None


@ENGINES.register("torch")
class TorchEagerEngine(Engine):
    description = "PyTorch eager fp32 on the source module (the baseline without Lepton)"
    searched = False  # it runs only the source module, never an optimized variant

    def unavailable(self, artifact: Artifact | None = None) -> str | None:
        try:
            import torch  # noqa: F401
        except ImportError:
            return "PyTorch is not installed; pip install torch==2.13.0"
        if artifact is not None and torch_source(artifact) is None:
            return (
                "this model has no PyTorch source (it came from ONNX or scikit-learn, or it is an optimized "
                "variant); use --engine onnxruntime"
            )
        return None

    def threads_used(self, config: RuntimeConfig) -> int:
        import torch

        return config.intra_op_threads or torch.get_num_threads()

    def open(self, artifact: Artifact, config: RuntimeConfig) -> TorchSession:
        module = torch_source(artifact)
        if module is None:
            raise EngineError(self.unavailable(artifact) or "no PyTorch source")
        return TorchSession(module, artifact, config)
