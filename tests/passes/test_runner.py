"""The runner owns the loop around a pass: cache, check, opset prerequisite, build, validation, commit, fallback.

The passes here are small plug-ins registered for one test (real rewrites, real ONNX files, the real store).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import onnx
import pytest
from onnx import helper
from onnx_models import small_cnn
from pass_helpers import commit, run

from lepton.errors import NotApplicable, PassError
from lepton.ir.artifact import Artifact
from lepton.ir.onnx_intake import default_opset
from lepton.passes import PASSES, Pass, PassContext, PassParams, apply_chain, apply_pass
from lepton.passes.base import Fallback, load_model, save_model
from lepton.passes.opset import OpsetConversionError
from lepton.passes.quantize import PER_CHANNEL_OPSET, StaticInt8
from lepton.passes.runner import build_scratch
from lepton.store import Store

BUILDS: list[str] = []


class NegateParams(PassParams):
    times: int = 2


class Negate(Pass[NegateParams]):
    """Negates the output ``times`` times (even: the outputs are unchanged); needs opset 13 if asked to."""

    Params = NegateParams
    opset: ClassVar[int] = 0

    def min_opset(self, artifact: Artifact) -> int:
        return self.opset

    def build(self, artifact: Artifact, ctx: PassContext, work: Path) -> None:
        BUILDS.append(self.name)
        model = load_model(artifact)
        out = model.graph.output[0].name
        for n in model.graph.node:
            n.output[:] = [o if o != out else out + "_0" for o in n.output]
        for i in range(self.params.times):
            last = out if i == self.params.times - 1 else f"{out}_{i + 1}"
            model.graph.node.append(helper.make_node("Neg", [f"{out}_{i}"], [last], name=f"neg{i}"))
        save_model(model, work)


class NeedsOpset13(Negate):
    """Negate, declaring that it needs opset 13."""

    opset: ClassVar[int] = 13


class Broken(Negate):
    """Fails while building; falls back to Negate with ``times=4``."""

    def build(self, artifact: Artifact, ctx: PassContext, work: Path) -> None:
        BUILDS.append(self.name)
        raise PassError(f"{self.name}: the tool failed")

    def fallback(self, error: PassError) -> Fallback | None:
        return Fallback(PASSES.get("negate")(times=4), f"negate 4x: {error}")


class WritesGarbage(Negate):
    """Writes a model.onnx that is not a valid graph."""

    def build(self, artifact: Artifact, ctx: PassContext, work: Path) -> None:
        model = load_model(artifact)
        model.graph.node[0].input[0] = "nowhere"
        onnx.save_model(model, str(work / "model.onnx"))


class Crashes(Negate):
    """Crashes inside 'third-party tooling'."""

    def build(self, artifact: Artifact, ctx: PassContext, work: Path) -> None:
        raise KeyError("exotic op")


@pytest.fixture(autouse=True)
def plugins() -> Iterator[None]:
    BUILDS.clear()
    kinds: dict[str, type[Pass[Any]]] = {
        "negate": Negate,
        "negate-13": NeedsOpset13,
        "broken": Broken,
        "garbage": WritesGarbage,
        "crashes": Crashes,
    }
    for name, cls in kinds.items():
        PASSES.register(name)(cls)
    yield
    for name in kinds:
        PASSES.unregister(name)


@pytest.fixture
def cnn11(store: Store, tmp_path: Path) -> Artifact:
    art: Artifact = commit(store, small_cnn(tmp_path / "cnn11.onnx", opset=11, ir_version=6, seed=1))
    return art


def _files(store: Store) -> list[str]:
    return sorted(p.name for p in store.artifacts_dir.iterdir())


def test_a_step_is_built_once_then_taken_from_the_cache(
    mlp: Artifact, store: Store, ctx_for: Callable[..., PassContext]
) -> None:
    child = apply_pass(mlp, PASSES.get("negate")(), ctx_for())
    assert (child.lineage.parent, child.lineage.pass_name, dict(child.lineage.pass_params)) == (
        mlp.id,
        "negate",
        {"times": 2},
    )
    before = _files(store)
    assert apply_chain(mlp, [PASSES.get("negate")(times=2)], ctx_for()).id == child.id
    assert BUILDS == ["negate"] and _files(store) == before  # built once: the second call is a cache hit
    x = np.random.default_rng(0).random((3, 64)).astype(np.float32)
    np.testing.assert_allclose(run(child, {"x": x}), run(mlp, {"x": x}))


def test_a_declared_minimum_opset_runs_one_cached_conversion_first(
    cnn11: Artifact, store: Store, ctx_for: Callable[..., PassContext]
) -> None:
    child = apply_pass(cnn11, PASSES.get("negate-13")(), ctx_for())
    assert child.lineage.parent is not None
    parent = store.artifact(child.lineage.parent)
    assert (parent.lineage.pass_name, dict(parent.lineage.pass_params)) == ("convert-opset", {"opset": 13})
    assert parent.lineage.parent == cnn11.id and default_opset(onnx.load(str(child.model_path))) == 13
    before = _files(store)
    assert apply_pass(cnn11, PASSES.get("negate-13")(), ctx_for()).id == child.id
    assert BUILDS == ["negate-13"] and _files(store) == before
    # the converted model needs nothing more: the pass applies to it directly, the conversion is not re-entered
    assert apply_pass(parent, PASSES.get("negate-13")(), ctx_for()).id == child.id


def test_a_declared_fallback_is_built_instead_and_recorded(
    mlp: Artifact, store: Store, ctx_for: Callable[..., PassContext]
) -> None:
    child = apply_pass(mlp, PASSES.get("broken")(), ctx_for())
    assert child.lineage.pass_name == "negate" and child.lineage.parent == mlp.id
    assert dict(child.lineage.pass_params) == {"times": 4, "fallback": "negate 4x: broken: the tool failed"}
    assert apply_pass(mlp, PASSES.get("broken")(), ctx_for()).id == child.id  # the stand-in is cached too
    assert BUILDS == ["broken", "negate", "broken"]


def test_static_qdq_falls_back_to_per_tensor_only_when_the_conversion_fails() -> None:
    alt = StaticInt8(per_channel=True).fallback(OpsetConversionError("no adapter for Foo"))
    assert alt is not None and alt.stand_in.params == StaticInt8(per_channel=False).params
    assert alt.note == f"per-tensor: per-channel needs opset {PER_CHANNEL_OPSET} and no adapter for Foo"
    assert StaticInt8(per_channel=True).fallback(PassError("quantizer crashed")) is None
    assert StaticInt8(per_channel=False).fallback(OpsetConversionError("x")) is None


def test_an_invalid_output_or_a_crash_is_this_candidate_s_pass_error(
    mlp: Artifact, store: Store, ctx_for: Callable[..., PassContext]
) -> None:
    before = _files(store)
    with pytest.raises(PassError):
        apply_pass(mlp, PASSES.get("garbage")(), ctx_for())
    with pytest.raises(PassError, match="crashes failed on .*KeyError: 'exotic op'"):
        apply_pass(mlp, PASSES.get("crashes")(), ctx_for())
    assert _files(store) == before  # nothing half-built is committed


def test_check_is_asked_before_anything_is_built(cnn: Artifact, ctx_for: Callable[..., PassContext]) -> None:
    with pytest.raises(NotApplicable, match="fuse-transformer: no transformer encoder pattern"):
        apply_pass(cnn, PASSES.get("fuse-transformer")(), ctx_for())


def test_a_scratch_build_applies_prerequisites_and_validates_but_commits_nothing_of_its_own(
    cnn11: Artifact, mlp: Artifact, store: Store, ctx_for: Callable[..., PassContext], tmp_path: Path
) -> None:
    """The sensitivity ranking's throwaway builds go through the same loop as committed ones."""
    work = tmp_path / "scratch"
    work.mkdir()
    model = build_scratch(cnn11, PASSES.get("negate-13")(), ctx_for(), work)
    assert model.parent == work and default_opset(onnx.load(str(model))) == 13
    converted = [a for a in _files(store) if store.artifact(a).lineage.pass_name == "convert-opset"]
    assert len(converted) == 1  # the prerequisite is a cached step like any other ...
    assert not [a for a in _files(store) if store.artifact(a).lineage.pass_name == "negate-13"]  # ... the build not
    bad = tmp_path / "bad"
    bad.mkdir()
    with pytest.raises(PassError):
        build_scratch(mlp, PASSES.get("garbage")(), ctx_for(), bad)
