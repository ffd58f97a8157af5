"""Where a run's time goes: its stages' seconds, and the progress a person watches."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from lepton.measure.memory import PeakRss
from lepton.progress import Progress


@dataclass
class StageClock:
    """Seconds and peak resident memory per stage (what ``search.stages`` and ``memory.stages`` report; quality
    evaluation's seconds apart) and the progress bar's steps."""

    progress: Progress | None = None
    steps_total: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    peak_mb: dict[str, float] = field(default_factory=dict)  # stage -> peak RSS of this process while it ran
    _steps: int = 0

    def tick(self, what: str) -> None:
        """One step done (``what`` is the progress line)."""
        self._steps += 1
        if self.progress:
            self.progress(what, min(self._steps, self.steps_total), self.steps_total)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage of the run, and sample its peak resident memory (every 50 ms)."""
        t0 = time.perf_counter()
        with PeakRss(interval_s=0.05) as rss:
            try:
                yield
            finally:
                self.add(name, time.perf_counter() - t0)
        self.peak_mb[name] = round(max(self.peak_mb.get(name, 0.0), rss.peak_mb), 1)
