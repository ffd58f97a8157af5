"""Imports flow one way: the faces (``lepton.api``, ``lepton.cli``) -> the stages -> the base modules.

Every import in every module counts, the ones inside functions too (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lepton

ROOT = Path(lepton.__file__).parent
FACES = ("lepton.api", "lepton.cli", "lepton.schemas", "lepton.__main__")
BASE = (
    "lepton.errors",
    "lepton.settings",
    "lepton.registry",
    "lepton.contract",
    "lepton.progress",
    "lepton.fileio",
    "lepton.wire",
)


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in the file (``from lepton import api`` counts as lepton.api)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in out if m == "lepton" or m.startswith("lepton.")}


def is_under(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


MODULES = sorted((module_name(p), p) for p in ROOT.rglob("*.py"))
STAGES = [(m, p) for m, p in MODULES if not is_under(m, FACES) and m != "lepton"]


def test_the_walk_sees_every_stage_package() -> None:
    packages = {m.split(".")[1] for m, _ in STAGES if m.count(".") >= 1}
    assert {"ir", "passes", "engines", "measure", "cost", "navigate", "store", "report", "serve"} <= packages


@pytest.mark.parametrize(("module", "path"), STAGES, ids=[m for m, _ in STAGES])
def test_no_stage_imports_a_face(module: str, path: Path) -> None:
    faces = sorted(m for m in imported(path) if is_under(m, FACES))
    assert not faces, f"{module} imports {faces}: move what it needs out of the face into a stage"


@pytest.mark.parametrize(("module", "path"), [(m, p) for m, p in MODULES if m in BASE], ids=list(BASE))
def test_base_modules_import_only_base_modules(module: str, path: Path) -> None:
    others = sorted(m for m in imported(path) if not is_under(m, BASE) and m != "lepton")
    assert not others, f"{module} is a base module but imports {others}"


def test_the_ir_stage_stands_alone() -> None:
    """Intake is the root of every stage: it may use only the base modules, itself, and the store it commits to
    (never the examples, measure, passes, engines, navigate, serve ...)."""
    for module, path in STAGES:
        if is_under(module, ("lepton.ir",)):
            allowed = ("lepton.ir", "lepton.store", *BASE)
            bad = sorted(m for m in imported(path) if not is_under(m, allowed) and m != "lepton")
            assert not bad, f"{module} imports {bad}"
