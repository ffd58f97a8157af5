"""Small real datasets written per test: a table with a categorical column and missing values, a folder of
PNG images, a set of monthly series. Each trains in seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def make_table(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """Three classes separable from two numeric columns and a colour; a noise column; a few holes and repeats."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = np.array([[0.0, 0.0], [4.0, 1.0], [1.0, 5.0]])
    xy = centres[y] * 10 + rng.normal(0, 6, (n, 2)) + 100  # raw scale far from 0/1 on purpose
    colours = np.array(["red", "green", "blue"])[np.where(rng.random(n) < 0.8, y, rng.integers(0, 3, n))]
    df = pd.DataFrame(
        {
            "height": xy[:, 0],
            "width": xy[:, 1],
            "noise": rng.normal(0, 1, n),
            "colour": colours,
            "species": np.array(["setosa", "versicolor", "virginica"])[y],
        }
    )
    df.loc[rng.choice(n, 12, replace=False), "height"] = np.nan
    df.loc[rng.choice(n, 5, replace=False), "colour"] = None
    return pd.concat([df, df.iloc[:4]], ignore_index=True)  # 4 exact duplicates


@pytest.fixture
def table_csv(tmp_path: Path) -> Path:
    path = tmp_path / "flowers.csv"
    make_table().to_csv(path, index=False)
    return path


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Two classes of 10x10 RGB PNGs: a bright square top-left or bottom-right, on noise; 24 per class."""
    from PIL import Image

    rng = np.random.default_rng(0)
    root = tmp_path / "shapes"
    for cls, (r0, c0) in (("top", (1, 1)), ("bottom", (5, 5))):
        (root / cls).mkdir(parents=True)
        for i in range(24):
            a = rng.integers(0, 60, (10, 10, 3)).astype(np.uint8)
            a[r0 : r0 + 4, c0 : c0 + 4] = 220
            Image.fromarray(a).save(root / cls / f"{i}.png")
    return root


def make_series(months: int = 96, groups: int = 3, seed: int = 0) -> pd.DataFrame:
    """Monthly series with a yearly cycle, a trend and noise; one per shop."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2010-01-01", periods=months, freq="MS")
    rows = []
    for g in range(groups):
        level = 50 + 20 * g
        t = np.arange(months)
        values = level + 0.2 * t + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, months)
        rows += [{"month": d, "shop": f"shop{g}", "sales": v} for d, v in zip(dates, values, strict=True)]
    return pd.DataFrame(rows)


@pytest.fixture
def series_csv(tmp_path: Path) -> Path:
    path = tmp_path / "sales.csv"
    make_series().to_csv(path, index=False)
    return path
