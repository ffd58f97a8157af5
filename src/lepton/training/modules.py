"""The networks the recipes train. Every fitted preprocessing parameter is a buffer, so it is exported with
the weights and the ONNX graph takes raw rows: imputation, normalisation and category lookup happen inside.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

ONE_HOT_MAX = 12  # categories up to this many values are one-hot encoded; more get a learned embedding


def _buffer(values: np.ndarray | Sequence[float]) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float32))


def rounded(t: torch.Tensor, digits: int = 6) -> list[float]:
    """A buffer's values for the record (6 significant digits)."""
    return [float(f"{v:.{digits}g}") for v in t.detach().flatten().tolist()]


class Standardize(nn.Module):
    """``(x - mean) / std``; with ``fill``, NaN entries are replaced by ``fill`` first (imputation)."""

    mean: torch.Tensor
    std: torch.Tensor
    fill: torch.Tensor

    def __init__(self, mean: np.ndarray, std: np.ndarray, fill: np.ndarray | None = None) -> None:
        super().__init__()
        self.register_buffer("mean", _buffer(mean))
        self.register_buffer("std", _buffer(np.where(np.asarray(std) > 1e-12, std, 1.0)))
        self.impute = fill is not None
        self.register_buffer("fill", _buffer(fill if fill is not None else np.zeros_like(mean)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.impute:
            x = torch.where(torch.isnan(x), self.fill, x)
        return (x - self.mean) / self.std


def mlp(n_in: int, width: int, depth: int, dropout: float, n_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(n_in if i == 0 else width, width), nn.ReLU(), nn.Dropout(dropout)]
    layers.append(nn.Linear(width if depth else n_in, n_out))
    return nn.Sequential(*layers)


class TabularNet(nn.Module):
    """Numeric features (imputed and standardised in the graph) plus categorical codes (one-hot or embedded)."""

    def __init__(
        self,
        numeric: Standardize | None,
        cardinalities: Sequence[int],
        n_classes: int,
        width: int,
        depth: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.numeric = numeric
        self.tables = nn.ModuleList()
        n_in = int(numeric.mean.numel()) if numeric is not None else 0
        for card in cardinalities:
            if card <= ONE_HOT_MAX:
                table = nn.Embedding(card, card)
                table.weight.data = torch.eye(card)
                table.weight.requires_grad_(False)
            else:
                table = nn.Embedding(card, min(16, (card + 1) // 2))
            self.tables.append(table)
            n_in += table.embedding_dim
        self.body = mlp(n_in, width, depth, dropout, n_classes)

    def forward(
        self, features: torch.Tensor | None = None, categorical_codes: torch.Tensor | None = None
    ) -> torch.Tensor:
        parts = []
        if self.numeric is not None and features is not None:
            parts.append(self.numeric(features))
        if categorical_codes is not None:
            parts += [table(categorical_codes[:, j]) for j, table in enumerate(self.tables)]
        out: torch.Tensor = self.body(torch.cat(parts, dim=1) if len(parts) > 1 else parts[0])
        return out


class ImageNet(nn.Module):
    """A small CNN: per-channel normalisation, ``depth`` blocks of two 3x3 convolutions (BatchNorm, ReLU) and
    a 2x2 max-pool while the image is larger than 2 pixels, then a linear classifier."""

    def __init__(
        self,
        shape: Sequence[int],
        mean: np.ndarray,
        std: np.ndarray,
        n_classes: int,
        width: int,
        depth: int,
        dropout: float,
    ) -> None:
        super().__init__()
        c, h, w = (int(s) for s in shape)
        self.norm = Standardize(np.reshape(mean, (c, 1, 1)), np.reshape(std, (c, 1, 1)))
        layers: list[nn.Module] = []
        ch = c
        for i in range(depth):
            out = width * 2**i
            layers += [
                nn.Conv2d(ch, out, 3, padding=1),
                nn.BatchNorm2d(out),
                nn.ReLU(),
                nn.Conv2d(out, out, 3, padding=1),
                nn.BatchNorm2d(out),
                nn.ReLU(),
            ]
            if min(h, w) > 2:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            ch = out
        self.features = nn.Sequential(*layers)
        self.global_pool = h * w > 16  # small maps are flattened (position matters); larger ones averaged
        n_flat = ch if self.global_pool else ch * h * w
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(n_flat, n_classes))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.features(self.norm(image))
        x = x.mean(dim=(2, 3)) if self.global_pool else x.flatten(1)
        out: torch.Tensor = self.head(x)
        return out


class Forecaster(nn.Module):
    """``history [batch, lags]`` of raw values -> ``[batch, horizon]`` forecasts.

    Each window is expressed relative to its last value and scaled by its mean magnitude (so series of any
    level share one model), standardised with statistics fitted on the training windows, optionally passed
    through a 1-D convolution front end, then an LSTM; the head predicts the standardised change, which the
    graph turns back into raw values. A head that outputs zeros forecasts the mean training change.
    """

    y_mean: torch.Tensor
    y_std: torch.Tensor
    eps: torch.Tensor

    def __init__(
        self,
        x_stats: tuple[np.ndarray, np.ndarray],
        y_stats: tuple[np.ndarray, np.ndarray],
        eps: float,
        width: int,
        depth: int,
        dropout: float,
        conv: bool,
    ) -> None:
        super().__init__()
        self.norm = Standardize(*x_stats)
        self.register_buffer("y_mean", _buffer(y_stats[0]))
        self.register_buffer("y_std", _buffer(np.where(y_stats[1] > 1e-12, y_stats[1], 1.0)))
        self.register_buffer("eps", _buffer([eps]))
        self.conv = (
            nn.Sequential(
                nn.Conv1d(1, width, 3, padding=1), nn.ReLU(), nn.Conv1d(width, width, 3, padding=1), nn.ReLU()
            )
            if conv
            else None
        )
        self.lstm = nn.LSTM(
            width if conv else 1, width, num_layers=depth, batch_first=True, dropout=dropout if depth > 1 else 0.0
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(width, len(y_stats[0]))
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def level_scale(self, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return history[:, -1:], history.abs().mean(dim=1, keepdim=True) + self.eps

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        last, scale = self.level_scale(history)
        z = self.norm((history - last) / scale).unsqueeze(-1)  # [batch, lags, 1]
        if self.conv is not None:
            z = self.conv(z.transpose(1, 2)).transpose(1, 2)
        out, _ = self.lstm(z)
        change = self.head(self.drop(out[:, -1]))
        forecast: torch.Tensor = last + scale * (self.y_mean + self.y_std * change)
        return forecast


class TextClassifier(nn.Module):
    """A pre-trained encoder, mean-pooled over the attention mask, with a linear classification head."""

    def __init__(self, encoder: nn.Module, hidden: int, n_classes: int, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        out: torch.Tensor = self.head(self.drop(pooled))
        return out
