"""Tables in (CSV, Parquet, ``.npz``), model inputs out: target, missing values, duplicates, categorical columns.

Numeric features stay raw (missing values as NaN): the model imputes and normalises them inside its graph with
parameters fitted on the training split, so a served row needs no preprocessing. Categorical columns become a
string input that the graph maps to codes (unknown values share code 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lepton.errors import UserError, first_line
from lepton.training.dataset import Prepared, check_classes, split_rows, stratified_folds

if TYPE_CHECKING:
    import pandas as pd

    from lepton.training.options import TrainOptions

LABEL_NAMES = ("label", "labels", "target", "y", "class")
FEATURES, CATEGORICAL = "features", "categorical"
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")


def read_table(path: Path) -> pd.DataFrame:
    import pandas as pd

    if not path.exists():
        raise UserError(f"{path}: no such file; give a CSV or Parquet file, an .npz, or an image folder")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        elif suffix in (".csv", ".tsv", ".txt"):
            df = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
        else:
            raise UserError(
                f"{path}: unsupported data format {suffix or '(no suffix)'}; use .csv, .tsv, .parquet, .npz "
                "or a folder of images (one sub-folder per class)"
            )
    except UserError:
        raise
    except Exception as e:  # pandas raises many kinds for a malformed file
        raise UserError(f"{path}: cannot read it as a table ({first_line(e, 160)}); check the file") from None
    if df.empty:
        raise UserError(f"{path}: the table has no rows; give a file with data")
    return df


def find_target(columns: list[str], target: str | None, where: str) -> str:
    """The label column: ``--target`` when given (it must exist), else a column named like a label."""
    if target is not None:
        if target not in columns:
            shown = ", ".join(columns[:12]) + (f" (and {len(columns) - 12} more)" if len(columns) > 12 else "")
            raise UserError(f"{where}: no column {target!r} for --target; the columns are: {shown}")
        return target
    for name in LABEL_NAMES:
        for c in columns:
            if c.lower() == name:
                return c
    raise UserError(
        f"{where}: which column is the target? None is named {', '.join(LABEL_NAMES)}; "
        f"give --target (columns: {', '.join(columns[:12])})"
    )


def encode_labels(values: np.ndarray, where: str) -> tuple[np.ndarray, list[str]]:
    """Class codes 0..K-1 and the class names (sorted; integers sort as numbers)."""
    import pandas as pd

    s = pd.Series(values)
    if pd.api.types.is_float_dtype(s) and not np.all(np.mod(s.to_numpy(), 1) == 0):
        raise UserError(
            f"{where}: the target has {s.nunique()} distinct fractional values; classify needs class labels "
            "(strings or integers). For a number to predict over time use the forecast recipe"
        )
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        uniq = np.unique(s.to_numpy())
        names = [str(int(u)) if isinstance(u, float | np.floating) else str(u) for u in uniq]
        codes = np.searchsorted(uniq, s.to_numpy())
    else:
        text = s.astype(str).to_numpy()
        uniq = np.unique(text)
        names, codes = [str(u) for u in uniq], np.searchsorted(uniq, text)
    return codes.astype(np.int64), names


def prepare_table(df: pd.DataFrame, opts: TrainOptions, where: str) -> Prepared:
    """A tabular classification dataset from a DataFrame, split stratified with ``opts.seed``."""
    import pandas as pd

    columns = [str(c) for c in df.columns]
    df = df.rename(columns=dict(zip(df.columns, columns, strict=True)))
    target = find_target(columns, opts.target, where)
    for flag, names in (("--categorical", opts.categorical), ("--ignore", opts.ignore)):
        missing = [c for c in names if c not in columns]
        if missing:
            raise UserError(f"{where}: {flag} names no column {', '.join(map(repr, missing))}; columns: {columns}")
    if target in opts.categorical:
        raise UserError(f"{where}: {target!r} is the target; leave it out of --categorical")
    report: dict[str, Any] = {"source": where, "rows_read": len(df), "target": target}
    features = [c for c in columns if c != target and c not in opts.ignore]
    if not features:
        raise UserError(f"{where}: no feature columns left besides the target {target!r}; give a table with features")

    no_label = df[target].isna()
    if no_label.any():
        report["dropped_no_target"] = int(no_label.sum())
        df = df[~no_label]
    all_missing = [c for c in features if df[c].isna().all()]
    if all_missing:
        report["dropped_empty_columns"] = all_missing
        features = [c for c in features if c not in all_missing]
    categorical = [c for c in features if c in opts.categorical]
    numeric = [c for c in features if c not in categorical]
    bad = [c for c in numeric if not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]))]
    if bad:
        sample = ", ".join(f"{c}={df[c].dropna().iloc[0]!r}" for c in bad[:3])
        raise UserError(
            f"{where}: column(s) {', '.join(map(repr, bad))} are not numeric ({sample}); declare them with "
            f"--categorical {','.join(bad)}, or leave them out with --ignore {','.join(bad)}"
        )

    if opts.duplicates == "drop":
        dup = df.duplicated(subset=[*features, target])
        report["duplicates_dropped"] = int(dup.sum())
        df = df[~dup]
    conflicts = df.duplicated(subset=features, keep=False) & ~df.duplicated(subset=[*features, target], keep=False)
    if conflicts.any():
        report["conflicting_rows"] = int(conflicts.sum())
    missing_counts = {c: int(n) for c, n in df[features].isna().sum().items() if n}
    report["missing"] = missing_counts
    if missing_counts and opts.missing == "drop":
        has_missing = df[features].isna().any(axis=1)
        report["missing_rows_dropped"] = int(has_missing.sum())
        df = df[~has_missing]
    report["missing_policy"] = (
        "none missing"
        if not missing_counts
        else "rows with a missing value dropped"
        if opts.missing == "drop"
        else "imputed (numeric: training median; categorical: the unknown category), inside the model"
    )
    if len(df) == 0:
        raise UserError(f"{where}: no rows left after dropping missing values; use --missing impute")

    y, classes = encode_labels(df[target].to_numpy(), where)
    check_classes(y, classes, where, folds=opts.folds)
    inputs: dict[str, np.ndarray] = {}
    if numeric:
        inputs[FEATURES] = df[numeric].astype("float64").to_numpy().astype(np.float32)
    if categorical:
        cat = df[categorical].astype("string").fillna("").to_numpy().astype(str)
        inputs[CATEGORICAL] = cat
    report["rows_used"] = len(df)
    report["numeric_columns"] = numeric
    report["categorical_columns"] = categorical
    train, val, test = split_rows(inputs, y, opts.val_fraction, opts.test_fraction, opts.seed)
    prepared = Prepared("classification", "tabular", train, val, test, classes, report, {})
    prepared.info = {"numeric": numeric, "categorical": categorical}
    if opts.folds:
        prepared.folds = stratified_folds(prepared.pool.y, opts.folds, opts.seed)
    return prepared


def read_npz(path: Path, target: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """(features, labels, label name) from an ``.npz`` holding one feature array and one label array."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:
        raise UserError(f"{path}: cannot read it as .npz ({first_line(e, 160)}); save it with numpy.savez") from None
    label = find_target(list(arrays), target, str(path))
    rest = {k: v for k, v in arrays.items() if k != label}
    if len(rest) != 1:
        raise UserError(
            f"{path}: expected one feature array besides {label!r}; found {', '.join(rest) or 'none'}. "
            "Save features as one array (rows first) and labels as another"
        )
    (name, x), y = next(iter(rest.items())), arrays[label]
    if len(x) != len(y):
        raise UserError(f"{path}: {name!r} has {len(x)} rows but {label!r} has {len(y)}; they must match")
    if x.dtype.kind not in "biuf":
        raise UserError(f"{path}: {name!r} holds {x.dtype} values; features must be numeric")
    return x, y, label


def numeric_table(x: np.ndarray, y: np.ndarray, opts: TrainOptions, where: str) -> Prepared:
    """A tabular dataset from a numeric matrix (the .npz path); missing values handled as in a table."""
    import pandas as pd

    df = pd.DataFrame(x.reshape(len(x), -1), columns=[f"x{i}" for i in range(int(np.prod(x.shape[1:])))])
    df["label"] = y
    return prepare_table(df, _with_target(opts, "label"), where)


def _with_target(opts: TrainOptions, target: str) -> TrainOptions:
    from dataclasses import replace

    return replace(opts, target=target)
