"""Sessions are opened through the engines (``engines.base.open_session``); below them (intake and the passes,
which may not import the engines) the one plain CPU session is ``ir.onnx_intake.ort_session``."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

import lepton
from lepton.ir.onnx_intake import ort_session

ROOT = Path(lepton.__file__).parent
ALLOWED = {ROOT / "ir" / "onnx_intake.py"}


def constructions(path: Path) -> list[int]:
    """Lines of ``path`` that build an ONNX Runtime ``InferenceSession``."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name == "InferenceSession":
                lines.append(node.lineno)
    return lines


def test_no_module_outside_the_engines_builds_an_onnxruntime_session() -> None:
    found = {
        str(p.relative_to(ROOT)): lines
        for p in sorted(ROOT.rglob("*.py"))
        if "engines" not in p.relative_to(ROOT).parts and p not in ALLOWED and (lines := constructions(p))
    }
    assert not found, f"open sessions with engines.base.open_session (or ir.onnx_intake.ort_session): {found}"


def test_the_plain_session_writes_the_graph_it_optimized(tiny_onnx: Path, tmp_path: Path) -> None:
    out = tmp_path / "ort.onnx"
    sess = ort_session(tiny_onnx, level="basic", save_to=out)
    feeds = {i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape], np.float32) for i in sess.get_inputs()}
    assert out.is_file() and sess.run(None, feeds)
