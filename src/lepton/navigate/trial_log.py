"""A run's trials: their ids, and every one saved to the store as soon as it exists (or changes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from lepton.engines.base import RuntimeConfig
from lepton.measure.trial import ChainStep
from lepton.navigate.judged import JudgedTrial
from lepton.store.store import Store

PriorKey = tuple[str | None, str, str, str, int, str | None]


def prior_key(
    role: str | None,
    chain: tuple[ChainStep, ...],
    engine: str,
    runtime: RuntimeConfig,
    rung: int,
    kind: str | None = None,
) -> PriorKey:
    """What identifies one measurement of a run, so a resumed run finds what was already measured."""
    steps = json.dumps([s.to_json() for s in chain], sort_keys=True)
    return (role, steps, engine, json.dumps(runtime.to_json(), sort_keys=True), rung, kind)


def prior_of(trials: list[JudgedTrial]) -> dict[PriorKey, JudgedTrial]:
    """The measurements of an interrupted run, keyed for reuse (failed builds are simply tried again)."""
    return {prior_key(t.role, t.chain, t.engine, t.runtime, t.rung, t.hardware_kind): t for t in trials if t.measured}


@dataclass
class TrialLog:
    """The trials of run ``run_id`` by id; ``prior`` holds a resumed run's stored measurements until reused."""

    store: Store
    run_id: str
    trials: dict[str, JudgedTrial] = field(default_factory=dict)
    prior: dict[PriorKey, JudgedTrial] = field(default_factory=dict)
    reused: int = 0
    _reserved: set[str] = field(default_factory=set)  # ids of measurements under way

    def next_id(self) -> str:
        """A new id, reserved until its trial is added."""
        ids = (*self.trials, *(t.id for t in self.prior.values()), *self._reserved)
        used = [int(i[1:]) for i in ids if i[1:].isdigit()]
        new = f"t{max(used, default=0) + 1}"
        self._reserved.add(new)
        return new

    def add(self, trial: JudgedTrial) -> JudgedTrial:
        self.trials[trial.id] = trial
        self._reserved.discard(trial.id)
        self.store.add_trial(self.run_id, trial)
        return trial

    def update(self, trial_id: str, **changes: object) -> JudgedTrial:
        """Replace a trial by a copy with ``changes`` (trials are immutable) and save it."""
        return self.add(self.trials[trial_id].with_(**changes))

    def current(self) -> list[JudgedTrial]:
        """The latest measurement of every configuration, the baseline's included."""
        return [t for t in self.trials.values() if t.superseded_by is None]

    def supersede(self, shorter: str | None, longer: JudgedTrial) -> JudgedTrial:
        """Link a longer measurement to the shorter one (its id) it replaces."""
        assert shorter is not None
        longer = self.update(longer.id, screened_as=shorter)
        self.update(shorter, superseded_by=longer.id)
        return longer

    def take_prior(self, key: PriorKey) -> JudgedTrial | None:
        """A resumed run's stored measurement of ``key``, back in the run as it was measured (without the verdict
        the interrupted run may have started on); None when there is none."""
        stored = self.prior.pop(key, None)
        if stored is None:
            return None
        self.reused += 1
        status = "failed" if stored.status == "failed" else "ok"
        return self.add(stored.with_(status=status, reasons=(), notes=(), superseded_by=None))

    def __iter__(self) -> Iterator[JudgedTrial]:
        return iter(self.trials.values())
