"""Data preparation: splits, missing values, duplicates, categories, images, series, and every bad input as
one UserError that names the problem and what to do (nothing trained, nothing stored)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from train_helpers import nothing_stored

from lepton.errors import UserError
from lepton.training.dataset import stratified_folds, stratified_split
from lepton.training.images import augment
from lepton.training.options import TrainOptions
from lepton.training.recipe import recipe_for
from lepton.training.run import train
from lepton.training.series import infer_season, seasonal_naive


def prepare(recipe: str, data: Path | None = None, **kw: object):  # type: ignore[no-untyped-def]
    return recipe_for(TrainOptions.build(recipe, data, **kw)).prepare()


# -- splits -----------------------------------------------------------------------------------------
def test_stratified_split_is_disjoint_proportional_and_seeded() -> None:
    y = np.repeat([0, 1, 2], [100, 50, 10])
    tr, va, te = stratified_split(y, 0.15, 0.2, seed=3)
    assert len(np.intersect1d(tr, va)) == len(np.intersect1d(tr, te)) == len(np.intersect1d(va, te)) == 0
    assert len(tr) + len(va) + len(te) == len(y)
    assert [int(np.sum(y[te] == c)) for c in range(3)] == [20, 10, 2]
    assert [int(np.sum(y[va] == c)) for c in range(3)] == [15, 8, 2]  # round(7.5) -> 8, round(1.5) -> 2
    again = stratified_split(y, 0.15, 0.2, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again, strict=True))
    assert not np.array_equal(te, stratified_split(y, 0.15, 0.2, seed=4)[2])


def test_folds_validate_every_row_once() -> None:
    y = np.repeat([0, 1], [23, 17])
    folds = stratified_folds(y, 4, seed=0)
    seen = np.concatenate([va for _, va in folds])
    assert sorted(seen) == list(range(40))
    for tr, va in folds:
        assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == 40
        assert 4 <= np.sum(y[va] == 0) <= 6  # each fold keeps the class balance


# -- tables -----------------------------------------------------------------------------------------
def test_table_reports_missing_values_and_duplicates(table_csv: Path) -> None:
    p = prepare("classify", table_csv, target="species", categorical="colour")
    r = p.report
    assert r["rows_read"] == 244 and r["duplicates_dropped"] == 4 and r["rows_used"] == 240
    assert r["missing"] == {"height": 12, "colour": 5}
    assert "imputed" in r["missing_policy"]
    assert p.classes == ["setosa", "versicolor", "virginica"]
    assert set(p.train.inputs) == {"features", "categorical"}
    assert p.train.inputs["categorical"].dtype.kind == "U"
    assert np.isnan(p.pool.inputs["features"]).sum() + np.isnan(p.test.inputs["features"]).sum() == 12
    dropped = prepare("classify", table_csv, target="species", categorical="colour", missing="drop")
    assert dropped.report["rows_used"] == 240 - dropped.report["missing_rows_dropped"] < 240
    assert not np.isnan(dropped.pool.inputs["features"]).any()


def test_target_column_that_does_not_exist(table_csv: Path) -> None:
    with pytest.raises(UserError, match=r"no column 'kind' for --target; the columns are: height, width"):
        train(TrainOptions.build("classify", table_csv, target="kind", categorical="colour"))
    nothing_stored()


def test_single_class(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    pd.DataFrame({"a": range(20), "label": ["cat"] * 20}).to_csv(path, index=False)
    with pytest.raises(UserError, match=r"single class \(only 'cat'\).*at least two"):
        train(TrainOptions.build("classify", path))
    nothing_stored()


def test_too_few_rows_for_the_split(tmp_path: Path) -> None:
    path = tmp_path / "few.csv"
    pd.DataFrame({"a": range(8), "label": ["x"] * 6 + ["y"] * 2}).to_csv(path, index=False)
    with pytest.raises(UserError, match=r"too few rows.*at least 3 rows, and 'y': 2 has fewer"):
        train(TrainOptions.build("classify", path))
    with pytest.raises(UserError, match=r"at least 5 rows.*fewer --folds"):
        prepare("classify", path, folds=4)
    nothing_stored()


def test_non_numeric_feature_not_declared_categorical(table_csv: Path) -> None:
    with pytest.raises(
        UserError, match=r"'colour' are not numeric \(colour='.*'\); declare them with --categorical colour"
    ):
        train(TrainOptions.build("classify", table_csv, target="species"))
    nothing_stored()


def test_fractional_target_is_not_a_class_label(tmp_path: Path) -> None:
    path = tmp_path / "reg.csv"
    pd.DataFrame({"a": range(30), "label": np.linspace(0, 1, 30)}).to_csv(path, index=False)
    with pytest.raises(UserError, match="fractional values; classify needs class labels"):
        prepare("classify", path)


def test_options_are_checked_when_built() -> None:
    with pytest.raises(UserError, match="unknown recipe 'regress'"):
        TrainOptions.build("regress", example="digits")
    with pytest.raises(UserError, match="give DATA .* or --example"):
        TrainOptions.build("classify")
    with pytest.raises(UserError, match="--horizon|--lags: for the forecast recipe only"):
        TrainOptions.build("classify", example="digits", lags=4)
    with pytest.raises(UserError, match="--dropout"):
        TrainOptions.build("classify", example="digits", dropout=1.5)
    with pytest.raises(UserError, match="unknown option"):
        TrainOptions.build("classify", example="digits", epoch=3)
    with pytest.raises(UserError, match="--augment: unknown rotate"):
        TrainOptions.build("classify", example="digits", augment="flip,rotate")


# -- images -----------------------------------------------------------------------------------------
def test_image_folder_reads_classes_and_keeps_raw_pixels(image_folder: Path) -> None:
    p = prepare("classify", image_folder)
    assert p.kind == "image" and p.classes == ["bottom", "top"]
    assert p.info["shape"] == [3, 10, 10] and p.report["rows_used"] == 48
    assert p.train.inputs["image"].max() == 220.0  # raw, not normalised: the graph normalises


def test_image_folder_with_an_unreadable_file(image_folder: Path) -> None:
    (image_folder / "top" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(UserError, match=r"broken.png: cannot read it as an image .*remove or replace the file"):
        train(TrainOptions.build("classify", image_folder))
    nothing_stored()


def test_augment_flips_shifts_and_adds_noise_reproducibly() -> None:
    import torch

    x = torch.zeros(4, 1, 8, 8)
    x[:, :, 2:4, 0:2] = 1.0
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    a = augment(x, ("flip", "shift"), torch.ones(1, 1, 1, 1), g1)
    b = augment(x, ("flip", "shift"), torch.ones(1, 1, 1, 1), g2)
    assert torch.equal(a, b) and a.shape == x.shape
    assert a.sum() <= x.sum() and not torch.equal(a, x)  # moved (zero fill can only drop pixels)
    n = augment(x, ("noise",), torch.full((1, 1, 1, 1), 2.0), torch.Generator().manual_seed(0))
    assert 0.1 < float((n - x).std()) < 0.3  # 0.1 x the pixel std (2.0)


# -- text -------------------------------------------------------------------------------------------
def test_text_csv_without_the_named_columns(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    pd.DataFrame({"review": ["good", "bad"] * 10, "label": ["pos", "neg"] * 10}).to_csv(path, index=False)
    with pytest.raises(UserError, match=r"no text column 'text'; the columns are: review, label.*--text-column"):
        train(TrainOptions.build("finetune", path))
    with pytest.raises(UserError, match=r"no column 'sentiment' for --target"):
        prepare("finetune", path, text_column="review", target="sentiment")
    nothing_stored()


def test_bundled_tickets_are_varied_and_balanced() -> None:
    from lepton.training.text import tickets_table

    df = tickets_table()
    assert len(df) == 320 and df["text"].is_unique
    assert df["label"].value_counts().to_dict() == {"billing": 80, "shipping": 80, "technical": 80, "account": 80}
    words = {w for t in df["text"] for w in t.lower().replace(",", " ").replace(".", " ").split()}
    assert len(words) > 900  # written sentences, not one template with slots
    assert df["text"].str.split().str[0].str.lower().nunique() > 40


# -- series -----------------------------------------------------------------------------------------
def test_seasonal_naive_by_hand() -> None:
    v = np.arange(30, dtype=float)  # value == index
    assert seasonal_naive(v, 20, 3, 12).tolist() == [8.0, 9.0, 10.0]
    # steps past one season reach back two seasons: origin 20, step 12 -> index 20 + 12 - 24 = 8
    assert seasonal_naive(v, 20, 14, 12).tolist() == [*range(8, 20), 8.0, 9.0]
    assert seasonal_naive(v, 20, 2, 1).tolist() == [19.0, 19.0]


def test_series_split_by_time_with_season_from_the_dates(series_csv: Path) -> None:
    p = prepare("forecast", series_csv, target="sales", group="shop", horizon=2)
    assert p.info["season"] == 12 and p.report["season_why"].startswith("median spacing")
    assert p.info["lags"] == 12 and p.train.inputs["history"].shape[1:] == (12,)
    assert p.train.y.shape[1:] == (2,)
    meta = p.info["test_meta"]
    pool = p.info["pool_meta"]
    first_test = min(m[2] for m in meta)
    assert max(m[3] for m in pool) < first_test  # no training or validation target inside the test span
    assert infer_season(np.arange(10) * 86400.0, True)[0] == 7


def test_series_too_short(series_csv: Path) -> None:
    with pytest.raises(UserError, match=r"too few points for --lags 80 \+ --horizon 3 .*fewer --lags"):
        train(TrainOptions.build("forecast", series_csv, target="sales", group="shop", lags=80))
    nothing_stored()


def test_forecast_folds_roll_forward_in_time(series_csv: Path) -> None:
    p = prepare("forecast", series_csv, target="sales", group="shop", folds=3)
    meta = p.info["pool_meta"]
    assert len(p.folds) == 3
    for tr, va in p.folds:
        assert max(meta[i][3] for i in tr) < min(meta[i][2] for i in va)  # trained only on the past
    starts = [min(meta[i][2] for i in va) for _, va in p.folds]
    assert starts == sorted(starts)


def test_npz_tables_and_images(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "t.npz", x=rng.normal(size=(60, 5)), label=np.repeat([0, 1, 2], 20))
    t = prepare("classify", tmp_path / "t.npz")
    assert t.kind == "tabular" and t.train.inputs["features"].shape[1] == 5 and t.classes == ["0", "1", "2"]
    np.savez(tmp_path / "i.npz", pixels=rng.integers(0, 255, (40, 6, 6)), y=np.repeat(["a", "b"], 20))
    i = prepare("classify", tmp_path / "i.npz")
    assert i.kind == "image" and i.info["shape"] == [1, 6, 6] and i.classes == ["a", "b"]
    np.savez(tmp_path / "two.npz", a=np.zeros((4, 2)), b=np.zeros((4, 2)), label=np.zeros(4))
    with pytest.raises(UserError, match="expected one feature array besides 'label'; found a, b"):
        prepare("classify", tmp_path / "two.npz")
