"""The default chains the navigator tries."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pass_helpers import fake_hardware

from lepton.ir.artifact import Artifact
from lepton.passes import PassContext, apply_chain
from lepton.passes.defaults import candidate_chains, sensitivity_candidates


def test_default_chains_put_the_int8_recipe_first_and_skip_what_the_machine_lacks(mlp: Artifact) -> None:
    plain = candidate_chains(mlp, fake_hardware(flags=("avx512_vnni",)))
    assert [p.name for p in plain[0]] == ["optimize-graph", "quantize-dynamic"]
    assert plain[0][1].params()["per_channel"] is True and plain[0][1].params()["weight_type"] == "qint8"
    assert [] in plain
    assert not any(p.name in ("fp16", "bf16") for c in plain for p in c[:1])
    gpu = candidate_chains(mlp, fake_hardware(gpus=("NVIDIA H100",)), with_pruning=True)
    assert any(c[-1].name == "quantize-dynamic" and c[-2].name == "prune-structured" for c in gpu if len(c) > 1)


def test_sensitivity_candidates_build_int8_chains_with_float_nodes(
    mlp: Artifact, digits_feeds: list[dict[str, np.ndarray]], ctx_for: Callable[..., PassContext]
) -> None:
    ctx = ctx_for()
    report, chains = sensitivity_candidates(mlp, ctx, feeds=digits_feeds, target=0.999999)
    excluded = [tuple(c[-1].params()["nodes_to_exclude"]) for c in chains]
    assert () in excluded and len(set(excluded)) == len(chains)
    art = apply_chain(mlp, chains[-1], ctx)
    assert art.lineage.pass_params["nodes_to_exclude"] == list(excluded[-1])
    assert report.ranking
