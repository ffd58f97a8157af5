"""One suite run over every registered pass (the scikit-learn way), on the MLP and the CNN."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from pass_helpers import commit_ir, run

from lepton.errors import NotApplicable
from lepton.hardware import Hardware
from lepton.ir.artifact import FORMATS, Artifact
from lepton.ir.openvino_ir import read_model
from lepton.passes import PASSES, Pass, PassContext
from lepton.store import Store

CAPABILITIES = {"cpu", "gpu", "int8", "bf16", "fp16"}
FAMILIES = {"graph", "quantize", "precision", "prune"}
NAMES = PASSES.names()


def folder_hash(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode() + p.read_bytes())
    return h.hexdigest()


def test_the_library_has_every_family() -> None:
    assert {PASSES.get(n).family for n in NAMES} == FAMILIES
    assert {
        "fuse-transformer",
        "optimize-graph",
        "quantize-dynamic",
        "quantize-static",
        "fp16",
        "bf16",
        "prune-magnitude",
        "prune-structured",
        "quantize-nncf",
        "quantize-nncf-accuracy",
    } <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_declarations_are_on_the_class(name: str) -> None:
    cls = PASSES.get(name)
    assert cls.name == name
    assert isinstance(cls.needs, frozenset) and cls.needs <= CAPABILITIES and cls.needs
    assert cls.family in FAMILIES
    assert cls.__doc__
    assert cls.accepts and cls.accepts <= set(FORMATS) and cls.produces in FORMATS


@pytest.mark.parametrize("name", NAMES)
def test_a_format_the_pass_cannot_read_is_refused(
    name: str, mlp: Artifact, hw: Hardware, ctx_for: Callable[..., PassContext]
) -> None:
    ir = commit_ir(ctx_for().store, mlp)
    p = PASSES.get(name)()
    why = p.check(ir, hw)  # never a crash on a format it does not read
    assert why is None or (isinstance(why, str) and why)
    if "openvino" not in type(p).accepts:
        assert why is not None and "openvino" in why
        with pytest.raises(NotApplicable, match="reads only onnx"):
            p.apply(ir, ctx_for())


@pytest.mark.parametrize("name", NAMES)
def test_init_only_stores_keyword_params(name: str) -> None:
    cls = PASSES.get(name)
    sig = inspect.signature(cls.__init__)
    params = [p for p in sig.parameters.values() if p.name != "self"]
    assert all(p.kind is p.KEYWORD_ONLY and p.default is not p.empty for p in params)
    p = cls()
    stored = p.params()
    assert set(stored) == {q.name for q in params}  # every param stored under its own name, nothing else
    for q in params:
        default = q.default
        assert stored[q.name] == (list(default) if isinstance(default, tuple) else default)
    assert type(p)(**stored).params() == stored  # params round-trip: the cache key rebuilds the pass


# A refusal each built-in pass really gives on a real model: bad params, or a model it cannot apply to.
REFUSALS: dict[str, tuple[dict[str, object], str]] = {
    "quantize-dynamic": ({"weight_type": "int3"}, "weight_type 'int3'"),
    "quantize-static": ({"calibrate_method": "vibes"}, "calibrate_method 'vibes'"),
    "optimize-graph": ({"level": "all"}, "not portable"),
    "fuse-transformer": ({}, "no transformer encoder pattern"),  # the MLP is not a transformer
    "prune-magnitude": ({"sparsity": 1.5}, "sparsity must be between 0 and 1"),
    "prune-structured": ({"sparsity": 0.0}, "sparsity must be between 0 and 1"),
    "convert-opset": ({"opset": 12}, "only upgrades are made"),  # the MLP is at opset 17 already
    "quantize-nncf": ({"preset": "vibes"}, "preset 'vibes'"),
    "quantize-nncf-accuracy": ({"drop_type": "vibes"}, "drop_type 'vibes'"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_check_refuses_with_a_reason_and_init_accepts(name: str, mlp: Artifact, hw: Hardware) -> None:
    params, words = REFUSALS[name]
    p = PASSES.get(name)(**params)  # __init__ only stores: even nonsense is accepted here
    why = p.check(mlp, hw)
    assert isinstance(why, str) and words in why, why
    with pytest.raises(NotApplicable, match=name):
        p.apply(mlp, PassContext(store=Store(), hardware=hw))


def test_every_built_in_pass_that_validates_has_a_refusal_case() -> None:
    precision = {n for n in NAMES if PASSES.get(n).family == "precision"}  # refused by the machine, tested below
    built_in = {n for n in NAMES if PASSES.get(n).__module__.startswith("lepton.passes.")}
    assert built_in - precision <= set(REFUSALS)


@pytest.mark.parametrize("name", NAMES)
def test_declared_needs_hold(name: str, mlp: Artifact) -> None:
    cls = PASSES.get(name)
    bare = Hardware("Bare CPU", "unknown", "x86_64", 2, 2, 4.0, frozenset(), ())
    why = cls().check(mlp, bare)
    if cls.needs - bare.capabilities():
        assert isinstance(why, str) and why  # a pass that needs what the machine lacks says so


@pytest.mark.parametrize("model", ["mlp", "cnn"])
@pytest.mark.parametrize("name", NAMES)
def test_pass_conforms(
    name: str, model: str, request: pytest.FixtureRequest, hw: Hardware, ctx_for: Callable[..., PassContext]
) -> None:
    art: Artifact = request.getfixturevalue(model)
    p: Pass = PASSES.get(name)()
    why = p.check(art, hw)
    assert why is None or (isinstance(why, str) and why)
    before = folder_hash(art.path)
    x = np.random.default_rng(0).random((3, 64) if model == "mlp" else (3, 1, 8, 8)).astype(np.float32)
    if why is not None:
        with pytest.raises(NotApplicable, match=name):
            p.apply(art, ctx_for())
        return
    try:
        child = p.apply(art, ctx_for())
    except NotApplicable as e:  # found only while building (e.g. nothing to fuse): must say why
        assert name in str(e)
        return
    assert folder_hash(art.path) == before  # the input artifact is unchanged on disk
    assert child.format == p.produces
    if child.format == "onnx":
        onnx.checker.check_model(str(child.model_path))
    else:
        read_model(child.model_path)  # OpenVINO IR: model.xml + model.bin that OpenVINO reads
    assert child.signature == art.signature
    assert child.lineage.parent == art.id and child.lineage.pass_name == name
    assert child.files == art.files and all((child.path / rel).exists() for rel in child.files.values())
    out = run(child, {"x": x})
    assert out.shape == run(art, {"x": x}).shape and np.isfinite(out).all()
