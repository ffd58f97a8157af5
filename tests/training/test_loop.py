"""The training loop: seeds make runs repeat, early stopping keeps the best epoch, Ctrl-C stops cleanly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lepton.store import Store
from lepton.training.loop import Event, predict
from lepton.training.options import TrainOptions
from lepton.training.recipe import recipe_for
from lepton.training.run import train
from lepton.training.tune import train_once


def test_same_seed_same_metrics(table_csv: Path) -> None:
    opts = dict(target="species", categorical="colour", epochs=5)
    a = train(TrainOptions.build("classify", table_csv, **opts))
    b = train(TrainOptions.build("classify", table_csv, **opts))
    assert a.metrics["accuracy"] == b.metrics["accuracy"]
    assert a.training.history[-1].train_loss == pytest.approx(b.training.history[-1].train_loss, rel=1e-5)
    assert a.artifact.id == b.artifact.id  # same weights, same test split: the same content
    c = train(TrainOptions.build("classify", table_csv, seed=1, **opts))
    assert c.split != a.split or c.artifact.id != a.artifact.id


def test_best_epoch_weights_are_kept(table_csv: Path) -> None:
    recipe = recipe_for(TrainOptions.build("classify", table_csv, target="species", categorical="colour"))
    p = recipe.prepare()
    hp = recipe.hyper(p)
    t = train_once(recipe, p, hp.__class__(**{**hp.__dict__, "epochs": 12, "patience": 3, "lr": 0.05}), seed=0)
    best = max(e.val_metric for e in t.fit.history)
    assert t.fit.best_metric == best
    inputs, y = recipe.torch_split(p, p.val)
    assert float(np.mean(np.argmax(predict(t.net, inputs), 1) == y.numpy())) == best
    if t.fit.stopped == "early stopping":
        assert len(t.fit.history) - t.fit.best_epoch == 3


def test_ctrl_c_stops_training_and_stores_the_best_epoch(table_csv: Path) -> None:
    def interrupt_in_epoch_3(e: Event) -> None:
        if e.epoch == 3 and e.step == 1:
            raise KeyboardInterrupt

    r = train(
        TrainOptions.build("classify", table_csv, target="species", categorical="colour", epochs=20),
        progress=interrupt_in_epoch_3,
    )
    assert r.training.stopped == "interrupted" and len(r.training.history) == 2
    assert r.training.best_epoch in (1, 2)
    assert any("interrupted at epoch 2" in n for n in r.notes)
    assert Store().model_artifact(r.name) is not None  # a clean stop: the best checkpoint is stored


def test_ctrl_c_before_the_first_epoch_stores_nothing(table_csv: Path) -> None:
    def interrupt(e: Event) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(TrainOptions.build("classify", table_csv, target="species", categorical="colour"), progress=interrupt)
    assert Store().models() == []


def test_progress_reports_running_loss_and_validation_metric(table_csv: Path) -> None:
    events: list[Event] = []
    recipe = recipe_for(TrainOptions.build("classify", table_csv, target="species", categorical="colour", epochs=3))
    p = recipe.prepare()
    train_once(recipe, p, recipe.hyper(p), seed=0, progress=events.append)
    ends = [e for e in events if e.epoch_done]
    assert [e.epoch for e in ends] == [1, 2, 3]
    assert all(e.metric == "accuracy" and e.val is not None and 0 <= e.val <= 1 and e.loss > 0 for e in ends)
    assert events[0].val is None and torch.isfinite(torch.tensor(events[0].loss))
