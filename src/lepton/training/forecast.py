"""``forecast``: an LSTM (optionally behind a 1-D CNN front end) over lagged values, forecasting ``horizon``
steps at once, judged against the last-value and seasonal-naive forecasts on the same test windows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from lepton.errors import UserError
from lepton.training.baselines import Baseline, naive_forecasts
from lepton.training.dataset import Prepared
from lepton.training.evaluate import forecast_report
from lepton.training.loop import Batch, Hyper, Objective
from lepton.training.modules import Forecaster, rounded
from lepton.training.recipe import RECIPES, Recipe
from lepton.training.series import HISTORY, infer_season, make_windows, read_npz_series, read_series, stocks
from lepton.training.tables import read_table

if TYPE_CHECKING:
    import optuna

MAX_DEFAULT_LAGS = 96


def mae(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - y)))


@RECIPES.register("forecast")
class Forecast(Recipe):
    """Forecasting of one or more series a few steps ahead from a window of lags."""

    examples: ClassVar[dict[str, str]] = {"stocks": "monthly prices of 5 stocks, 2000-2010 (vega_datasets)"}

    def prepare(self) -> Prepared:
        o = self.opts
        if o.example is not None:
            self.example_name()
            series, report = stocks(o)
            where = "stocks"
        else:
            assert o.data is not None
            where = str(o.data)
            if o.data.suffix.lower() == ".npz":
                series = read_npz_series(o.data, o.target)
                report = {"source": where, "rows_read": int(sum(len(s.values) for s in series)), "series": len(series)}
                report.update({"missing": {}, "missing_policy": "none missing", "is_time": False})
            else:
                series, report = read_series(read_table(o.data), o, where)
        if not series:
            raise UserError(f"{where}: no series with values to forecast")
        bad = [s.key for s in series if not np.isfinite(s.values).all()]
        if bad:
            raise UserError(f"{where}: series {', '.join(bad[:3])} hold infinite values; clean them first")
        if o.season is not None:
            season, why = o.season, "given with --season"
        else:
            season, why = infer_season(series[0].times, bool(report.get("is_time")))
        lags = o.lags or min(MAX_DEFAULT_LAGS, max(12, season))  # at least one season of history
        report.update({"season": season, "season_why": why, "lags": lags, "horizon": o.horizon})
        p = make_windows(series, o, season, lags, where)
        report["rows_used"] = int(sum(len(s.values) for s in series))
        report["windows"] = p.sizes()
        p.report = report
        return p

    # -- training -----------------------------------------------------------------------------------
    def defaults(self, p: Prepared) -> Hyper:
        return Hyper(
            epochs=100,
            batch_size=32,
            lr=1e-3,
            weight_decay=1e-4,
            dropout=0.1,
            patience=15,
            width=32,
            depth=1,
            extra={"conv": self.opts.conv},
        )

    @staticmethod
    def stats(p: Prepared) -> dict[str, Any]:
        """Window statistics fitted on the training windows (exported inside the graph)."""
        x = p.train.inputs[HISTORY].astype(np.float64)
        y = p.train.y.astype(np.float64)
        eps = 1e-3 * float(np.mean(np.abs(x))) + 1e-12
        last = x[:, -1:]
        scale = np.abs(x).mean(axis=1, keepdims=True) + eps
        zx, zy = (x - last) / scale, (y - last) / scale
        return {"x": (zx.mean(0), zx.std(0)), "y": (zy.mean(0), zy.std(0)), "eps": eps}

    def build(self, p: Prepared, hp: Hyper, seed: int) -> nn.Module:
        torch.manual_seed(seed)
        s = self.stats(p)
        return Forecaster(s["x"], s["y"], s["eps"], hp.width, hp.depth, hp.dropout, bool(hp.extra.get("conv")))

    def architecture(self, p: Prepared, hp: Hyper) -> str:
        front = "1-D CNN + " if hp.extra.get("conv") else ""
        return f"{front}LSTM, {hp.depth} layer{'s' if hp.depth > 1 else ''} of {hp.width}"

    def objective(self, p: Prepared, hp: Hyper) -> Objective:
        eps = self.stats(p)["eps"]

        def loss(out: torch.Tensor, y: torch.Tensor, batch: Batch) -> torch.Tensor:
            scale = batch[HISTORY].abs().mean(dim=1, keepdim=True) + eps  # every series weighs the same
            loss: torch.Tensor = ((out - y).abs() / scale).mean()
            return loss

        return Objective(loss, "mae", False, mae)

    def space(self, trial: optuna.Trial, p: Prepared, base: Hyper) -> Hyper:
        return Hyper(
            epochs=trial.suggest_int("epochs", max(2, base.epochs // 4), base.epochs),
            batch_size=base.batch_size,
            lr=trial.suggest_float("lr", 1e-4, 1e-2, log=True),
            weight_decay=base.weight_decay,
            dropout=trial.suggest_float("dropout", 0.0, 0.5),
            patience=base.patience,
            width=trial.suggest_categorical("width", [16, 32, 64, 128]),
            depth=trial.suggest_int("depth", 1, 2),
            extra=dict(base.extra),
        )

    # -- judging ------------------------------------------------------------------------------------
    @property
    def primary(self) -> tuple[str, bool]:
        return ("mae", False)

    def evaluate(self, p: Prepared, outputs: np.ndarray) -> dict[str, Any]:
        return forecast_report(p.test.y, outputs)

    def baselines(self, p: Prepared) -> list[Baseline]:
        return naive_forecasts(p)

    def preprocessing(self, p: Prepared, model: nn.Module) -> dict[str, Any]:
        assert isinstance(model, Forecaster)
        return {
            "input": f"history: the last {p.info['lags']} raw values, oldest first, float32 [batch, {p.info['lags']}]",
            "output": f"forecast: the next {p.info['horizon']} values, float32 [batch, {p.info['horizon']}]",
            "window": "each window relative to its last value, divided by its mean absolute value (+ eps)",
            "eps": rounded(model.eps),
            "mean": rounded(model.norm.mean),
            "std": rounded(model.norm.std),
        }
