"""Inputs synthesized from the graph: indices inside their tables, shared dims, state and scalars, and one clear
line (exit 2) when a model still refuses what was made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from graph_models import embedding_model, reshape_by_input_model, stateful_model

from lepton.errors import UserError
from lepton.ir.artifact import Artifact
from lepton.ir.onnx_intake import run_onnx
from lepton.measure.failures import check_runs, run_failure
from lepton.measure.workload import synthesize_workload
from lepton.store import Store
from lepton.store.intake import import_model


def _import(path: Path, **shapes: tuple[int, ...]) -> Artifact:
    return import_model(path, store=Store(), shapes=shapes or None)


def test_an_index_input_stays_inside_the_table_it_reads(tmp_path: Path) -> None:
    art = _import(embedding_model(tmp_path / "emb.onnx", segment_rows=4), input_ids=(1, 24))
    w = synthesize_workload(art, rows=32)
    seg = w.rows["segment"]
    # segment is cast, shifted by -1, then indexes a 4-row table: valid values are 1..4, every one used
    assert set(np.unique(seg)) == {1, 2, 3, 4}
    assert w.provenance["segment"].endswith("indexes Gather 'emb' on table 'seg_table' (4 rows): values 1..4")
    assert w.rows["input_ids"].max() < 50 and w.rows["input_ids"].min() >= 0
    assert (w.rows["position_ids"] == np.arange(24)).all()
    out = run_onnx(art.model_path, w.rows)  # the whole set runs: nothing is out of bounds
    assert np.isfinite(out["out"]).all()


def test_inputs_sharing_a_dim_name_get_one_size_and_text_masks_are_padded(tmp_path: Path) -> None:
    art = _import(embedding_model(tmp_path / "emb.onnx"), input_ids=(1, 24))
    w = synthesize_workload(art, rows=8)
    assert {v.shape for v in w.rows.values()} == {(8, 24)}  # one pin sized every 'sequence' dim
    mask = w.rows["attention_mask"]
    assert (mask[0::2] == 1).all()  # even rows full, odd rows padded at the end
    lengths = mask[1::2].sum(axis=1)
    assert (lengths < 24).all() and (lengths >= 6).all()
    assert all((row[:n] == 1).all() and (row[n:] == 0).all() for row, n in zip(mask[1::2], lengths, strict=True))


def test_pins_that_disagree_on_a_shared_dim_are_refused(tmp_path: Path) -> None:
    art = _import(embedding_model(tmp_path / "emb.onnx"), input_ids=(1, 24), segment=(1, 30))
    with pytest.raises(UserError, match=r"dim 'sequence' is 24 for input 'input_ids' but 30 for input 'segment'"):
        synthesize_workload(art)


def test_state_batched_on_axis_one_and_a_scalar_the_graph_compares(tmp_path: Path) -> None:
    art = _import(stateful_model(tmp_path / "vad.onnx"), audio=(1, 64))
    w = synthesize_workload(art, rows=10)
    assert w.batch_axes == {"audio": 0, "state": 1, "sr": None}
    assert int(w.rows["sr"]) == 16000  # compared with 16000 inside the graph; another rate fails the model
    assert "is compared with Equal 'rate_check'" in w.provenance["sr"]
    feeds = w.batch(3, 3)  # rows 9, 0, 1: wraps along each input's own batch axis
    assert feeds["audio"].shape == (3, 64) and feeds["state"].shape == (2, 3, 4) and feeds["sr"].shape == ()
    assert (feeds["state"] == w.rows["state"][:, [9, 0, 1]]).all()
    assert [c["state"].shape[1] for c in w.chunks(4)] == [4, 4, 2]
    for chunk in w.chunks(4):
        assert run_onnx(art.model_path, chunk)["score_out"].shape == (chunk["audio"].shape[0], 1)


def test_a_model_that_refuses_synthesized_inputs_names_the_node(tmp_path: Path) -> None:
    art = _import(reshape_by_input_model(tmp_path / "reshape.onnx"))
    w = synthesize_workload(art)
    assert "is the shape argument of Reshape 'reshape_by_input'" in w.provenance["new_shape"]
    with pytest.raises(UserError) as err:
        check_runs(art, w)
    msg = str(err.value)
    assert "\n" not in msg
    assert "node 'reshape_by_input' (Reshape)" in msg and "cannot be reshaped" in msg
    assert "give real inputs with --data FILE (.npz with one array per input: x, new_shape)" in msg


def test_run_failure_quotes_the_innermost_node() -> None:
    nested = RuntimeError(
        "[ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running If node. Name:'/dec/If_1' "
        "Status Message: Non-zero status code returned while running LSTM node. Name:'/dec/rnn/LSTM' "
        "Status Message: Input initial_h must have shape {1,32,128}. Actual:{1,1,128}"
    )
    assert (
        run_failure(nested)
        == "node '/dec/rnn/LSTM' (LSTM): Input initial_h must have shape {1,32,128}. Actual:{1,1,128}"
    )
    dims = RuntimeError(
        "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions for input: x for the following indices\n"
        " index: 0 Got: 2 Expected: 3\n Please fix either the inputs/outputs or the model."
    )
    assert (
        run_failure(dims) == "Got invalid dimensions for input: x for the following indices index: 0 Got: 2 Expected: 3"
    )


def test_optimize_on_a_model_that_refuses_its_inputs_exits_2_and_writes_no_run(tmp_path: Path) -> None:
    model = reshape_by_input_model(tmp_path / "reshape.onnx")
    p = subprocess.run(
        [sys.executable, "-m", "lepton", "optimize", str(model)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = p.stdout + p.stderr
    assert p.returncode == 2, out
    assert "Traceback" not in out and "node 'reshape_by_input' (Reshape)" in out and "--data FILE" in out
    assert Store().runs() == []


def test_bench_runs_the_four_input_model_that_used_to_index_out_of_bounds(tmp_path: Path) -> None:
    model = embedding_model(tmp_path / "emb.onnx", segment_rows=4)
    p = subprocess.run(
        [sys.executable, "-m", "lepton", "bench", str(model), "--shape", "input_ids=1,16", "--seconds", "0.1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert p.returncode == 0, p.stdout + p.stderr
