from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lepton.measure.timing import TimingPlan

_FAST = {
    "quick": TimingPlan(warmup=1, min_runs=5, min_seconds=0.0, max_seconds=1.0),
    "precise": TimingPlan(warmup=1, min_runs=20, min_seconds=0.0, max_seconds=2.0),
}


@pytest.fixture(scope="session")
def digits_mlp():  # type: ignore[no-untyped-def]
    """A small PyTorch MLP trained on scikit-learn's digits in about a second, with held-out labels."""
    import torch
    from sklearn.datasets import load_digits
    from torch import nn

    torch.manual_seed(0)
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xt, yt = torch.from_numpy(x[:1400]), torch.from_numpy(y[:1400])
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    return model.eval(), x[1400:], y[1400:]


@pytest.fixture
def digits_data(digits_mlp, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    _, x, y = digits_mlp
    path = tmp_path / "eval.npz"
    np.savez(path, input_0=x, label=y)
    return path


@pytest.fixture
def fast() -> dict[str, TimingPlan]:
    """Short timing plans: these tests check behaviour, not speed."""
    return dict(_FAST)
