"""A run's quality figures: measured once per variant, engine and options, and the drop from the baseline's."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lepton.engines.base import RuntimeConfig, open_session
from lepton.ir.artifact import Artifact
from lepton.measure.batch_dependence import BatchProbe
from lepton.measure.trial import ChainStep, Reference, quality_of, run_all
from lepton.measure.workload import Workload
from lepton.navigate.clock import StageClock
from lepton.navigate.rungs import PRECISE, QUICK, SCREEN_ROWS
from lepton.quality import Headline, Quality


@dataclass
class QualityBook:
    """Quality depends on the variant, the engine and its options (OpenVINO's bf16 changes the outputs), not on
    threads or batch size: measured once for each, its time on the ``clock``'s quality line. ``base`` is the
    baseline's headline figure every drop is taken from."""

    artifact: Artifact
    workload: Workload
    reference: Reference
    batch_sizes: Sequence[int]
    clock: StageClock
    base: Headline | None = None
    cache: dict[tuple[str, str, str], Quality] = field(default_factory=dict)
    probe: BatchProbe = field(default_factory=BatchProbe)  # fidelity in mixed batches (dynamic int8)

    def of(
        self,
        art: Artifact,
        engine: str,
        options: Mapping[str, str],
        rung: int = QUICK,
        chain: tuple[ChainStep, ...] = (),
    ) -> Quality:
        """Screens and quick measurements judge fidelity on the first ``SCREEN_ROWS`` rows (the reference scores
        1.0 on any subset); precise ones on every row."""
        subset = (
            rung != PRECISE
            and self.reference.outputs is not None
            and self.workload.n_rows > SCREEN_ROWS
            and all(axis == 0 for axis in self.workload.batch_axes.values())  # rows along axis 0 everywhere
        )
        key = (art.id, engine, json.dumps(dict(options), sort_keys=True) + ("/screen" if subset else ""))
        if key not in self.cache:
            t0 = time.perf_counter()
            session = open_session(engine, art, RuntimeConfig(options=options))
            workload, reference = self.workload, self.reference
            if subset:
                workload, reference = self.workload.head(SCREEN_ROWS), self.reference.head(SCREEN_ROWS)
            try:
                quality = quality_of(art.task, run_all(session, workload), reference)
                b = self.batch_sizes  # a batch-dependent variant: its fidelity in mixed batches too
                args = (session, art, engine, options, chain, self.workload, self.reference, b)
                self.cache[key] = self.probe.add_to(quality, *args)
            finally:
                session.close()
                self.clock.add("quality", time.perf_counter() - t0)
        return self.cache[key]

    def of_baseline(self, art: Artifact, engine: str) -> Quality:
        """The baseline's quality: against labels, measured (once for every batch size); as fidelity, the
        reference is the baseline's own outputs (the same engine on the same model), so it is not run again."""
        if self.reference.outputs is not None and self.reference.engine == engine and art.id == self.artifact.id:
            return quality_of(art.task, self.reference.outputs, self.reference)
        return self.of(art, engine, {}, PRECISE)

    def drop(self, quality: Quality) -> float | None:
        h = quality.headline()
        if self.base is None or h is None:
            return None
        return round(h.drop_from(self.base.value), 6)
