"""Helpers shared by the pass tests (plain functions; the fixtures live in conftest.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
from machines import fake_hardware  # noqa: F401  (re-exported for the pass tests)

from lepton.ir.artifact import Artifact
from lepton.ir.signature import Signature
from lepton.ir.source import OnnxSource
from lepton.store import Store


def commit(
    store: Store,
    onnx_path: Path,
    *,
    files: dict[str, str] | None = None,
    torch_module: object = None,
    name: str | None = None,
) -> Artifact:
    """Commit an .onnx file (plus a small extra file, like a tokenizer folder) as a root artifact."""
    with store.workdir() as wd:
        shutil.copy(onnx_path, wd / "model.onnx")
        for rel in (files or {}).values():
            (wd / rel).mkdir(parents=True, exist_ok=True)
            (wd / rel / "vocab.txt").write_text("[PAD]\n[UNK]\nhello\n")
        sig = Signature.from_onnx(onnx.load(str(onnx_path)))
        art = store.commit_artifact(
            wd,
            signature=sig,
            task="classification",
            source=OnnxSource(),
            files=files,
            name=name,
            torch_module=torch_module,
        )
    return art


def run(artifact: Artifact, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """The first output, from ONNX Runtime for ONNX and from OpenVINO (f32) for OpenVINO IR."""
    if artifact.format == "openvino":
        from lepton.engines import open_session

        out = open_session("openvino", artifact).run(feeds)
        return out[artifact.signature.output_names[0]]
    import onnxruntime as ort

    sess = ort.InferenceSession(str(artifact.model_path), providers=["CPUExecutionProvider"])
    return np.asarray(sess.run(None, feeds)[0])


def commit_ir(store: Store, parent: Artifact) -> Artifact:
    """``parent`` converted to OpenVINO IR as it is (no pass), committed as a root artifact."""
    import openvino as ov

    with store.workdir() as wd:
        ov.save_model(ov.Core().read_model(str(parent.model_path)), str(wd / "model.xml"), compress_to_fp16=False)
        return store.commit_artifact(wd, signature=parent.signature, task=parent.task, format="openvino")
