"""Artifacts travel to the nodes through Ray's object store: the driver packs an artifact folder once (its files
as bytes, and its PyTorch module when it has one), and each node unpacks it into a cache of its own, keyed by
the artifact's content id, the first time a task there needs it. No shared filesystem is assumed."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from lepton.fileio import publish_dir
from lepton.ir.artifact import Artifact

Package = dict[str, Any]  # {"id": str, "files": {relative path: bytes}, "torch_module": nn.Module | None}


def pack(art: Artifact) -> Package:
    """An artifact folder as one object: every file's bytes (and the in-memory PyTorch module, if any)."""
    files = {str(p.relative_to(art.path)): p.read_bytes() for p in sorted(art.path.rglob("*")) if p.is_file()}
    return {"id": art.id, "files": files, "torch_module": art.torch_module}


def node_cache(scope: str) -> Path:
    """Where this node keeps the artifacts of one run or deployment (``scope``)."""
    return Path(tempfile.gettempdir()) / f"lepton-ray-{os.getuid()}" / scope


def unpack(package: Package, root: Path) -> Artifact:
    """The artifact as a folder under ``root`` (written once per node, atomically: concurrent tasks on one node,
    or nodes sharing a disk, agree on the same folder)."""
    final = root / package["id"]
    if not final.exists():
        root.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix=".unpack-", dir=root))
        for rel, data in package["files"].items():
            target = staged / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        publish_dir(staged, final)  # False: another task unpacked it first
    art = Artifact.load(final)
    return art.with_(torch_module=package["torch_module"]) if package.get("torch_module") is not None else art


def remove(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
