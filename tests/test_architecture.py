"""Imports flow one way, down an ordered list of layers: the faces -> the stages -> the base modules.

Every import in every module counts: top-level ones, the ones inside functions (a lazy import is still a
dependency) and the ones under ``if TYPE_CHECKING:`` (a type a module names is a type it depends on; moving it
down is what keeps the picture true). A module may import its own package and any lower layer, never a higher
layer nor a peer of its own stage layer; within the base (L0) and the faces (L8) modules may use one another in
one direction, which the acyclic package graph checks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lepton

ROOT = Path(lepton.__file__).parent

# Each layer: the top-level modules and packages of ``lepton`` it holds ("" is ``lepton/__init__.py``).
LAYERS: list[tuple[str, ...]] = [
    # L0 base: vocabularies and rules with no stage behind them
    (
        "errors",
        "settings",
        "registry",
        "contract",
        "progress",
        "options",
        "constraints",
        "hardware",
        "slo",
        "format",
        "quality",
        "similarity",
        "fileio",
        "wire",
    ),
    ("ir",),  # L1 the artifact, signature, intake (building), text, graph ranges, input synthesis
    ("store",),  # L2 artifacts, runs (the stages' JSON by kind), the commit of what intake built
    ("passes", "engines", "cost"),  # L3 peers
    ("measure",),  # L4 workload, timing, trial, the Measurer seam
    ("navigate", "training"),  # L5 peers; navigate owns Deployment
    ("report", "serve"),  # L6 peers
    ("distributed",),  # L7 Ray adapters, injected by the faces
    ("api", "cli", "schemas", "__main__", "client", "resolve", "examples", ""),  # L8 faces
]
OPEN = (0, len(LAYERS) - 1)  # the base and the faces: peers may import one another (without a cycle)


def package_of(module: str) -> str:
    """``lepton.navigate.run`` -> ``navigate``; ``lepton.format`` -> ``format``; ``lepton`` -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


LAYER_OF = {p: i for i, layer in enumerate(LAYERS) for p in layer}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path) -> dict[str, int]:
    """Every ``lepton`` module ``path`` imports, anywhere in the file, with the line: ``from lepton import api``
    counts as ``lepton.api``; ``from lepton import __version__`` as ``lepton``."""
    out: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.setdefault(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "lepton":
                for alias in node.names:
                    sub = f"lepton.{alias.name}"
                    known = (ROOT / alias.name).is_dir() or (ROOT / f"{alias.name}.py").exists()
                    out.setdefault(sub if known else "lepton", node.lineno)
            else:
                out.setdefault(node.module, node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}:{node.lineno}: a relative import; write the absolute lepton.* path")
    return {m: line for m, line in out.items() if m == "lepton" or m.startswith("lepton.")}


MODULES = sorted((module_name(p), p) for p in ROOT.rglob("*.py"))


def test_every_package_has_a_layer() -> None:
    packages = {package_of(m) for m, _ in MODULES}
    assert not packages - set(LAYER_OF), f"add {sorted(packages - set(LAYER_OF))} to LAYERS"
    stale = {p for p in LAYER_OF if p not in packages}
    assert not stale, f"LAYERS names {sorted(stale)}, which no longer exist"


def test_layers_list_each_package_once() -> None:
    names = [p for layer in LAYERS for p in layer]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_imports_go_down_the_layers(module: str, path: Path) -> None:
    mine = package_of(module)
    level = LAYER_OF[mine]
    bad = []
    for target, line in sorted(imported(path).items()):
        theirs = package_of(target)
        if theirs == mine:
            continue
        there = LAYER_OF.get(theirs)
        if there is None:
            bad.append(f"line {line}: {target} (a module no layer holds)")
        elif there > level:
            bad.append(f"line {line}: {target} (L{there}, above L{level})")
        elif there == level and level not in OPEN:
            bad.append(f"line {line}: {target} (a peer in L{level}: peers never import each other)")
    assert not bad, f"{module} (L{level}) imports upward or sideways: " + "; ".join(bad)


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {package_of(m): set() for m, _ in MODULES}
    for module, path in MODULES:
        mine = package_of(module)
        graph[mine] |= {package_of(t) for t in imported(path)} - {mine}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (a path that returns to its start), or None when it is acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_package_graph_has_no_cycle() -> None:
    found = cycle(package_graph())
    assert found is None, "package import cycle: " + " -> ".join(p or "lepton" for p in found or [])


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_walk_sees_every_stage_package() -> None:
    packages = {package_of(m) for m, _ in MODULES}
    assert {"ir", "passes", "engines", "measure", "cost", "navigate", "store", "report", "serve"} <= packages


def test_the_walk_counts_lazy_and_type_checking_imports() -> None:
    imports = imported(ROOT / "api.py")
    assert "lepton.distributed.measurer" in imports  # inside a function
    assert "lepton.training.options" in imports  # under TYPE_CHECKING
