"""Resolve what a user names as a model: a path, a stored name, ``name:recommended``, or an example."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lepton.engines.base import RuntimeConfig
from lepton.errors import UserError
from lepton.ir.artifact import Artifact
from lepton.store.store import Store


@dataclass(frozen=True)
class ResolvedModel:
    """A servable model: the artifact, the engine and runtime its trial chose, and what the navigator predicted."""

    name: str
    artifact: Artifact
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    version: str = "1"
    reference: Artifact | None = None  # the unoptimized model, for shadow fidelity
    prediction: dict[str, Any] = field(default_factory=dict)  # the recommended trial's measured figures
    engine: str = "onnxruntime"  # the run summary's ``recommended_engine`` when there is one


def resolve_ref(ref: str, store: Store | None = None) -> ResolvedModel:
    """``path/to/model.onnx`` | ``NAME`` | ``NAME:recommended`` | ``NAME:base`` -> ResolvedModel."""
    store = store or Store()
    path = Path(ref)
    if path.suffix == ".onnx" or path.exists():
        from lepton.ir.intake import import_model

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
        return ResolvedModel(name, base, engine=engine_for(base), reference=base)
    if tag == "":  # the recommended variant when a run exists, else the model itself
        run = store.latest_run(name)
        if run and run["summary"].get("recommended_artifact"):
            return _from_run(name, run, store, base)
        return ResolvedModel(name, base, engine=engine_for(base), reference=base)
    if tag == "recommended":
        run = store.latest_run(name)
        if run is None or not run["summary"].get("recommended_artifact"):
            raise UserError(
                f"{ref}: model {name!r} has no finished optimize run with a recommendation; "
                f"run `lepton optimize` on it first, or serve {name!r} itself"
            )
        return _from_run(name, run, store, base)
    raise UserError(f"{ref}: unknown tag {tag!r}; use NAME, NAME:recommended or NAME:base")


def engine_for(artifact: Artifact) -> str:
    """The engine that opens an artifact when nothing else says: OpenVINO for OpenVINO IR, else ONNX Runtime."""
    return "openvino" if artifact.format == "openvino" else "onnxruntime"


def _from_run(name: str, run: dict[str, Any], store: Store, base: Artifact) -> ResolvedModel:
    s = run["summary"]
    art = store.artifact(s["recommended_artifact"])
    return ResolvedModel(
        name,
        art,
        RuntimeConfig.from_json(s.get("recommended_runtime", {})),
        engine=s.get("recommended_engine") or engine_for(art),
        version=run["id"],
        reference=base,
        prediction=dict(s.get("prediction", {})),
    )
