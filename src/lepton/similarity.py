"""Row cosine, the one rule every fidelity figure is built on (the navigator's, the sensitivity ranking's,
the export parity check's and the server's live shadow).

Rows are compared after flattening everything but the first axis. Where a row has no length the cosine is
undefined; the rule is then: rows equal within ``np.isclose`` (two zero rows are identical) score 1.0, and a
zero row against a non-zero one scores 0.0 (an output that vanished is not faithful to one that did not).
"""

from __future__ import annotations

import numpy as np


def rows(a: np.ndarray) -> np.ndarray:
    """``a`` as float64 rows: [n, -1] with n the first axis (a scalar is one row of one value)."""
    arr = np.asarray(a, dtype=np.float64)
    return arr.reshape(1, 1) if arr.ndim == 0 else arr.reshape(arr.shape[0], -1)


def row_cosines(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """The cosine of each row of ``candidate`` with the same row of ``reference`` (same shapes), float64."""
    r, c = rows(reference), rows(candidate)
    if r.shape != c.shape:
        raise ValueError(f"row cosine: shapes differ, reference {np.shape(reference)} vs {np.shape(candidate)}")
    denom = np.linalg.norm(r, axis=1) * np.linalg.norm(c, axis=1)
    dots = np.sum(r * c, axis=1)
    same = np.all(np.isclose(r, c), axis=1)
    return np.where(denom > 0, dots / np.where(denom > 0, denom, 1.0), np.where(same, 1.0, 0.0))
