"""``lepton train`` from the command line: a summary with the baselines, JSON and HTML, one-line errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import typer
from cli_run import cli

from lepton.training.options import TrainOptions


def lepton(*args: str) -> subprocess.CompletedProcess[str]:
    return cli(*args)  # main() in this process: the same output and exit codes, without a Python start


def test_train_prints_the_model_beside_its_baselines_and_writes_reports(table_csv: Path, tmp_path: Path) -> None:
    out, html = tmp_path / "r.json", tmp_path / "r.html"
    p = lepton(
        "train", "classify", str(table_csv), "--target", "species", "--categorical", "colour",
        "--epochs", "3", "--json", str(out), "--html", str(html),
    )  # fmt: skip
    text = p.stdout + p.stderr
    assert p.returncode == 0, text
    assert "MLP, 2 hidden layers of 128 (exported ONNX)" in text and "random forest (baseline)" in text
    assert "majority class (baseline)" in text and "next: lepton optimize flowers" in text
    assert "17 missing values" in text and "4 duplicates dropped" in text
    d = json.loads(out.read_text())
    assert d["name"] == "flowers" and d["recipe"] == "classify" and d["split"]["test"] == 48
    assert [v["baseline"] for v in d["versus_baselines"]] == ["random forest", "majority class"]
    assert "Plotly" in html.read_text() and "Confusion matrix" in html.read_text()


def test_bad_input_is_one_line_and_exit_2(table_csv: Path, tmp_path: Path) -> None:
    p = lepton("train", "classify", str(table_csv), "--target", "kind")
    out = p.stdout + p.stderr
    assert p.returncode == 2 and "Traceback" not in out, out
    assert out.count("error:") == 1 and "no column 'kind' for --target" in out
    p = lepton("train", "forecast", "--example", "digits")
    assert p.returncode == 2 and "forecast has these examples: stocks" in p.stdout + p.stderr


def test_cli_options_are_the_python_keywords() -> None:
    import lepton
    import lepton.training.run  # the package and the function do not shadow each other
    from lepton import api
    from lepton.cli import app

    assert lepton.train is api.train

    command = typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]
    cli = {p.name for p in command.params} - {"recipe", "data", "json_path"} | {"json"}
    fields = set(TrainOptions.__dataclass_fields__) - {"recipe", "data", "extra"} | {"json", "html"}
    assert cli == fields


def test_lepton_report_writes_a_train_runs_page(tmp_path: Path) -> None:
    from lepton import api
    from lepton.store import Store

    r = api.train("classify", example="digits", epochs=2, name="d2")
    html = tmp_path / "train.html"
    p = lepton("report", r.run_id or "", "--html", str(html))
    assert p.returncode == 0, p.stdout + p.stderr
    assert html.exists() and "d2" in html.read_text() and Store().run(r.run_id or "").summary.kind == "train"
