"""Probe, don't trust, the batch axis: a model that declares a symbolic batch but fixes it at 1 inside a Reshape
runs end to end at batch 1 (reference, calibration, quality, screens) and the result says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from onnx_models import batch_one_tagger

import lepton
from lepton.errors import UserError
from lepton.measure.batch_axis import probe_batch
from lepton.measure.workload import make_workload


@pytest.fixture
def tagger(tmp_path: Path, lepton_home: Path) -> Any:
    return lepton.import_model(batch_one_tagger(tmp_path / "tagger.onnx"), name="tagger", shape=["x=1,16"])


def test_the_probe_names_the_node_that_fixes_the_batch(tagger: Any) -> None:
    limit = probe_batch(tagger, make_workload(tagger), [1, 8])
    assert limit is not None and limit.largest == 1 and limit.failed_at == 2
    assert limit.note().startswith("runs only at batch 1: node 'node_view' (Reshape) fixes it")


@pytest.mark.slow
def test_a_model_fixed_at_batch_1_inside_optimizes_at_batch_1_and_says_why(tagger: Any, fast: dict[str, Any]) -> None:
    result = lepton.optimize(tagger, batch=[1, 4], sensitivity="off", **fast)
    assert result.verdict in ("recommend", "keep")
    why = [n for n in result.notes if n.startswith("runs only at batch 1: node 'node_view' (Reshape) fixes it")]
    assert why and "--batch 4 left out" in why[0], result.notes
    measured = [t for t in result.trials if t.measured]
    assert measured and {t.batch_size for t in measured} == {1}
    calibrated = [t for t in result.trials if any(s.pass_ == "quantize-static" for s in t.chain)]
    assert calibrated and any(t.measured for t in calibrated)  # calibration fed it batches of 1


def test_a_model_that_fails_at_batch_1_too_is_the_users_to_fix(tmp_path: Path, lepton_home: Path) -> None:
    art = lepton.import_model(batch_one_tagger(tmp_path / "t.onnx"), name="t2", shape=["x=1,16"])
    workload = make_workload(art)
    workload.rows["x"] = workload.rows["x"] + 1000  # out of the embedding table at every batch size
    with pytest.raises(UserError, match="embed"):
        probe_batch(art, workload, [1])
