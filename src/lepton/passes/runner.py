"""The one loop that applies a pass: what it needs first, the cache, build, validation, commit, a fallback.

A pass only declares (``Params``, ``check``, ``min_opset``, ``fallback``) and builds; ``apply_pass`` owns the rest:

1. the cache: a pass already applied to this parent with the same params (and context data) is reused;
2. ``check``: why the pass does not apply (``NotApplicable``);
3. prerequisites: a pass declaring a minimum opset gets a cached ``convert-opset`` step first, and is then
   applied to the converted model (its parent in the lineage);
4. build into a fresh folder, validate the output (``onnx.checker``, OpenVINO's reader), commit the child;
5. on a ``PassError`` the pass may name a stand-in (``Pass.fallback``), applied instead with its note in the
   lineage (``fallback``).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnx

from lepton.errors import LeptonError, NotApplicable, PassError, one_line
from lepton.ir.artifact import META_FILE, MODEL_FILE, MODEL_FILES, Artifact, Lineage
from lepton.passes.base import Pass, PassContext, save_model
from lepton.passes.opset import ConvertOpset, model_opset


def apply_chain(artifact: Artifact, passes: Sequence[Pass[Any]], ctx: PassContext) -> Artifact:
    """Run ``passes`` in order, each through ``apply_pass`` (cached by parent id, pass name and params).

    Raises NotApplicable (with the pass name) or PassError from the first step that fails.
    """
    current = artifact
    for p in passes:
        current = apply_pass(current, p, ctx)
    return current


def apply_pass(artifact: Artifact, p: Pass[Any], ctx: PassContext, *, note: str | None = None) -> Artifact:
    """The child ``p`` makes from ``artifact``: from the cache, or built, validated and committed.

    Raises NotApplicable when ``check`` says no, PassError when building fails and no fallback is declared.
    ``note`` (a fallback's reason) is recorded in the lineage and is part of the cache key.
    """
    key = cache_key(artifact, p, ctx, note)
    hit = ctx.store.find_cached(artifact.id, p.name, key)
    if hit is not None:
        return hit
    why = p.check(artifact, ctx.hardware)
    if why:
        raise NotApplicable(f"{p.name}: {why}")
    try:
        parent = prerequisites(artifact, p, ctx)
        if parent.id != artifact.id:
            return apply_pass(parent, p, ctx, note=note)  # the converted model is the parent: cached there
        return _build(artifact, p, ctx, key)
    except PassError as e:
        alt = p.fallback(e)
        if alt is None:
            raise
        return apply_pass(artifact, alt.stand_in, ctx, note=alt.note)


def cache_key(artifact: Artifact, p: Pass[Any], ctx: PassContext, note: str | None = None) -> dict[str, Any]:
    """The params a step is cached and recorded under: the pass's ``cache_params``, plus a fallback's note."""
    params = p.cache_params(artifact, ctx)
    return {**params, "fallback": note} if note else params


def prerequisites(artifact: Artifact, p: Pass[Any], ctx: PassContext) -> Artifact:
    """``artifact`` with what ``p`` needs first: converted to the opset ``p`` declares (a cached ``convert-opset``
    step), or itself. Raises OpsetConversionError when the conversion fails."""
    need = p.min_opset(artifact)
    if not need or isinstance(p, ConvertOpset):
        return artifact
    current = model_opset(artifact)
    if current is None or current >= need:
        return artifact
    return apply_pass(artifact, ConvertOpset(opset=need), ctx)


def _build(parent: Artifact, p: Pass[Any], ctx: PassContext, key: dict[str, Any]) -> Artifact:
    with ctx.store.workdir() as work:
        _build_into(parent, p, ctx, work)
        return commit_child(parent, work, ctx, p.name, key, format=p.produces)


def _build_into(parent: Artifact, p: Pass[Any], ctx: PassContext, work: Path) -> None:
    try:
        p.build(parent, ctx, work)
        validate_output(work, p.produces)
    except LeptonError:
        raise
    except Exception as e:  # any crash inside third-party tooling is this candidate's failure
        raise PassError(f"{p.name} failed on {parent.id}: {type(e).__name__}: {one_line(e)}") from e


def build_scratch(artifact: Artifact, p: Pass[Any], ctx: PassContext, work: Path) -> Path:
    """A throwaway build of ``p`` on ``artifact`` into ``work``, for a measurement that never enters the store
    (the sensitivity ranking quantizes the model once per node): checked, its prerequisites applied (cached like
    any step), built and validated like a committed child, but neither cached nor committed, and with no
    fallback (a stand-in would measure something else). Returns the model file."""
    why = p.check(artifact, ctx.hardware)
    if why:
        raise NotApplicable(f"{p.name}: {why}")
    parent = prerequisites(artifact, p, ctx)
    _build_into(parent, p, ctx, work)
    return work / MODEL_FILES[p.produces]


def validate_output(work: Path, fmt: str = "onnx") -> None:
    """The pass's output is a valid model of its format: ``onnx.checker`` for ONNX, OpenVINO's reader for IR."""
    model_path = work / MODEL_FILES[fmt]
    if not model_path.exists():
        raise PassError(f"the pass wrote no {model_path.name}")
    if fmt == "genai-onnx":  # an ONNX Runtime GenAI folder: its config names the model file
        if not (work / MODEL_FILE).exists():
            raise PassError(f"the pass wrote {model_path.name} but no {MODEL_FILE}")
        return
    if fmt != "onnx":
        weights = model_path.with_suffix(".bin")
        if not weights.exists():
            raise PassError(f"the pass wrote {model_path.name} but no {weights.name}")
        from lepton.ir.openvino_ir import read_model

        read_model(model_path, PassError)  # raises on a malformed graph or truncated weights
        return
    try:
        onnx.checker.check_model(str(model_path))  # path form: works for models with external data
    except onnx.checker.ValidationError as e:
        # ONNX Runtime's quantizer can leave nodes out of order around If/Loop nodes; ORT sorts on load, the
        # checker (and other runtimes) do not
        if "topologically sorted" not in str(e):
            raise
        model = onnx.load(str(model_path))
        if not topological_sort(model.graph):
            raise
        save_model(model, model_path.parent, model_path.name)
        onnx.checker.check_model(str(model_path))


def _reads(node: onnx.NodeProto) -> set[str]:
    """Every tensor a node reads: its inputs and the outer-scope names its subgraphs use."""
    names = {i for i in node.input if i}
    for attr in node.attribute:
        for g in [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs):
            local = {i.name for i in g.input} | {i.name for i in g.initializer} | {o for n in g.node for o in n.output}
            names |= {r for n in g.node for r in _reads(n)} - local
    return names


def topological_sort(graph: onnx.GraphProto) -> bool:
    """Reorder ``graph.node`` so every node comes after what it reads (in place); False if there is a cycle."""
    ready = {i.name for i in graph.input} | {i.name for i in graph.initializer}
    pending = [(n, _reads(n)) for n in graph.node]
    ordered: list[onnx.NodeProto] = []
    while pending:
        produced = {o for n, _ in pending for o in n.output}
        rest = []
        for n, reads in pending:
            if not (reads - ready) & produced:  # names nobody makes (outer scope) do not hold a node back
                ordered.append(n)
                ready |= set(n.output)
            else:
                rest.append((n, reads))
        if len(rest) == len(pending):
            return False
        pending = rest
    del graph.node[:]
    graph.node.extend(ordered)
    return True


def copy_extras(parent: Artifact, work: Path) -> None:
    """Copy the parent's extra files and folders (tokenizer, ...) into the child folder."""
    for rel in parent.files.values():
        src = parent.path / rel
        dst = work / rel
        if dst.exists() or not src.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)


def commit_child(
    parent: Artifact, work: Path, ctx: PassContext, pass_name: str, params: dict[str, Any], *, format: str = "onnx"
) -> Artifact:
    copy_extras(parent, work)
    (work / META_FILE).unlink(missing_ok=True)
    child = ctx.store.commit_artifact(
        work,
        signature=parent.signature,
        task=parent.task,
        source=parent.source,
        lineage=Lineage(parent.id, pass_name, params),
        files=parent.files,
        name=None,
        format=format,
    )
    return child
