"""The training report: one self-contained page with its charts, user strings escaped."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from cli_run import cli

import lepton
from lepton.report.html.train import render_train_html, write_train_html
from lepton.store import Store
from lepton.training.run import TrainResult

PLOTLY_BANNER = "* plotly.js v"


def test_classification_report_page(table_csv: Path, tmp_path: Path) -> None:
    df = pd.read_csv(table_csv)
    df["species"] = df["species"].replace("setosa", "<b>setosa</b>")
    path = tmp_path / "odd.csv"
    df.to_csv(path, index=False)
    r = lepton.train("classify", path, target="species", categorical="colour", epochs=3, folds=2)
    page = render_train_html(r)
    assert page.count("Plotly.newPlot") == 2 and page.count(PLOTLY_BANNER) == 1  # curves, confusion; js once
    assert "<script src=" not in page  # nothing fetched from a network
    for section in ("Lepton · training report", "Learning curves", "Confusion matrix", "Per class", "Cross-validation"):
        assert section in page
    assert "&lt;b&gt;setosa&lt;/b&gt;" in page and "<b>setosa</b>" not in page
    assert "random forest" in page and "Inside the graph" in page
    assert r.cv is not None and r.cv.completed == 2 and 0 <= r.cv.mean <= 1 and r.cv.metric == "accuracy"
    out = write_train_html(r, tmp_path / "sub" / "report.html")
    assert "Confusion matrix" in out.read_text(encoding="utf-8") and out.stat().st_size > 1_000_000


def test_forecast_report_page(series_csv: Path, tmp_path: Path) -> None:
    html, out = tmp_path / "f.html", tmp_path / "f.json"
    r = lepton.train("forecast", series_csv, target="sales", group="shop", epochs=3, patience=0, html=html, json=out)
    assert json.loads(out.read_text())["artifact_id"] == r.artifact.id and html.exists()
    page = render_train_html(r)
    assert "Test span of shop0" in page and "seasonal naive" in page and "MAE per step" in page
    assert "Confusion matrix" not in page


def test_lepton_report_renders_a_train_run_stored_by_an_older_version(tmp_path: Path) -> None:
    """``lepton report RUN`` on a train run: the record an older version stored (no ``higher_is_better``,
    nulls for what it did not do) reads into the typed result and renders."""
    payload = json.loads((Path(__file__).parent / "old_train_run.json").read_text())
    store = Store()
    run_id = store.start_run("train", payload["name"], payload["artifact_id"])
    store.finish_run(run_id, "done", payload)
    r = TrainResult.from_json(store.run(run_id).payload)
    assert r.higher_is_better and r.tuning is not None and r.tuning.history[0].best and r.cv is not None
    assert r.versus_baselines[0].baseline == "random forest" and r.training.history[0].epoch == 1

    html = tmp_path / "old.html"
    p = cli("report", run_id, "--html", str(html))
    assert p.returncode == 0, p.stdout + p.stderr
    page = html.read_text(encoding="utf-8")
    for section in ("Lepton · training report", "Learning curves", "Confusion matrix", "Tuning", "Cross-validation"):
        assert section in page
    assert "MLP, 2 hidden layers of 128" in page and page.count("Plotly.newPlot") == 3


def test_a_train_result_writes_the_json_it_reads() -> None:
    payload = json.loads((Path(__file__).parent / "old_train_run.json").read_text())
    r = TrainResult.from_json(payload)
    again = r.to_json()
    assert TrainResult.from_json(again) == r
    kept = {k: v for k, v in payload.items() if v is not None}
    assert set(again) == set(kept) | {"higher_is_better"}  # the published names, nulls left out (one None rule)
    assert again["versus_baselines"] == payload["versus_baselines"] and again["training"] == payload["training"]
