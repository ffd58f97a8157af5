"""The recovery stage: a faster variant that misses the quality target is rebuilt by the pass its last pass
declares as its quality-bounded twin (``Pass.recovered_by``: NNCF int8 -> NNCF int8 with accuracy control),
with the run's ``--max-drop`` as the bound and the run's own data (and labels) as the judge."""

from __future__ import annotations

import contextlib
import io

from lepton.errors import CandidateError
from lepton.navigate.judged import JudgedTrial
from lepton.navigate.run import RunState, Variant
from lepton.navigate.sensitivity import faster_but_rejected
from lepton.navigate.space import Candidate, chain_label, passes_of
from lepton.passes import PASSES, PassContext, apply_chain


def _recoverable(t: JudgedTrial) -> bool:
    last = t.last_pass
    return last is not None and last in PASSES and PASSES.get(last).recovered_by is not None


def recovery_stage(
    run: RunState, screened: list[JudgedTrial], variants: list[Variant], ctx: PassContext
) -> tuple[list[Variant], str | None]:
    """Build the quality-bounded twin of the best faster-but-rejected variant; returns it (or nothing) and what
    was done, for the run's notes."""
    found = faster_but_rejected(run, screened, _recoverable)
    if found is None:
        return [], None
    trial, why = found
    passes = passes_of(trial.chain)
    twin_name = PASSES.get(passes[-1].name).recovered_by
    assert twin_name is not None  # _recoverable
    headline = trial.quality.headline()
    drop_type = "relative" if headline is not None and not headline.higher_is_better else "absolute"
    twin = passes[-1].bounded(max_drop=run.targets.max_drop, drop_type=drop_type)
    chain = [*passes[:-1], twin]
    label = chain_label(chain)
    if label in {c.label for c, _ in variants}:
        return [], None
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            art = apply_chain(run.artifact, chain, ctx)
    except CandidateError as e:
        return [], f"recovery: {why}; {twin_name} failed: {e}"
    return [(Candidate(label, chain, chain_label(chain[:-1])), art)], f"recovery: {why}; tried {label}"
