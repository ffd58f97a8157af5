"""Shadow fidelity: run a sample of live requests through the reference (unoptimized) model too.

The comparison runs on its own single thread with at most a couple of samples pending, so it never
delays an answer; a sample that arrives while the shadow is busy is skipped.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np

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
    def __init__(self, run_reference: Run, rate: float, report: Report, *, seed: int | None = None) -> None:
        self.run_reference = run_reference
        self.rate = rate
        self.report = report
        self._rng = random.Random(seed)
        self._pending = 0
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lepton-shadow")
        self.max_pending = 2

    def maybe(self, feeds: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray]) -> bool:
        """Sample this request with probability ``rate``; True when it was queued for comparison."""
        if self._rng.random() >= self.rate:
            return False
        with self._lock:
            if self._pending >= self.max_pending:
                return False
            self._pending += 1
        self._executor.submit(self._compare, dict(feeds), dict(outputs))
        return True

    def _compare(self, feeds: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> None:
        try:
            ref = self.run_reference(feeds)
            cos, max_abs = compare(outputs, ref)
            self.report(cos, max_abs)
        finally:
            with self._lock:
                self._pending -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
