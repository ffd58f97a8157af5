"""The navigator's record of a trial: the measurement (``measure.trial.Trial``) plus the navigator's verdict.

``measure`` owns what was measured; which rung measured it, whether a longer measurement replaced it, how much
quality it lost against the baseline and why it was rejected are decisions of the search, so they live here.
The record extends ``Trial`` field for field: a stored run's trials, the result JSON and the reports keep one
shape, and every figure a ``Trial`` has is read the same way.
"""

from __future__ import annotations

from lepton.measure.trial import Trial


class JudgedTrial(Trial):
    """A trial in a search: ``rung`` 0 a short screen, 1 a quick measurement, 2 precise (``precise``: the full
    plan and concurrent callers); ``screened_as`` / ``superseded_by`` link a longer measurement of the same
    configuration to the shorter one it replaced; ``quality_drop`` against the baseline; ``status`` rejected with
    its ``reasons``; ``notes`` say what a reader should know (slower than its parent, batch-dependent)."""

    quality_drop: float | None = None
    precise: bool = False
    rung: int = 1
    screened_as: str | None = None
    superseded_by: str | None = None
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, trial: Trial, *, quality_drop: float | None = None, rung: int = 1, precise: bool = False
    ) -> JudgedTrial:
        """A measurement entering the search, at the rung that measured it."""
        return cls.model_validate({**dict(trial), "quality_drop": quality_drop, "rung": rung, "precise": precise})

    def reject(self, reasons: tuple[str, ...]) -> JudgedTrial:
        return self.with_(status="rejected", reasons=reasons)

    def measurement(self) -> Trial:
        """The measurement alone, without the verdict (what a bench of the same configuration would give)."""
        return Trial.model_validate({name: getattr(self, name) for name in Trial.model_fields})
