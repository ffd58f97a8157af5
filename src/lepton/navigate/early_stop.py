"""When a measurement is abandoned early: it already misses the SLO, or (a screen) it cannot reach the frontier."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from lepton.navigate.judged import JudgedTrial
from lepton.navigate.rungs import HOPELESS, SCREEN
from lepton.navigate.targets import Targets

StopEarly = Callable[[list[float]], bool]


def stop_early(
    trials: Iterable[JudgedTrial], targets: Targets, slo_batch: int, batch: int, rung: int, kind: str | None = None
) -> StopEarly | None:
    """Abandon timing once the first runs already miss the SLO by 50%, or (a screen) once the first run is
    ``HOPELESS`` times slower than the fastest screened at this batch size (on the same kind of machine): it
    cannot reach the frontier."""
    slo = targets.slo if batch == slo_batch else None
    fastest = None
    if rung == SCREEN:
        screened = [t.latency.mean for t in trials if t.measured and t.batch_size == batch and t.hardware_kind == kind]
        fastest = min(screened, default=None)
    limit = 1.5 * slo.max_ms if slo is not None else None

    def stop(samples: list[float]) -> bool:
        if limit is not None and len(samples) >= 5 and float(np.median(samples)) > limit:
            return True
        return fastest is not None and len(samples) >= 1 and min(samples) > HOPELESS * fastest

    return stop if slo is not None or fastest is not None else None
