"""Time series in, forecasting windows out: lags of the target as input, the next ``horizon`` values as target.

The split is by time, never shuffled: per series, the last ``test_fraction`` of points is the test span and
the ``val_fraction`` before it the validation span; a window belongs to the span its first forecast step
falls in, and training windows end before validation starts. The naive baselines (last value, seasonal
naive) are computed from the full history of each series for the same windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lepton.errors import UserError
from lepton.training.dataset import Prepared, Split

if TYPE_CHECKING:
    import pandas as pd

    from lepton.training.options import TrainOptions

HISTORY = "history"
TIME_NAMES = ("date", "time", "timestamp", "datetime", "ds", "month", "day")
_SEASONS = (
    (0.9, 1.1, 24),
    (0.9 * 24, 1.1 * 24, 7),
    (6.5 * 24, 7.5 * 24, 52),
    (28 * 24, 31.5 * 24, 12),
    (89 * 24, 93 * 24, 4),
)


@dataclass
class Series:
    key: str
    values: np.ndarray  # float64, time order
    times: np.ndarray  # float64 (seconds since epoch, or positions)
    labels: list[str]  # how each time point prints


def infer_season(times: np.ndarray, is_time: bool) -> tuple[int, str]:
    """(season length, why) from the median spacing of the time column: hourly 24, daily 7, weekly 52, ..."""
    if not is_time or len(times) < 3:
        return 1, "no time column: no seasonality assumed (give --season)"
    hours = float(np.median(np.diff(times))) / 3600
    for lo, hi, season in _SEASONS:
        if lo <= hours <= hi:
            return season, f"median spacing {hours / 24:.3g} days"
    return 1, f"median spacing {hours:.3g} h matches no calendar season (give --season)"


def read_series(df: pd.DataFrame, opts: TrainOptions, where: str) -> tuple[list[Series], dict[str, Any]]:
    import pandas as pd

    columns = [str(c) for c in df.columns]
    df = df.rename(columns=dict(zip(df.columns, columns, strict=True)))
    time_col = opts.time_column
    if time_col is None:
        time_col = next((c for c in columns if c.lower() in TIME_NAMES), None)
    for flag, col in (("--time-column", time_col), ("--group", opts.group)):
        if col is not None and col not in columns:
            raise UserError(f"{where}: no column {col!r} for {flag}; the columns are: {', '.join(columns)}")
    skip = {time_col, opts.group}
    numeric = [c for c in columns if c not in skip and pd.api.types.is_numeric_dtype(df[c])]
    target = opts.target
    if target is None:
        if len(numeric) != 1:
            raise UserError(
                f"{where}: which column is the value to forecast? Give --target (numeric columns: "
                f"{', '.join(numeric) or 'none'})"
            )
        target = numeric[0]
    if target not in columns:
        raise UserError(f"{where}: no column {target!r} for --target; the columns are: {', '.join(columns)}")
    if not pd.api.types.is_numeric_dtype(df[target]):
        sample = df[target].dropna().iloc[0] if df[target].notna().any() else None
        raise UserError(f"{where}: the target {target!r} is not numeric (e.g. {sample!r}); forecast needs numbers")
    report: dict[str, Any] = {"source": where, "rows_read": len(df), "target": target, "time_column": time_col}
    is_time = False
    if time_col is not None:
        parsed = pd.to_datetime(df[time_col], errors="coerce")
        if parsed.notna().mean() > 0.95:
            if parsed.dt.tz is not None:
                parsed = parsed.dt.tz_convert(None)
            seconds = parsed.astype("datetime64[ns]").astype("int64") / 1e9  # pandas may hold s or us units
            df = df.assign(_t=seconds, _label=parsed.dt.strftime("%Y-%m-%d"))
            df = df[parsed.notna()]
            is_time = True
        elif pd.api.types.is_numeric_dtype(df[time_col]):
            df = df.assign(_t=df[time_col].astype(float), _label=df[time_col].astype(str))
        else:
            raise UserError(f"{where}: --time-column {time_col!r} holds neither dates nor numbers")
    else:
        df = df.assign(_t=np.arange(len(df), dtype=float), _label=[str(i) for i in range(len(df))])
    groups = df.groupby(opts.group, sort=True) if opts.group else [("all", df)]
    series: list[Series] = []
    missing = dupes = 0
    for key, g in groups:
        g = g.sort_values("_t")
        dup = g["_t"].duplicated(keep="last")
        if dup.any():
            if opts.duplicates == "keep" or not time_col:
                raise UserError(
                    f"{where}: series {key!r} has {int(dup.sum())} repeated time stamps; give --group to separate "
                    "series, or --duplicates drop to keep the last value of each time"
                )
            dupes += int(dup.sum())
            g = g[~dup]
        v = g[target].astype(float)
        missing += int(v.isna().sum())
        if v.isna().any():
            v = v.dropna() if opts.missing == "drop" else v.interpolate(limit_direction="both")
            g = g.loc[v.index]
        if v.isna().all() or len(v) == 0:
            continue
        series.append(Series(str(key), v.to_numpy(np.float64), g["_t"].to_numpy(np.float64), list(g["_label"])))
    report["series"] = len(series)
    report["duplicates_dropped"] = dupes
    report["missing"] = {target: missing} if missing else {}
    report["missing_policy"] = (
        "none missing"
        if not missing
        else "points dropped"
        if opts.missing == "drop"
        else "interpolated linearly within each series"
    )
    report["is_time"] = is_time
    return series, report


def read_npz_series(path: Path, target: str | None) -> list[Series]:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    if target is not None and target not in arrays:
        raise UserError(f"{path}: no array {target!r} for --target; arrays: {', '.join(arrays)}")
    if target is None and len(arrays) != 1:
        raise UserError(f"{path}: holds {', '.join(arrays)}; give --target to name the series array")
    a = np.asarray(arrays[target] if target else next(iter(arrays.values())), dtype=np.float64)
    if a.ndim not in (1, 2):
        raise UserError(f"{path}: a series array must be 1-D (one series) or 2-D (series x time); got {a.shape}")
    rows = a[None] if a.ndim == 1 else a
    return [
        Series(str(i), r, np.arange(len(r), dtype=float), [str(t) for t in range(len(r))]) for i, r in enumerate(rows)
    ]


def stocks(opts: TrainOptions) -> tuple[list[Series], dict[str, Any]]:
    """Monthly closing prices of five stocks, 2000-2010 (vega_datasets, bundled offline)."""
    from dataclasses import replace

    from vega_datasets import data

    df = data.stocks()
    o = replace(opts, target=opts.target or "price", group=opts.group or "symbol")
    series, report = read_series(df, replace(o, time_column=None), "stocks")
    report["source"] = "vega_datasets stocks (bundled: monthly prices of 5 stocks, 2000-2010)"
    return series, report


def seasonal_naive(values: np.ndarray, origin: int, horizon: int, season: int) -> np.ndarray:
    """The value one season before each forecast step (the last value when the season is 1)."""
    out = np.empty(horizon)
    for h in range(horizon):
        back = season * (h // season + 1)
        i = origin + h - back
        out[h] = values[i] if i >= 0 else values[0]
    return out


def make_windows(series: list[Series], opts: TrainOptions, season: int, lags: int, where: str) -> Prepared:
    """Windows split by time, with the naive baselines for the validation and test windows."""
    horizon = opts.horizon
    parts: dict[str, dict[str, list[Any]]] = {
        s: {"x": [], "y": [], "naive": [], "seasonal": [], "meta": []} for s in ("train", "val", "test")
    }
    longest = max((len(s.values) for s in series), default=0)
    for sid, s in enumerate(series):
        n = len(s.values)
        te0 = n - max(1, int(round(n * opts.test_fraction)))
        va0 = te0 - max(1, int(round(n * opts.val_fraction)))
        for t in range(lags, n - horizon + 1):
            end = t + horizon - 1
            part = "test" if t >= te0 else "val" if t >= va0 and end < te0 else "train" if end < va0 else None
            if part is None:
                continue
            p = parts[part]
            p["x"].append(s.values[t - lags : t])
            p["y"].append(s.values[t : t + horizon])
            p["naive"].append(np.repeat(s.values[t - 1], horizon))
            p["seasonal"].append(seasonal_naive(s.values, t, horizon, season))
            p["meta"].append((sid, t, s.times[t], s.times[end]))
    need = {"train": 8, "val": 1, "test": 1}
    counts = {k: len(parts[k]["x"]) for k in need}
    if any(counts[k] < v for k, v in need.items()):
        found = ", ".join(f"{k} {n} windows" for k, n in counts.items())
        raise UserError(
            f"{where}: too few points for --lags {lags} + --horizon {horizon} with a time split "
            f"(longest series: {longest} points; {found}). Give longer series, or fewer --lags or a smaller --horizon"
        )

    def split(name: str) -> Split:
        p = parts[name]
        return Split({HISTORY: np.asarray(p["x"], np.float32)}, np.asarray(p["y"], np.float32))

    prepared = Prepared("forecast", "series", split("train"), split("val"), split("test"))
    prepared.info = {
        "lags": lags,
        "horizon": horizon,
        "season": season,
        "naive": {k: np.asarray(parts[k]["naive"], np.float32) for k in ("val", "test")},
        "seasonal": {k: np.asarray(parts[k]["seasonal"], np.float32) for k in ("val", "test")},
        "test_meta": parts["test"]["meta"],
        "series": [s.key for s in series],
        "labels": [s.labels for s in series],
        "values": [s.values for s in series],
        "pool_meta": parts["train"]["meta"] + parts["val"]["meta"],
    }
    if opts.folds:
        prepared.folds = time_folds(prepared.info["pool_meta"], opts.folds, where)
    return prepared


def time_folds(meta: list[tuple[int, int, float, float]], k: int, where: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Rolling-origin folds: fold i validates on the i-th of ``k`` later blocks of forecast origins and trains on
    every window whose targets end before that block starts."""
    origins = np.asarray([m[2] for m in meta])
    ends = np.asarray([m[3] for m in meta])
    uniq = np.unique(origins)
    blocks = np.array_split(uniq, k + 1)
    folds = []
    for b in blocks[1:]:
        if len(b) == 0:
            continue
        va = np.flatnonzero((origins >= b[0]) & (origins <= b[-1]))
        tr = np.flatnonzero(ends < b[0])
        if len(tr) >= 8 and len(va):
            folds.append((tr, va))
    if len(folds) < 2:
        raise UserError(f"{where}: too few windows for {k} rolling-origin folds; use fewer --folds or longer series")
    return folds
