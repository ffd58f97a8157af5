"""Shadow fidelity: run a sample of live requests through the reference (unoptimized) model too.

The comparison runs off the answer path (``serve.offpath``: one low-priority thread, a single-threaded reference
session) with at most a couple of samples waiting, so it never delays an answer; a sample that arrives while the
shadow is that far behind is skipped.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from functools import partial

import numpy as np

from lepton.serve.offpath import OffPath
from lepton.similarity import row_cosines, rows

Run = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]
Report = Callable[[float, float], None]


def compare(served: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray]) -> tuple[float, float]:
    """Mean cosine (per row, over every float output, by ``row_cosines``) and the max abs error."""
    cosines: list[float] = []
    max_abs = 0.0
    for name, ref in reference.items():
        got = served.get(name)
        if got is None or got.shape != ref.shape or ref.dtype.kind != "f":
            continue
        cosines.extend(row_cosines(ref, got).tolist())
        if got.size:
            max_abs = max(max_abs, float(np.abs(rows(got) - rows(ref)).max()))
    return (float(np.mean(cosines)) if cosines else 1.0), max_abs


class Shadow:
    max_pending = 2  # samples waiting for the reference; more are skipped

    def __init__(self, run_reference: Run, rate: float, report: Report, *, seed: int | None = None) -> None:
        self.run_reference = run_reference
        self.rate = rate
        self.report = report
        self._rng = random.Random(seed)
        self._offpath = OffPath(self.max_pending, name="lepton-shadow")

    def maybe(self, feeds: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray]) -> bool:
        """Sample this request with probability ``rate``; True when it was queued for comparison."""
        if self._rng.random() >= self.rate:
            return False
        return self._offpath.submit(partial(self._compare, dict(feeds), dict(outputs)))

    def _compare(self, feeds: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> None:
        ref = self.run_reference(feeds)
        cos, max_abs = compare(outputs, ref)
        self.report(cos, max_abs)

    def close(self) -> None:
        self._offpath.close()
