"""Helpers shared by the intake tests."""

from __future__ import annotations

import sqlite3

import numpy as np
import onnxruntime as ort

from lepton.ir.artifact import Artifact
from lepton.store import Store


def store_rows(store: Store) -> dict[str, int]:
    """Row counts of the tables an intake writes."""
    with sqlite3.connect(store.db_path) as db:
        return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("artifacts", "models")}


def assert_store_empty(store: Store) -> None:
    """Nothing committed, nothing left in scratch, no index rows."""
    assert list(store.artifacts_dir.iterdir()) == []
    assert list(store.tmp_dir.iterdir()) == []
    assert store_rows(store) == {"artifacts": 0, "models": 0}


def run_artifact(art: Artifact, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run a stored artifact in ONNX Runtime from its own folder."""
    sess = ort.InferenceSession(str(art.model_path), providers=["CPUExecutionProvider"])
    return list(sess.run(None, feeds))


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return np.asarray(np.sum(a64 * b64, axis=1) / (np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1)))
