"""What a generative model on disk is, told by its files, and the spec the server opens it from.

Three layouts open by path, with nothing converted: a GGUF file (OpenVINO GenAI reads it directly), an OpenVINO
IR folder (``openvino_model.xml`` with ``openvino_tokenizer.xml`` / ``openvino_detokenizer.xml``), and an ONNX
Runtime GenAI folder (``genai_config.json`` beside its ONNX model). ``generative_model(folder)`` is the hook a
stored causal-LM variant is served through (``NAME:recommended`` once the store names such variants).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lepton.constraints import Constraint, Interval, check_constraints
from lepton.errors import UserError
from lepton.ir.causal_lm import openvino_gguf_refusal
from lepton.measure.prediction import Prediction

Layout = Literal["gguf", "openvino", "ort-genai"]
BACKEND_OF: dict[Layout, str] = {"gguf": "openvino-genai", "openvino": "openvino-genai", "ort-genai": "ort-genai"}


def layout_of(path: Path) -> Layout | None:
    """The generative layout of ``path`` by the files present, or None when it is not one."""
    if path.is_file():
        return "gguf" if path.suffix.lower() == ".gguf" else None
    if not path.is_dir():
        return None
    if (path / "genai_config.json").is_file():
        return "ort-genai"
    if (path / "openvino_model.xml").is_file() and (path / "openvino_tokenizer.xml").is_file():
        return "openvino"
    ggufs = sorted(path.glob("*.gguf"))
    return "gguf" if len(ggufs) == 1 else None


@dataclass(frozen=True)
class GenerationSettings:
    """How the continuous-batching engine runs: streams generated at once, requests waiting for a slot (beyond
    both: 429), the KV cache and the tokens one step may batch. ``None`` threads: the engine's default.
    ``timeout_s`` (``--timeout``) bounds each wait for output: the first token (queue wait included) and every gap
    after it; a request that waits longer is cancelled and answered 504 (``None``: no bound)."""

    max_streams: int = 16
    max_waiting: int = 64
    kv_cache_gb: float = 1.0
    max_batched_tokens: int = 256
    threads: int | None = None
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        check_constraints(self, GENERATION_CONSTRAINTS, flags=GENERATION_FLAGS)


GENERATION_CONSTRAINTS: dict[str, Constraint] = {
    "max_streams": Interval(1, 1024, integer=True),
    "max_waiting": Interval(0, 100_000, integer=True),
    "kv_cache_gb": Interval(0.01, 1024),
    "max_batched_tokens": Interval(16, None, integer=True),
    "threads": Interval(1, None, integer=True),
    "timeout_s": Interval(0, None, closed="neither", note="seconds"),
}
GENERATION_FLAGS = {
    "max_waiting": "--stream-queue",
    "max_batched_tokens": "max batched tokens",
    "timeout_s": "--timeout",
}


@dataclass(frozen=True)
class GenerativeSpec:
    """A generative model to serve: where it is, which layout, under what name; the navigator's prediction
    (``throughput_per_s`` = output tokens/s, ``usd_per_1m`` = USD per 1M output tokens) when a run chose it."""

    name: str
    path: Path
    layout: Layout
    version: str = "1"
    prediction: Prediction | None = None

    @property
    def backend(self) -> str:
        return BACKEND_OF[self.layout]

    @property
    def model_path(self) -> Path:
        """What the engine opens: the GGUF file itself (also when ``path`` is a folder holding one), else the folder."""
        if self.layout == "gguf" and self.path.is_dir():
            return sorted(self.path.glob("*.gguf"))[0]
        return self.path


def generative_model(
    folder: Path | str, name: str | None = None, *, version: str = "1", prediction: Prediction | None = None
) -> GenerativeSpec:
    """The spec that serves the generative model at ``folder`` (a GGUF file, an OpenVINO IR folder with its
    tokenizer, or an ONNX Runtime GenAI folder). Raises ``UserError`` when it is none of them."""
    path = Path(folder)
    layout = layout_of(path)
    if layout is None:
        found = (
            "no such path"
            if not path.exists()
            else "no .gguf, no genai_config.json, no openvino_model.xml with openvino_tokenizer.xml"
        )
        raise UserError(
            f"{path}: not a generative model this server opens (found {found}); give a GGUF file, an ONNX Runtime "
            "GenAI folder or an OpenVINO IR folder with its tokenizer"
        )
    default = path.stem if path.is_file() else path.name
    spec = GenerativeSpec(name or default, path, layout, version, prediction)
    refusal = openvino_gguf_refusal(spec.model_path) if layout == "gguf" else None
    if refusal:  # the GGUF layout is served by OpenVINO GenAI's reader: say so before it fails inside
        raise UserError(
            f"{path}: {refusal}; run `lepton optimize` on it and serve NAME:recommended (an ONNX Runtime GenAI "
            "folder), or give a GGUF of one of those architectures"
        )
    return spec
