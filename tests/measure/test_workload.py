from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lepton.errors import UserError
from lepton.ir.artifact import Artifact
from lepton.measure.workload import load_workload, synthesize_workload


def test_synthesized_rows_follow_the_signature(tiny_artifact: Artifact) -> None:
    w = synthesize_workload(tiny_artifact, rows=10)
    assert w.rows["x"].shape == (10, 8) and w.rows["x"].dtype == np.float32
    assert w.batch(4, 2)["x"].shape == (4, 8)  # wraps around past the end
    assert [c["x"].shape[0] for c in w.chunks(4)] == [4, 4, 2]


def test_unknown_dim_asks_for_a_shape_hint(tiny_artifact: Artifact) -> None:
    from lepton.ir.signature import Signature, TensorSpec

    sig = Signature((TensorSpec("image", "float32", ("batch", 3, "height", "width")),), tiny_artifact.signature.outputs)
    with pytest.raises(UserError, match=r"--shape image=1,3,N,N"):
        synthesize_workload(tiny_artifact.with_(signature=sig))
    pinned = tiny_artifact.with_(signature=sig.with_pins({"image": (1, 3, 32, 32)}))
    assert synthesize_workload(pinned, rows=2).rows["image"].shape == (2, 3, 32, 32)


def test_npz_csv_parquet_npy_with_labels(tiny_artifact: Artifact, tmp_path: Path) -> None:
    x = np.random.default_rng(0).standard_normal((12, 8))
    y = np.arange(12) % 4
    np.savez(tmp_path / "d.npz", x=x, label=y)
    w = load_workload(tiny_artifact, tmp_path / "d.npz")
    assert w.rows["x"].dtype == np.float32 and w.labels is not None and (w.labels == y).all()
    df = pd.DataFrame(x, columns=[f"f{i}" for i in range(8)]).assign(target=y)
    df.to_csv(tmp_path / "d.csv", index=False)
    df.to_parquet(tmp_path / "d.parquet")
    for name in ("d.csv", "d.parquet"):
        w = load_workload(tiny_artifact, tmp_path / name)
        assert w.rows["x"].shape == (12, 8) and w.labels is not None and (w.labels == y).all()
    np.save(tmp_path / "d.npy", x)
    assert load_workload(tiny_artifact, tmp_path / "d.npy").labels is None


def test_mismatched_data_names_the_input_and_expected_shape(tiny_artifact: Artifact, tmp_path: Path) -> None:
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 5)))
    with pytest.raises(UserError, match=r"input 'x' expects shape \(batch, 8\); the data has \(3, 5\)"):
        load_workload(tiny_artifact, tmp_path / "bad.npz")
    np.savez(tmp_path / "str.npz", x=np.array([["a"] * 8]))
    with pytest.raises(UserError, match="expects dtype float32"):
        load_workload(tiny_artifact, tmp_path / "str.npz")
    with pytest.raises(UserError, match="no such file"):
        load_workload(tiny_artifact, tmp_path / "missing.npz")
    (tmp_path / "d.xlsx").write_text("")
    with pytest.raises(UserError, match="unsupported format"):
        load_workload(tiny_artifact, tmp_path / "d.xlsx")
