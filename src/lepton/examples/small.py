"""Two small real models trained here on bundled offline data: a digits CNN and a stocks LSTM.

They exercise the non-transformer paths of the navigator (convolutions, recurrent layers) with labels,
so quality is a task metric rather than fidelity. Training takes a few seconds on 2 cores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Trained:
    module: object  # torch.nn.Module in eval mode
    example_input: object  # a torch tensor of one batch
    x_eval: np.ndarray
    y_eval: np.ndarray
    task: str


def digits_cnn(epochs: int = 8, seed: int = 0) -> Trained:
    """A small CNN on scikit-learn's 8x8 digits (1,797 images): classification, input [batch, 1, 8, 8]."""
    import torch
    from sklearn.datasets import load_digits
    from torch import nn

    torch.manual_seed(seed)
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x))
    train, test = idx[:1400], idx[1400:]
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 2 * 2, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )
    _fit(model, torch.from_numpy(x[train]), torch.from_numpy(y[train]), nn.CrossEntropyLoss(), epochs)
    return Trained(model.eval(), torch.from_numpy(x[:1]), x[test], y[test], "classification")


def stocks_windows(window: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Monthly log returns of 5 stocks (vega_datasets, offline): ``window`` months -> the next month."""
    from vega_datasets import data

    df = data.stocks()
    xs, ys = [], []
    for _, g in df.groupby("symbol"):
        r = np.diff(np.log(g.sort_values("date")["price"].to_numpy()))
        for i in range(len(r) - window):
            xs.append(r[i : i + window])
            ys.append(r[i + window])
    return np.asarray(xs, np.float32)[..., None], np.asarray(ys, np.float32)


class _Lstm:  # built lazily so importing this module does not import torch
    @staticmethod
    def build(hidden: int) -> Any:
        from torch import nn

        class StocksLstm(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.lstm = nn.LSTM(1, hidden, num_layers=2, batch_first=True)
                self.head = nn.Linear(hidden, 1)

            def forward(self, x):  # type: ignore[no-untyped-def]
                out, _ = self.lstm(x)
                return self.head(out[:, -1]).squeeze(-1)

        return StocksLstm()


def stocks_lstm(epochs: int = 30, hidden: int = 64, seed: int = 0) -> Trained:
    """A 2-layer LSTM forecasting next month's log return: regression, input [batch, 12, 1]."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    x, y = stocks_windows()
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x))
    cut = int(0.8 * len(x))
    model = _Lstm.build(hidden)
    _fit(model, torch.from_numpy(x[idx[:cut]]), torch.from_numpy(y[idx[:cut]]), nn.MSELoss(), epochs)
    model.eval()
    return Trained(model, torch.from_numpy(x[:1]), x[idx[cut:]], y[idx[cut:]], "regression")


def _fit(model, x, y, loss_fn, epochs: int, batch: int = 64) -> None:  # type: ignore[no-untyped-def]
    import torch

    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), batch):
            j = perm[i : i + batch]
            opt.zero_grad()
            loss_fn(model(x[j]), y[j]).backward()
            opt.step()
    model.eval()
