"""``import_model``: any supported model source in, a stored Artifact out.

``ir.intake`` builds the model in a scratch folder of the store; this module commits the folder in one step and
names the model, so a failing intake leaves nothing behind.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lepton.ir.artifact import Artifact, is_artifact_folder
from lepton.ir.intake import add_files, builder_for, check_task
from lepton.ir.source import Source
from lepton.store.store import Store


def import_model(
    source: Any,
    *,
    example_input: Any = None,
    shapes: Mapping[str, tuple[int, ...]] | None = None,
    name: str | None = None,
    task: str | None = None,
    store: Store | None = None,
    files: Mapping[str, str | os.PathLike[str]] | None = None,
    source_info: Source | None = None,
) -> Artifact:
    """Convert ``source`` to an ONNX Artifact, store it, and name it (default: file stem, class, folder).

    ``example_input`` is required for a torch module (a tensor, a tuple of tensors or a dict name -> tensor)
    and optional for scikit-learn (rows to check parity on). ``shapes`` pins concrete input shapes.
    ``files`` (key -> file or folder) are copied into the artifact and listed in ``artifact.files`` under
    their key (``{"eval_data": "path/eval.npz"}``); ``source_info`` (a ``TrainSource``) replaces
    the intake's own ``artifact.source``.
    """
    check_task(task)
    store = store or Store()
    if isinstance(source, str | os.PathLike):
        path = Path(source).expanduser()
        if path.is_dir() and is_artifact_folder(path):
            stored = _stored_artifact(path, store)
            if stored is not None and not shapes:
                art = stored.with_(name=name or stored.name or path.name)
                store.name_model(art.name or path.name, art.id)
                return art
    builder, default_name = builder_for(source, example_input)
    name = name or default_name
    with store.workdir() as workdir:
        built = builder(workdir)
        added = add_files(workdir, files or {})
        signature = built.signature.with_pins(shapes) if shapes else built.signature
        art = store.commit_artifact(
            workdir,
            signature=signature,
            task=task or built.task,
            source=source_info or built.source,
            lineage=built.lineage,
            files={**built.files, **added},
            name=name,
            torch_module=built.torch_module,
            format=built.format,
        )
    store.name_model(name, art.id)
    return art


def _stored_artifact(path: Path, store: Store) -> Artifact | None:
    """The artifact itself when ``path`` is a folder of this store (nothing to copy)."""
    if path.resolve().parent != store.artifacts_dir.resolve():
        return None
    return store.artifact(path.name)
