"""One suite run over every registered pass (the scikit-learn way), on the MLP and the CNN."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from pass_helpers import commit_ir, run

from lepton.errors import NotApplicable, UserError
from lepton.hardware import Hardware
from lepton.ir.artifact import FORMATS, Artifact
from lepton.ir.openvino_ir import read_model
from lepton.measure.trial import ChainStep
from lepton.passes import PASSES, Pass, PassContext, PassParams, apply_pass, check_step
from lepton.store import Store

CAPABILITIES = {"cpu", "gpu", "int8", "bf16", "fp16"}
FAMILIES = {"graph", "quantize", "precision", "prune", "llm"}
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
    for proposal in cls.proposals:  # what the navigator tries by default is valid for the pass's Params
        cls(**proposal.params)


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
        with pytest.raises(NotApplicable, match="reads only (onnx|hf-causal|openvino-genai)"):
            apply_pass(ir, p, ctx_for())


@pytest.mark.parametrize("name", NAMES)
def test_init_only_stores_the_declared_params(name: str) -> None:
    cls = PASSES.get(name)
    assert cls.__init__ is Pass.__init__  # no pass writes its own: the params model is the one declaration
    assert issubclass(cls.Params, PassParams) and cls.Params.model_config.get("frozen")
    assert all(not f.is_required() for f in cls.Params.model_fields.values())  # every param has a default
    p = cls()
    assert vars(p) == {"params": cls.Params()}  # nothing else is stored, nothing is read
    stored = p.params.to_json()
    assert list(stored) == sorted(cls.Params.model_fields)  # the cache key: every param under its own name
    assert cls(**stored).params == p.params  # params round-trip: the recorded chain rebuilds the pass
    check_step(name, stored)  # and a trial's chain step with them is valid


# A param each built-in pass refuses, with the words its one-line UserError says.
BAD_PARAMS: dict[str, tuple[dict[str, object], str]] = {
    "quantize-dynamic": ({"weight_type": "int3"}, "param weight_type should be 'qint8' or 'quint8'; got 'int3'"),
    "quantize-static": ({"calibrate_method": "vibes"}, "param calibrate_method should be"),
    "optimize-graph": ({"level": "all"}, "param level should be 'basic' or 'extended'; got 'all'"),
    "fuse-transformer": ({"num_heads": -1}, "param num_heads should be greater than or equal to 0; got -1"),
    "prune-magnitude": ({"sparsity": 1.5}, "param sparsity should be less than 1; got 1.5"),
    "prune-structured": ({"sparsity": 0.0}, "param sparsity should be greater than 0; got 0.0"),
    "convert-opset": ({"opset": -1}, "param opset should be greater than or equal to 0"),
    "quantize-nncf": ({"preset": "vibes"}, "param preset should be"),
    "quantize-nncf-accuracy": ({"drop_type": "vibes"}, "param drop_type should be 'absolute' or 'relative'"),
    "fp16": ({"op_block_list": 3}, "param op_block_list should be a valid tuple"),
    "bf16": ({"op_block_list": 3}, "param op_block_list should be a valid tuple"),
    "genai-build": ({"precision": "int2"}, "param precision should be 'fp32', 'int8' or 'int4'; got 'int2'"),
    "openvino-gguf": ({"weights": "q2_k"}, "param weights should be 'f16', 'q8_0' or 'source'; got 'q2_k'"),
    "openvino-compress": ({"ratio": 1.5}, "param ratio should be less than or equal to 1; got 1.5"),
}


@pytest.mark.parametrize("name", sorted(BAD_PARAMS))
def test_a_bad_param_is_a_user_error_of_one_line(name: str) -> None:
    params, words = BAD_PARAMS[name]
    with pytest.raises(UserError) as bad:
        PASSES.get(name)(**params)
    assert str(bad.value).startswith(f"{name}: ") and words in str(bad.value) and "\n" not in str(bad.value)
    with pytest.raises(UserError, match=f"{name}: unknown param 'vibes'; its params are: "):
        PASSES.get(name)(vibes=1)
    with pytest.raises(ValueError, match=words.split(";")[0]):  # a recorded chain step is checked the same way
        check_step(name, params)


def test_every_built_in_pass_has_a_bad_param_case() -> None:
    built_in = {n for n in NAMES if PASSES.get(n).__module__.startswith("lepton.passes.")}
    assert built_in <= set(BAD_PARAMS)


def test_a_step_of_a_pass_that_does_not_exist_is_refused() -> None:
    with pytest.raises(UserError, match="unknown pass 'graph-fusion'; known: .*fuse-transformer"):
        check_step("graph-fusion", {})
    # a trial's chain is checked when it is read: a record naming a made-up pass or param does not validate
    with pytest.raises(ValueError, match="unknown pass 'graph-fusion'"):
        ChainStep.model_validate({"pass": "graph-fusion", "params": {}})
    with pytest.raises(ValueError, match="quantize-static: unknown param 'samples'"):
        ChainStep.model_validate({"pass": "quantize-static", "params": {"samples": 64}})
    assert ChainStep.model_validate({"pass": "quantize-static", "params": {"max_batches": 64}}).params == {
        "max_batches": 64
    }  # the record keeps what it was given (its JSON is unchanged)


@pytest.mark.parametrize("name", NAMES)
def test_a_quality_bounded_twin_takes_every_param_of_its_pass(name: str) -> None:
    twin = PASSES.get(name).recovered_by
    if twin is None:
        with pytest.raises(NotApplicable, match="has no quality-bounded twin"):
            PASSES.get(name)().bounded(max_drop=0.01, drop_type="absolute")
        return
    assert issubclass(PASSES.get(twin).Params, PASSES.get(name).Params)  # the twin inherits its Params
    p = PASSES.get(name)()
    bounded = p.bounded(max_drop=0.02, drop_type="relative")  # what the navigator's recovery stage builds
    assert bounded.name == twin and bounded.params.max_drop == 0.02 and bounded.params.drop_type == "relative"
    assert {k: v for k, v in bounded.params.model_dump().items() if k in type(p.params).model_fields} == dict(p.params)


# A refusal each pass gives on a real model it cannot apply to (valid params).
REFUSALS: dict[str, tuple[dict[str, object], str]] = {
    "fuse-transformer": ({}, "no transformer encoder pattern"),  # the MLP is not a transformer
    "convert-opset": ({"opset": 12}, "only upgrades are made"),  # the MLP is at opset 17 already
    "quantize-dynamic": ({"op_types": ["Attention"]}, "no Attention with constant weights to quantize"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_check_refuses_with_a_reason_and_the_runner_says_not_applicable(name: str, mlp: Artifact, hw: Hardware) -> None:
    params, words = REFUSALS[name]
    p = PASSES.get(name)(**params)
    why = p.check(mlp, hw)
    assert isinstance(why, str) and words in why, why
    with pytest.raises(NotApplicable, match=name):
        apply_pass(mlp, p, PassContext(store=Store(), hardware=hw))


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
            apply_pass(art, p, ctx_for())
        return
    try:
        child = apply_pass(art, p, ctx_for())
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
