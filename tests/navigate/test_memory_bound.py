"""Bounded memory: peak RSS per stage and per variant built is reported, calibration's and each build's memory is
estimated before it runs, and a small --max-memory cuts calibration batches or skips a pass (and says so) rather
than let the search grow."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_models import small_cnn

import lepton
from lepton.hardware.memory import SAFE_SHARE, cgroup_memory_limit, memory_budget
from lepton.measure.memory import activation_bytes, rss_mb
from lepton.navigate.result import OptimizeResult
from lepton.passes.base import BUILD_MEMORY


def test_activation_bytes_count_every_intermediate_tensor(tmp_path: Path) -> None:
    path = small_cnn(tmp_path / "cnn.onnx", size=16)
    one = activation_bytes(path, {"x": np.zeros((1, 1, 16, 16), np.float32)})
    eight = activation_bytes(path, {"x": np.zeros((8, 1, 16, 16), np.float32)})
    assert one is not None and eight is not None
    assert one >= (8 + 16) * 16 * 16 * 4  # at least both convolutions' outputs
    assert eight == 8 * one


def test_a_cgroup_memory_limit_below_the_machine_is_the_budget(tmp_path: Path) -> None:
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/cgroup").write_text("0::/job\n")
    mount = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n"
    (tmp_path / "proc/self/mountinfo").write_text(mount)
    (tmp_path / "sys/fs/cgroup/job").mkdir(parents=True)
    (tmp_path / "sys/fs/cgroup/job/memory.max").write_text("2147483648\n")
    (tmp_path / "sys/fs/cgroup/memory.max").write_text("max\n")
    assert cgroup_memory_limit(tmp_path) == 2147483648
    budget = memory_budget(tmp_path)
    assert budget.total == 2147483648 and budget.source == "cgroup limit"
    assert budget.safe() == int(2147483648 * SAFE_SHARE) and "cgroup limit" in budget.note()


def _bounded_search(folder: Path) -> None:
    """Run in a process of its own (``python -c``): a bound "200 MB over what is in use now" means something only
    where the memory in use is this search's, not that of every test the suite ran before it in one process."""
    from conftest import _FAST

    fast = dict(_FAST)
    # a first run under the default bound (it also loads every engine, so the memory it takes is in use after)
    tiny = lepton.import_model(small_cnn(folder / "tiny.onnx", size=8), name="tiny")
    first = lepton.optimize(tiny, batch=[1], sensitivity="off", time_budget=20, **fast)
    (folder / "first.json").write_text(json.dumps(first.to_json()))
    # ~15 MB of activations per 256x256 row (x2 while calibrating): a batch of 8 rows would take ~240 MB; the bound
    # leaves ~200 MB over what is in use now, and calibration takes at most 3/4 of what is left
    model = lepton.import_model(small_cnn(folder / "cnn.onnx", size=256), name="cnn")
    bound_gb = (rss_mb() + 200) / 1000
    result = lepton.optimize(model, batch=[1], sensitivity="off", max_memory=bound_gb, **fast)
    (folder / "bounded.json").write_text(json.dumps(result.to_json()))


@pytest.mark.slow
def test_a_small_max_memory_cuts_calibration_batches_and_the_result_says_so(tmp_path: Path) -> None:
    tests = Path(__file__).parents[1]
    env = {**os.environ, "LEPTON_HOME": str(tmp_path / "home"), "PYTHONPATH": f"{tests}:{tests / 'navigate'}"}
    code = f"import pathlib, test_memory_bound as t; t._bounded_search(pathlib.Path({str(tmp_path)!r}))"
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600, check=False)
    assert p.returncode == 0, p.stderr[-3000:]
    first = OptimizeResult.model_validate(json.loads((tmp_path / "first.json").read_text())).memory
    assert first is not None and first.action is None
    assert first.limit_source.startswith(f"{SAFE_SHARE:.0%} of ")
    assert first.calibration_rows == 64 and first.calibration_batch == 8
    assert first.calibration_estimate_mb is not None
    result = OptimizeResult.model_validate(json.loads((tmp_path / "bounded.json").read_text()))
    memory = result.memory
    assert memory is not None and memory.limit_source == "--max-memory"
    assert memory.action is not None and memory.action.startswith("calibration batches cut from 8 to "), memory
    assert memory.calibration_batch is not None and 1 <= memory.calibration_batch < 8
    assert memory.calibration_rows == (64 // memory.calibration_batch) * memory.calibration_batch
    assert memory.action in result.notes
    assert {"baseline", "build", "screen"} <= set(memory.stages) and memory.peak_rss_mb >= max(memory.stages.values())
    assert any("static" in label for label in memory.passes)  # the calibrating variant's peak while it was built
    built = [t for t in result.trials if any(s.pass_ == "quantize-static" for s in t.chain)]
    assert built and any(t.measured for t in built)  # calibrated in smaller batches, not skipped
    assert result.to_json()["memory"]["calibration_batch"] == memory.calibration_batch


def _wide_mlp(path: Path, n_in: int, hidden: int, n_out: int) -> Path:
    """x[batch, n_in] -> MatMul -> Relu -> MatMul -> y[batch, n_out]: weights far larger than its activations."""
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((n_in, hidden), dtype=np.float32) * 0.02, "w1")
    w2 = numpy_helper.from_array(rng.standard_normal((hidden, n_out), dtype=np.float32) * 0.02, "w2")
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node("MatMul", ["r", "w2"], ["y"], name="fc2"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n_in])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n_out])
    model = helper.make_model(helper.make_graph(nodes, "wide", [x], [y], [w1, w2]))
    model.opset_import[0].version = 17
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.slow
def test_a_pass_whose_build_would_not_fit_is_skipped_with_the_reason(
    tmp_path: Path, lepton_home: Path, fast: dict[str, Any]
) -> None:
    # 67 MB of weights (2048 x 8192 float32): dynamic int8 needs ~5x that while it builds, ORT's graph optimizer and
    # NNCF more; the bound leaves at most 250 MB over what is in use now (less what the baseline holds), so no pass
    # fits, and each says why
    model = lepton.import_model(_wide_mlp(tmp_path / "wide.onnx", 2048, 8192, 4), name="wide")
    bound_gb = (rss_mb() + 250) / 1000
    result = lepton.optimize(model, batch=[1], sensitivity="off", max_memory=bound_gb, time_budget=20, **fast)
    by_pass = {s.chain[0].pass_: s.reason for s in result.skipped if len(s.chain) == 1 and "memory" in s.reason}
    assert {"quantize-dynamic", "quantize-static", "optimize-graph"} <= set(by_pass), result.skipped
    factor = f"{BUILD_MEMORY['quantize-dynamic']:g}"
    pattern = rf"not built: quantize-dynamic needs about (\d+) MB \({factor} x the 67 MB model\) > (\d+) MB left under "
    found = re.match(pattern + r"the memory bound \(\d+ MB, --max-memory\)$", by_pass["quantize-dynamic"])
    assert found is not None, by_pass["quantize-dynamic"]
    assert int(found[1]) > int(found[2])
    assert "for a calibration batch" in by_pass["quantize-static"]
    assert not any(t.chain for t in result.trials)  # nothing was built, so only the model itself was measured
    assert f"skipped {result.skipped[0].variant}: {result.skipped[0].reason}" in result.notes
