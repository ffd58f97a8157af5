"""One atomic write (``lepton.fileio``): a file appears whole or not at all, and no module renames by hand."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lepton
from lepton.fileio import publish_dir, write_atomic

ROOT = Path(lepton.__file__).parent


def test_a_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "result.json"
    write_atomic(target, "old")
    write_atomic(target, b"new")
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["result.json"]


def test_a_failed_write_keeps_the_old_content(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    write_atomic(target, "old")

    class Boom(str):
        def encode(self, *a: object, **k: object) -> bytes:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(target, Boom("new"))
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_a_folder_is_published_once(tmp_path: Path) -> None:
    final = tmp_path / "artifact"
    first, second = tmp_path / "a", tmp_path / "b"
    for folder, text in ((first, "first"), (second, "second")):
        folder.mkdir()
        (folder / "model.onnx").write_text(text)
    assert publish_dir(first, final) is True
    assert publish_dir(second, final) is False
    assert (final / "model.onnx").read_text() == "first" and not second.exists()


def renames(path: Path) -> list[int]:
    """Lines of ``path`` that rename a file: ``os.rename/replace(a, b)`` or ``Path.rename/replace(b)``."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        f = node.func
        if f.attr not in ("rename", "replace"):
            continue
        on_os = isinstance(f.value, ast.Name) and f.value.id == "os"
        if on_os or (len(node.args) == 1 and not node.keywords):  # str.replace takes two arguments
            lines.append(node.lineno)
    return lines


def test_no_module_writes_temp_then_rename_by_hand() -> None:
    found = {
        str(p.relative_to(ROOT)): lines
        for p in sorted(ROOT.rglob("*.py"))
        if p != ROOT / "fileio.py" and (lines := renames(p))
    }
    assert not found, f"use lepton.fileio.write_atomic / publish_dir: {found}"


def test_a_streamed_write_appears_only_once_verified(tmp_path: Path) -> None:
    from lepton.fileio import write_stream

    def refuse(tmp: Path) -> None:
        assert tmp.read_bytes() == b"abcdef"  # the verifier sees the whole content
        raise ValueError("bad checksum")

    target = tmp_path / "big.bin"
    with pytest.raises(ValueError, match="bad checksum"):
        write_stream(target, iter([b"abc", b"def"]), verify=refuse)
    assert list(tmp_path.iterdir()) == []
    write_stream(target, iter([b"abc", b"def"]), verify=lambda tmp: None)
    assert target.read_bytes() == b"abcdef" and [p.name for p in tmp_path.iterdir()] == ["big.bin"]
