"""Intake: any supported model source built into an artifact folder (``store.intake.import_model`` commits it).

Sources: a path to an ``.onnx`` file, a Lepton artifact folder, a Hugging Face encoder folder, a causal language
model (a ``.gguf`` file or a Hugging Face ``...ForCausalLM`` folder: ``lepton.ir.causal_lm``), an in-memory
``onnx.ModelProto``, a ``torch.nn.Module`` (with ``example_input``) or a fitted scikit-learn estimator.
Every path builds the model in a scratch folder the store gives, which the store commits in one step, so a
failing intake leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lepton.errors import IntakeError, UserError
from lepton.ir.artifact import META_FILE, MODEL_FILE, TASKS, Artifact, Lineage, is_artifact_folder
from lepton.ir.signature import Signature
from lepton.ir.source import OnnxSource, Source


@dataclass(frozen=True)
class Built:
    """What an intake path made in its scratch folder, before it is committed to the store."""

    signature: Signature
    task: str = "generic"
    source: Source | None = None
    files: Mapping[str, str] = field(default_factory=dict)
    lineage: Lineage = field(default_factory=Lineage)
    torch_module: Any = None
    format: str = "onnx"


Builder = Callable[[Path], Built]


def builder_for(source: Any, example_input: Any = None) -> tuple[Builder, str]:
    """How to build ``source`` in a scratch folder, and the name it gets by default (file stem, class, folder)."""
    if isinstance(source, str | os.PathLike):
        return _path_builder(Path(source).expanduser())
    return _object_builder(source, example_input)


def check_task(task: str | None) -> None:
    if task is not None and task not in TASKS:
        raise UserError(f"task {task!r} is not one of {', '.join(TASKS)}; pick one, or leave it out")


def add_files(workdir: Path, files: Mapping[str, str | os.PathLike[str]]) -> dict[str, str]:
    """Copy extra files (or folders) into the artifact under their own names; returns key -> name."""
    added: dict[str, str] = {}
    for key, where in files.items():
        src = Path(where)
        dest = workdir / src.name
        if not src.exists():
            raise IntakeError(f"files[{key!r}]: {src} does not exist; give an existing file or folder")
        if dest.exists() or src.name in (META_FILE, MODEL_FILE):
            raise IntakeError(f"files[{key!r}]: {src.name} is already in the artifact; rename the file")
        if src.is_dir():
            shutil.copytree(src, dest)
        else:
            shutil.copy2(src, dest)
        added[key] = src.name
    return added


def _path_builder(path: Path) -> tuple[Builder, str]:
    if not path.exists():
        raise IntakeError(
            f"{path}: no such file or folder; give an .onnx file, a Hugging Face model folder or a "
            "Lepton artifact folder"
        )
    if path.is_file():
        if path.suffix.lower() == ".gguf":
            from lepton.ir.causal_lm import gguf_intake

            return (lambda wd: gguf_intake(path, wd)), path.stem.split(".")[0].lower()
        if path.suffix.lower() != ".onnx":
            raise IntakeError(f"{path} is a {path.suffix or 'suffix-less'} file, not .onnx; {_hint_for(path)}")
        from lepton.ir.onnx_intake import onnx_intake

        return (lambda wd: Built(onnx_intake(path, wd), source=OnnxSource(path=str(path.resolve())))), path.stem
    if is_artifact_folder(path):
        return (lambda wd: _copy_artifact(path, wd)), path.name
    from lepton.ir.causal_lm import folder_intake, is_causal_lm_folder

    if is_causal_lm_folder(path):
        return (lambda wd: folder_intake(path, wd)), path.name
    if (path / "config.json").exists():
        from lepton.ir.hf import hf_intake

        return (lambda wd: hf_intake(path, wd)), path.name
    found = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
    shown = ", ".join(found[:8]) + (f" (and {len(found) - 8} more)" if len(found) > 8 else "") or "nothing"
    onnx_files = [f for f in found if f.endswith(".onnx")]
    what_to_do = (
        f"give the path of the model file, e.g. {path / onnx_files[0]}"
        if onnx_files
        else "give an .onnx file, a Hugging Face model folder (with config.json) or a Lepton artifact folder"
    )
    raise IntakeError(
        f"{path} is a folder but not a model (no config.json, no {MODEL_FILE} + {META_FILE}); "
        f"found: {shown}. " + what_to_do[0].upper() + what_to_do[1:]
    )


def _hint_for(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".pt", ".pth", ".bin", ".safetensors", ".ckpt"):
        return "load it in Python and call import_model(module, example_input=...) with the torch.nn.Module"
    if suffix in (".pkl", ".pickle", ".joblib"):
        return "load the fitted estimator in Python (joblib.load) and call import_model(estimator)"
    return "give an .onnx file, a Hugging Face model folder or a Lepton artifact folder"


def _object_builder(source: Any, example_input: Any) -> tuple[Builder, str]:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(source, torch.nn.Module):
        from lepton.ir.torch_intake import torch_intake

        if example_input is None:
            raise IntakeError(
                f"a torch.nn.Module ({type(source).__name__}) needs example_input to be exported: a tensor, "
                "a tuple of tensors or a dict name -> tensor, shaped like one real batch"
            )
        return (lambda wd: torch_intake(source, example_input, wd)), type(source).__name__.lower()
    sklearn_base = sys.modules.get("sklearn.base")
    if sklearn_base is not None and isinstance(source, sklearn_base.BaseEstimator):
        from lepton.ir.sklearn_intake import sklearn_intake

        return (lambda wd: sklearn_intake(source, wd, example_input)), type(source).__name__.lower()
    onnx_mod = sys.modules.get("onnx")
    if onnx_mod is not None and isinstance(source, onnx_mod.ModelProto):
        return (lambda wd: _proto_intake(source, wd)), source.graph.name or "model"
    raise IntakeError(
        f"cannot import a {type(source).__module__}.{type(source).__qualname__}; give a path (.onnx file, "
        "Hugging Face model folder, Lepton artifact folder), a torch.nn.Module with example_input, a fitted "
        "scikit-learn estimator, or an onnx.ModelProto"
    )


def _proto_intake(model: Any, workdir: Path) -> Built:
    import onnx

    from lepton.ir.onnx_intake import onnx_intake

    staging = workdir / ".proto"
    staging.mkdir()
    onnx.save_model(model, str(staging / MODEL_FILE))
    signature = onnx_intake(staging / MODEL_FILE, workdir)
    shutil.rmtree(staging)
    return Built(signature, source=OnnxSource())


def _copy_artifact(path: Path, workdir: Path) -> Built:
    """Bring an artifact folder from elsewhere (another LEPTON_HOME, a colleague) into this store."""
    art = Artifact.load(path)
    for p in path.iterdir():
        if p.name == META_FILE or p.name.endswith(".tmp"):
            continue
        if p.is_dir():
            shutil.copytree(p, workdir / p.name)
        else:
            shutil.copy2(p, workdir / p.name)
    return Built(art.signature, art.task, art.source, art.files, art.lineage, format=art.format)
