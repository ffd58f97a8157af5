"""A variant beside its parent: what the pass added, what got faster, and the measured reason a slower variant is
slower (measure/op_diff.py, navigate/profiled.py, the verdict's note)."""

from __future__ import annotations

import numpy as np
import pytest
from trials import trial

from lepton.engines import RuntimeConfig
from lepton.engines.profile import OpProfile, OpTime
from lepton.ir.artifact import Artifact
from lepton.measure.op_diff import OpDiff, diff_profiles
from lepton.navigate.explain import slower_notes
from lepton.navigate.profiled import cause_from_profiles, profile_pair
from lepton.store import Store

Digits = tuple[Artifact, dict[str, np.ndarray]]


@pytest.fixture(scope="module")
def cnn_diff(digits: Digits, digits_int8: Artifact) -> OpDiff:
    art, feeds = digits
    return profile_pair(art, digits_int8, "onnxruntime", RuntimeConfig(intra_op_threads=1), feeds, runs=5)[2]


def test_the_diff_lists_what_dynamic_int8_added_and_removed(cnn_diff: OpDiff) -> None:
    added = {r.op_type for r in cnn_diff.added}
    assert {"DynamicQuantizeLinear", "ConvInteger"} <= added
    assert "Conv" in {r.op_type for r in cnn_diff.rows if r.change == "removed"}
    assert cnn_diff.int8_nodes >= 3 and cnn_diff.float_layers == ()  # every conv and linear runs in int8


def test_dynamic_int8_on_the_cnn_is_slower_and_the_reason_names_the_op_types(cnn_diff: OpDiff) -> None:
    assert cnn_diff.ratio > 1.05  # FACTS.md: dynamic int8 ran 0.13-0.5x of fp32 on CNNs here
    reason = cnn_diff.reason or ""
    top = max(cnn_diff.rows, key=lambda r: r.delta_ms)
    assert top.op_type in reason and "% " in reason
    assert "ConvInteger" in reason or "DynamicQuantizeLinear" in reason


def _profile(ms: dict[str, float], wall: float) -> OpProfile:
    ops = tuple(OpTime(node=f"n{i}", op_type=op, ms=t) for i, (op, t) in enumerate(ms.items()))
    return OpProfile(engine="onnxruntime", runs=1, batch_size=1, wall_ms=wall, ops=ops)


def test_the_reason_shares_the_added_time_by_op_type() -> None:
    parent = _profile({"Conv": 4.0}, 4.0)
    child = _profile({"ConvInteger": 3.0, "DynamicQuantizeLinear": 3.0, "Cast": 1.0}, 7.0)
    d = diff_profiles(parent, child)
    assert d.reason is not None
    assert (
        "of the 7 ms added, 43% ConvInteger" in d.reason or "of the 7 ms added, 43% DynamicQuantizeLinear" in d.reason
    )
    assert "in place of Conv (4 ms saved)" in d.reason
    assert diff_profiles(child, parent).reason is None  # faster: nothing to explain


def test_the_verdict_note_cites_the_profiled_reason(digits_store: Store, digits: Digits, digits_int8: Artifact) -> None:
    art, feeds = digits
    base = trial("t1", artifact=art.id, variant="base", batch=16, threads=1, throughput=1000.0)
    slow = trial(
        "t2",
        artifact=digits_int8.id,
        variant="int8",
        parent="base",
        batch=16,
        threads=1,
        throughput=300.0,
        chain=(("quantize-dynamic", {}),),
    )
    notes = slower_notes([base, slow], cause_from_profiles(digits_store, lambda b: feeds))
    assert "Profiled: " in notes["int8"] and "Likely cause" not in notes["int8"]
    assert "ConvInteger" in notes["int8"] or "DynamicQuantizeLinear" in notes["int8"]
    assert "Likely cause: activations are quantized" in slower_notes([base, slow])["int8"]  # without profiling
