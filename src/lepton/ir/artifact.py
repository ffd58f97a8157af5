"""The Artifact: an immutable model folder (``model.onnx`` + ``meta.json``) identified by content.

Most artifacts are ONNX; passes that target OpenVINO write OpenVINO IR instead (``model.xml`` + ``model.bin``),
recorded as ``format`` in ``meta.json`` (absent: ONNX, so folders written before formats existed still load).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

from pydantic import field_validator

from lepton.contract import Contract, JsonForm
from lepton.errors import IntakeError
from lepton.fileio import write_atomic
from lepton.ir.signature import Signature
from lepton.ir.source import Source, source_from_json, source_json

MODEL_FILE = "model.onnx"
META_FILE = "meta.json"
# The file an engine opens, per format; the last three are causal LMs (``lepton.ir.causal_lm`` documents the folders):
# a Hugging Face folder (the PyTorch baseline), an ONNX Runtime GenAI folder, an OpenVINO GenAI folder.
MODEL_FILES = {
    "onnx": MODEL_FILE,
    "openvino": "model.xml",
    "hf-causal": "model.safetensors",
    "genai-onnx": "genai_config.json",
    "openvino-genai": "openvino_model.xml",
}
FORMATS = tuple(MODEL_FILES)
LM_FORMATS = ("hf-causal", "genai-onnx", "openvino-genai")
TASKS = ("embedding", "classification", "regression", "forecast", "generic", "text-generation")


@dataclass(frozen=True)
class Lineage:
    """Where a variant came from: its parent artifact and the pass (with params) that made it."""

    parent: str | None = None
    pass_name: str | None = None
    pass_params: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"parent": self.parent, "pass": self.pass_name, "params": dict(self.pass_params)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Lineage:
        return cls(d.get("parent"), d.get("pass"), d.get("params") or {})


@dataclass(frozen=True)
class Artifact:
    """A model on disk (ONNX, or OpenVINO IR when ``format`` says so) plus what Lepton knows about it.

    ``source`` says where it came from (``HfSource``, ``TorchSource``, ...; None: not recorded);
    ``files`` names extra files in the folder (``{"tokenizer": "tokenizer"}``). ``torch_module`` is the
    in-memory PyTorch source when one was given from Python; it is never written to disk.
    """

    path: Path  # the folder
    id: str
    signature: Signature
    task: str = "generic"
    source: Source | None = None
    lineage: Lineage = field(default_factory=Lineage)
    files: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None
    format: str = "onnx"  # one of FORMATS
    torch_module: Any = field(default=None, compare=False, repr=False)

    @property
    def model_path(self) -> Path:
        """The file an engine opens: ``model.onnx``, or ``model.xml`` (weights in ``model.bin``) for OpenVINO."""
        return self.path / MODEL_FILES[self.format]

    def file(self, key: str) -> Path | None:
        rel = self.files.get(key)
        return self.path / rel if rel else None

    @property
    def size_mb(self) -> float:
        """Model size on disk: the model file plus its weights next to it (ONNX external data, OpenVINO .bin)."""
        total = sum(
            p.stat().st_size
            for p in self.path.iterdir()
            if p.is_file()
            and p.name not in (META_FILE,)
            and p.suffix in (".onnx", ".xml", ".data", ".bin", "", ".safetensors")
        )
        return total / 1e6

    def with_(self, **changes: Any) -> Artifact:
        return replace(self, **changes)

    def summary(self) -> ArtifactSummary:
        """What reports say about the model: name, id, task, source, signature, size."""
        return ArtifactSummary(
            name=self.name,
            artifact_id=self.id,
            task=self.task,
            source=self.source,
            signature=self.signature,
            model_mb=round(self.size_mb, 3),
        )

    def meta(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "task": self.task,
            "signature": self.signature.to_json(),
            "source": source_json(self.source),
            "lineage": self.lineage.to_json(),
            "files": dict(self.files),
            "format": self.format,
        }

    def write_meta(self) -> None:
        write_atomic(self.path / META_FILE, json.dumps(self.meta(), indent=2))

    @classmethod
    def load(cls, folder: Path) -> Artifact:
        folder = Path(folder)
        meta_path = folder / META_FILE
        d = json.loads(meta_path.read_text()) if meta_path.exists() else None
        fmt = (d or {}).get("format", "onnx")
        if d is None or fmt not in MODEL_FILES or not (folder / MODEL_FILES[fmt]).exists():
            raise IntakeError(
                f"{folder} is not a Lepton artifact folder (needs {META_FILE} and {MODEL_FILE}, "
                f"or {MODEL_FILES['openvino']} for OpenVINO IR)"
            )
        return cls(
            path=folder,
            id=d["id"],
            signature=Signature.from_json(d["signature"]),
            task=d.get("task", "generic"),
            source=source_from_json(d.get("source")),
            lineage=Lineage.from_json(d.get("lineage", {})),
            files=d.get("files", {}),
            name=d.get("name"),
            format=fmt,
        )


SignatureField = Annotated[Signature, JsonForm(Signature)]


class ArtifactSummary(Contract):
    """The model a run was about, as results and reports carry it."""

    name: str | None = None
    artifact_id: str
    task: str = "generic"
    source: Source | None = None
    signature: SignatureField
    model_mb: float | None = None

    @field_validator("source", mode="before")
    @classmethod
    def _known_source(cls, v: Any) -> Source | None:
        return source_from_json(v)  # older results: {} or a kind this version does not know

    @property
    def display_name(self) -> str:
        return self.name or self.artifact_id


def is_artifact_folder(folder: Path) -> bool:
    """Whether ``folder`` holds ``meta.json`` and the model file its format names."""
    try:
        Artifact.load(folder)
    except (IntakeError, OSError, ValueError, KeyError):
        return False
    return True


def content_id(folder: Path, extra: Mapping[str, Any] | None = None) -> str:
    """A content hash of the model files (and of ``extra`` facts such as pinned shapes): 16 hex chars."""
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.name != META_FILE and not p.name.endswith(".tmp"):
            h.update(p.name.encode())
            with p.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
    if extra:
        h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]
