"""Per-node sensitivity: ranking, the fewest float nodes for a target, and candidates built from it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from pass_helpers import run

from lepton.errors import NotApplicable
from lepton.ir.artifact import Artifact
from lepton.passes import PassContext, apply_pass, create
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
    variant = apply_pass(mlp, create("quantize-dynamic", per_channel=False, nodes_to_exclude=report.exclude), ctx)
    ref = [run(mlp, f) for f in digits_feeds]
    assert mean_cosine(ref, [run(variant, f) for f in digits_feeds]) >= target - 1e-6
    assert len(report.exclude) in report.candidate_ks()


def test_sensitivity_refuses_a_pass_that_is_not_quantization(
    mlp: Artifact, ctx_for: Callable[..., PassContext]
) -> None:
    with pytest.raises(NotApplicable, match="cannot keep nodes in float|needs a pass that can keep nodes"):
        measure_sensitivity(mlp, ctx_for(), create("prune-magnitude"))


def test_sensitivity_candidates_extend_a_prefix_with_float_nodes(
    mlp: Artifact, digits_feeds: list[dict[str, np.ndarray]], ctx_for: Callable[..., PassContext]
) -> None:
    from lepton.passes import apply_chain
    from lepton.passes.sensitivity import sensitivity_candidates

    ctx = ctx_for()
    prefix = [create("optimize-graph")]
    report, chains = sensitivity_candidates(
        mlp, ctx, prefix, create("quantize-dynamic"), feeds=digits_feeds, target=0.999999
    )
    excluded = [tuple(c[-1].params.nodes_to_exclude) for c in chains]
    assert () in excluded and len(set(excluded)) == len(chains)
    assert all([p.name for p in c[:-1]] == ["optimize-graph"] for c in chains)
    art = apply_chain(mlp, chains[-1], ctx)
    assert art.lineage.pass_params["nodes_to_exclude"] == list(excluded[-1])
    assert report.ranking


def test_any_pass_that_keeps_nodes_in_float_can_be_analysed(
    mlp: Artifact, digits_feeds: list[dict[str, np.ndarray]], ctx_for: Callable[..., PassContext]
) -> None:
    static = create("quantize-static", calibrate_method="minmax", per_channel=True)
    report = measure_sensitivity(mlp, ctx_for(), static, feeds=digits_feeds, target=0.9999)
    assert sorted(s.node for s in report.ranking) == ["fc0", "fc1", "fc2"]
