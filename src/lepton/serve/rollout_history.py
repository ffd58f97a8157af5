"""``lepton rollout NAME``: a model's stored rollout events, oldest first, one line each with its evidence."""

from __future__ import annotations

import time

from lepton.errors import UserError
from lepton.serve.rollout_state import RolloutEvent, VariantFigures
from lepton.store import rollouts as stored
from lepton.store.store import Store


def history(store: Store, model: str) -> list[RolloutEvent]:
    events = [RolloutEvent.from_json(e) for e in stored.events(store, model=model)]
    if not events:
        raise UserError(
            f"lepton rollout: no rollout of {model!r} is stored in {store.home}; "
            f"start one with `lepton serve {model} --candidate {model}:recommended --shadow`"
        )
    return events


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _variant(label: str, f: VariantFigures | None) -> str:
    if f is None:
        return f"{label} -"
    cost = "" if f.usd_per_1m is None else f" ${f.usd_per_1m:.4f}/1M"
    return f"{label} p50 {_ms(f.p50)} p95 {_ms(f.p95)} ms, {f.requests}+{f.shadowed} shadowed, {f.errors} err{cost}"


def lines(events: list[RolloutEvent]) -> list[str]:
    out: list[str] = []
    rollout = None
    for e in events:
        if e.rollout_id != rollout:
            rollout = e.rollout_id
            out.append(f"rollout {e.rollout_id}  candidate {e.plan.candidate} ({e.candidate_artifact[:12]})")
        ev = e.evidence
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.t))
        agree = "-" if ev.agreement is None else f"{ev.agreement:.3f}"
        out.append(f"  {when}  {e.action:<8} {e.phase:<11} {e.share:>4.0%}  by {e.by:<6} {e.reason}")
        out.append(
            f"      evidence: {ev.compared} compared ({ev.dropped} shadow copies dropped), agreement {agree}, "
            f"llr {ev.llr:.2f} "
            f"(promote <= {ev.lower:.2f}, roll back >= {ev.upper:.2f}); "
            f"{_variant('incumbent', ev.incumbent)}; {_variant('candidate', ev.candidate)}"
        )
    return out
