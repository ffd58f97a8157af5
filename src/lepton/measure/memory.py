"""Peak resident memory while a block runs, sampled from a background thread."""

from __future__ import annotations

import threading
from types import TracebackType

import psutil


class PeakRss:
    """``with PeakRss() as m: ...`` then ``m.peak_mb`` (process peak) and ``m.delta_mb`` (over the start)."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self._proc = psutil.Process()
        self._stop = threading.Event()
        self.start_mb = 0.0
        self.peak_mb = 0.0

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self._proc.memory_info().rss / 1e6)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakRss:
        self.start_mb = self.peak_mb = self._proc.memory_info().rss / 1e6
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self._proc.memory_info().rss / 1e6)

    @property
    def delta_mb(self) -> float:
        return max(0.0, self.peak_mb - self.start_mb)
