"""An optimize run read back from the store as the same ``OptimizeResult`` it returned."""

from __future__ import annotations

from lepton.errors import UserError
from lepton.navigate.result import OptimizeResult
from lepton.store.store import Store


def stored_result(store: Store, run_id: str) -> OptimizeResult:
    """The result of run ``run_id`` (or ``latest``: the newest optimize run), rebuilt from its stored summary
    and trials."""
    if run_id == "latest":
        runs = [r for r in store.runs() if r.kind == "optimize"]
        if not runs:
            raise UserError("no optimize run in the store yet; run `lepton optimize` first")
        run_id = runs[0].id
    stored = store.run(run_id)
    if stored.summary.kind != "optimize":
        raise UserError(f"run {run_id} is a {stored.summary.kind} run; `lepton report` needs an optimize run")
    if "search" not in stored.payload:
        raise UserError(
            f"run {run_id} did not finish ({stored.summary.status}); it has {len(stored.trials)} trials but no "
            "result to report. Run `lepton optimize` again"
        )
    return OptimizeResult.from_json({**stored.payload, "run_id": run_id, "trials": stored.trials})
