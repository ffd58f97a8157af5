"""``--tune``: trial 0 is the defaults, the best trial is exported, the gain is reported, budgets stop it."""

from __future__ import annotations

from pathlib import Path

from lepton.ir.source import TrainSource
from lepton.training.options import TrainOptions
from lepton.training.run import train


def test_tuning_exports_the_best_trial_and_reports_the_gain(table_csv: Path) -> None:
    r = train(TrainOptions.build("classify", table_csv, target="species", categorical="colour", epochs=4, tune=3))
    tu = r.tuning
    assert tu is not None and tu.trials == 3 and tu.completed + tu.pruned == 3
    history = tu.history
    assert history[0].params["lr"] == 3e-3 and history[0].params["width"] == 128  # the defaults
    assert tu.val_best >= tu.val_default and tu.val_gain == tu.val_best - tu.val_default
    if tu.val_best == tu.val_default:  # a tie on accuracy goes to the lower validation loss
        assert tu.val_loss_best <= tu.val_loss_default
    best = next(t for t in history if t.best)
    assert best.number == tu.best_trial and r.params == best.params == tu.best_params
    assert isinstance(r.artifact.source, TrainSource) and r.artifact.source.params == best.params
    assert r.training.best_val_metric == tu.val_best
    assert tu.test_best == r.metrics["accuracy"] and tu.test_default is not None and 0 <= tu.test_default <= 1
    assert {"lr", "width", "depth", "dropout", "epochs"} <= set(history[1].params)


def test_time_budget_stops_tuning_early(table_csv: Path) -> None:
    r = train(
        TrainOptions.build(
            "classify", table_csv, target="species", categorical="colour", epochs=3, tune=200, time_budget=2.0
        )
    )
    assert r.tuning is not None and r.tuning.trials < 200
    assert any("tuning stopped early (time budget)" in n for n in r.notes)


def test_ctrl_c_during_tuning_keeps_the_best_trial_so_far(table_csv: Path) -> None:
    from lepton.training.loop import Event

    def interrupt_trial_2(e: Event) -> None:
        if e.phase.startswith("trial 2/") and e.epoch == 2:
            raise KeyboardInterrupt

    opts = TrainOptions.build("classify", table_csv, target="species", categorical="colour", epochs=3, tune=10)
    r = train(opts, progress=interrupt_trial_2)
    assert r.tuning is not None and r.tuning.trials == 2 and r.tuning.stopped == "interrupted"
    assert any("tuning stopped early (interrupted) after 2 of 10 trials" in n for n in r.notes)
    assert r.artifact.path.exists()
