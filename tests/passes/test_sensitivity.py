"""Per-node sensitivity: ranking, the fewest float nodes for a target, and candidates built from it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from pass_helpers import run

from lepton.errors import NotApplicable
from lepton.ir.artifact import Artifact
from lepton.passes import PassContext, create
from lepton.passes.sensitivity import mean_cosine, measure_sensitivity


def test_mean_cosine_is_one_for_identical_rows_and_lower_otherwise() -> None:
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert mean_cosine([a], [a * 3]) == pytest.approx(1.0)
    assert mean_cosine([a], [np.array([[0.0, 1.0], [0.0, 1.0]])]) == pytest.approx(0.5)


def test_sensitivity_ranks_every_node_and_finds_the_fewest_to_keep_in_float(
    mlp: Artifact, digits_feeds: list[dict[str, np.ndarray]], ctx_for: Callable[..., PassContext]
) -> None:
    ctx = ctx_for()
    coarse = create("quantize-dynamic", per_channel=False)
    probe = measure_sensitivity(mlp, ctx, coarse, feeds=digits_feeds, target=1.0)
    assert sorted(s.node for s in probe.ranking) == ["fc0", "fc1", "fc2"]
    assert [s.loss for s in probe.ranking] == sorted((s.loss for s in probe.ranking), reverse=True)
    target = (probe.all_quantized + probe.tried[max(probe.tried)]) / 2 if len(probe.tried) > 1 else 1.0
    report = measure_sensitivity(mlp, ctx, coarse, feeds=digits_feeds, target=target)
    assert report.reached and 1 <= len(report.exclude) <= 3 and report.exclude == report.top(len(report.exclude))
    variant = create("quantize-dynamic", per_channel=False, nodes_to_exclude=report.exclude).apply(mlp, ctx)
    ref = [run(mlp, f) for f in digits_feeds]
    assert mean_cosine(ref, [run(variant, f) for f in digits_feeds]) >= target - 1e-6
    assert len(report.exclude) in report.candidate_ks()


def test_sensitivity_refuses_a_pass_that_is_not_quantization(
    mlp: Artifact, ctx_for: Callable[..., PassContext]
) -> None:
    with pytest.raises(NotApplicable, match="supports quantize-dynamic"):
        measure_sensitivity(mlp, ctx_for(), create("prune-magnitude"))
