"""What a served model name means: ``path/to/model.onnx``, ``NAME``, ``NAME:recommended`` (the variant, engine and
runtime the model's latest optimize run chose) or ``NAME:base``. The server resolves names when it starts and when
an admin loads a model while it runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lepton.engines.base import RuntimeConfig
from lepton.errors import UserError
from lepton.ir.artifact import Artifact
from lepton.measure.prediction import Prediction
from lepton.navigate.deployment import Deployment, recommended
from lepton.store.intake import import_model
from lepton.store.store import Store


@dataclass(frozen=True)
class ResolvedModel:
    """A servable model: the artifact, the engine and runtime its trial chose, and what the navigator predicted."""

    name: str
    artifact: Artifact
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    version: str = "1"
    reference: Artifact | None = None  # the unoptimized model, for shadow fidelity
    prediction: Prediction | None = None  # the recommended trial's measured figures
    engine: str = "onnxruntime"  # the engine the recommendation was measured on, else the one that opens it
    deployment: Deployment | None = None  # what the optimize run recommended (None: no run chose it)


def resolve_ref(ref: str, store: Store | None = None) -> ResolvedModel:
    """``path/to/model.onnx`` | ``NAME`` | ``NAME:recommended`` | ``NAME:base`` -> ResolvedModel."""
    store = store or Store()
    path = Path(ref)
    if path.suffix == ".onnx" or path.exists():
        art = import_model(path, store=store)
        return ResolvedModel(path.stem, art, engine=engine_for(art), reference=art)
    name, _, tag = ref.partition(":")
    base = store.model_artifact(name)
    if base is None:
        known = ", ".join(m["name"] for m in store.models()) or "none yet"
        raise UserError(
            f"no model or file {ref!r}: not a path, and not a stored model name (stored: {known}). "
            "Give a path to an .onnx file, or import/optimize a model first"
        )
    if tag == "base":
        return ResolvedModel(name, base, reference=base, engine=engine_for(base))
    if tag not in ("", "recommended"):
        raise UserError(f"{ref}: unknown tag {tag!r}; use NAME, NAME:recommended or NAME:base")
    chosen = recommended(store, name)
    if chosen is None:
        if tag == "":  # the recommended variant when a run exists, else the model itself
            return ResolvedModel(name, base, reference=base, engine=engine_for(base))
        raise UserError(
            f"{ref}: model {name!r} has no finished optimize run with a recommendation; "
            f"run `lepton optimize` on it first, or serve {name!r} itself"
        )
    return _deployed(name, *chosen, store, base)


def engine_for(artifact: Artifact) -> str:
    """The engine that opens an artifact when nothing else says: OpenVINO for OpenVINO IR, else ONNX Runtime."""
    return "openvino" if artifact.format == "openvino" else "onnxruntime"


def _deployed(name: str, run_id: str, d: Deployment, store: Store, base: Artifact) -> ResolvedModel:
    return ResolvedModel(
        name,
        store.artifact(d.artifact_id),
        d.runtime,
        version=run_id,
        reference=base,
        prediction=d.prediction(),
        engine=d.engine,
        deployment=d,
    )
