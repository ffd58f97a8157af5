"""The training report: one self-contained page with its charts, user strings escaped."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

import lepton
from lepton.training.report import render_train_html, write_train_html

PLOTLY_BANNER = "* plotly.js v"


def test_classification_report_page(table_csv: Path, tmp_path: Path) -> None:
    df = pd.read_csv(table_csv)
    df["species"] = df["species"].replace("setosa", "<b>setosa</b>")
    path = tmp_path / "odd.csv"
    df.to_csv(path, index=False)
    r = lepton.train("classify", path, target="species", categorical="colour", epochs=3, folds=2)
    page = render_train_html(r.to_json())
    assert page.count("Plotly.newPlot") == 2 and page.count(PLOTLY_BANNER) == 1  # curves, confusion; js once
    assert "<script src=" not in page  # nothing fetched from a network
    for section in ("Lepton · training report", "Learning curves", "Confusion matrix", "Per class", "Cross-validation"):
        assert section in page
    assert "&lt;b&gt;setosa&lt;/b&gt;" in page and "<b>setosa</b>" not in page
    assert "random forest" in page and "Inside the graph" in page
    assert r.cv is not None and r.cv["completed"] == 2 and 0 <= r.cv["mean"] <= 1 and r.cv["metric"] == "accuracy"
    out = write_train_html(r.to_json(), tmp_path / "sub" / "report.html")
    assert "Confusion matrix" in out.read_text(encoding="utf-8") and out.stat().st_size > 1_000_000


def test_forecast_report_page(series_csv: Path, tmp_path: Path) -> None:
    html, out = tmp_path / "f.html", tmp_path / "f.json"
    r = lepton.train("forecast", series_csv, target="sales", group="shop", epochs=3, patience=0, html=html, json=out)
    assert json.loads(out.read_text())["artifact_id"] == r.artifact.id and html.exists()
    page = render_train_html(r.to_json())
    assert "Test span of shop0" in page and "seasonal naive" in page and "MAE per step" in page
    assert "Confusion matrix" not in page
