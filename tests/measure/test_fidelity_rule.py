"""One fidelity rule: the navigator, the sensitivity ranking and the server's shadow give the same cosine."""

from __future__ import annotations

import numpy as np
import pytest

from lepton.passes.sensitivity import mean_cosine
from lepton.quality import fidelity
from lepton.serve.shadow import compare
from lepton.similarity import row_cosines

REFERENCE = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], dtype=np.float32)
CANDIDATE = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 2.5], [0.5, 0.0, 0.0]], dtype=np.float32)


def callers(ref: np.ndarray, cand: np.ndarray) -> dict[str, float]:
    return {
        "measure.quality.fidelity": fidelity(ref, cand)["cosine"],
        "passes.sensitivity.mean_cosine": mean_cosine([ref], [cand]),
        "serve.shadow.compare": compare({"y": cand}, {"y": ref})[0],
        "ir.similarity.row_cosines": float(row_cosines(ref, cand).mean()),
    }


@pytest.mark.parametrize(
    ("rows", "expected"),
    [([0], 1.0), ([2], 0.0), ([1], None), ([0, 1, 2], None)],
    ids=["two-zero-rows", "zero-vs-nonzero", "normal-row", "all-rows"],
)
def test_every_caller_gives_the_same_cosine(rows: list[int], expected: float | None) -> None:
    got = callers(REFERENCE[rows], CANDIDATE[rows])
    first = next(iter(got.values()))
    assert all(v == pytest.approx(first, abs=1e-12) for v in got.values()), got
    if expected is not None:
        assert first == expected


def test_a_zero_row_scores_zero_against_a_non_zero_reference_either_way() -> None:
    zero, some = np.zeros((1, 4)), np.ones((1, 4))
    assert row_cosines(some, zero).tolist() == [0.0]
    assert row_cosines(zero, some).tolist() == [0.0]
    assert row_cosines(zero, zero).tolist() == [1.0]
