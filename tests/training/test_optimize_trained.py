"""``lepton train ... && lepton optimize NAME``: optimize measures task accuracy on the stored test split with no
``--data``, on the model as a later process sees it (loaded from the store, no PyTorch module in memory)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

import lepton
from lepton.measure.timing import TimingPlan
from lepton.measure.workload import make_workload
from lepton.store import Store

FAST = {
    "quick": TimingPlan(warmup=1, min_runs=5, min_seconds=0.0, max_seconds=1.0),
    "precise": TimingPlan(warmup=1, min_runs=20, min_seconds=0.0, max_seconds=2.0),
}


def test_optimize_uses_the_test_split_and_accuracy_by_default(table_csv: Path, lepton_home: Path) -> None:
    cmd = [sys.executable, "-m", "lepton", "train", "classify", str(table_csv), "--target", "species"]
    cmd += ["--categorical", "colour", "--epochs", "4", "--name", "flowers"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert p.returncode == 0, p.stdout + p.stderr

    art = Store().model_artifact("flowers")
    assert art is not None and art.torch_module is None
    workload = make_workload(art)
    assert workload.source == "the model's held-out test split" and workload.labels is not None
    with np.load(art.file("eval_data")) as z:  # type: ignore[arg-type]
        assert np.array_equal(workload.labels, z["label"]) and workload.n_rows == len(z["label"])

    result = lepton.optimize("flowers", batch=[1], **FAST).to_json()
    assert result["workload"] == "the model's held-out test split"
    base = result["baseline"][0]
    assert base["quality"]["kind"] == "task" and set(base["quality"]) >= {"accuracy", "f1"}
    assert base["quality"]["accuracy"] == art.source.metrics["accuracy"]  # type: ignore[union-attr]
    rec = next(t for t in result["trials"] if t["id"] == result["recommended"])
    assert "accuracy" in rec["quality"] and rec["quality_drop"] <= 0.01
