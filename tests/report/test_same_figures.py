"""One real optimize run: the terminal summary, the JSON and the HTML report quote the same gains.

The digits MLP's PyTorch eager baseline is beaten by far by ONNX Runtime (several times the throughput on this
tiny model, where PyTorch's per-call overhead dominates), so the verdict is "recommend" and there are gains to
compare at both batch sizes. ``lepton report RUN`` rebuilds the same page from the store.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from html import unescape
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from rich.console import Console

import lepton
from lepton.report.summary import print_summary

# One gain line, as report.summary.gain_text words it.
GAIN_LINE = re.compile(
    r"vs baseline at batch (\d+)[^:]*: ([\d.]+)x throughput single-stream, ([\d.]+)x loaded "
    r"\[95% CI ([\d.]+)-([\d.]+)\], ([\d.]+)x lower p50, ([\d.]+)x cheaper per 1M"
)
RATIOS = ("throughput_x", "single_stream_throughput_x", "p50_x", "cost_x")


def verdict_box(page: str) -> str:
    m = re.search(r"<section[^>]*id=['\"]verdict['\"].*?</section>", page, re.S)
    assert m, "the page has a verdict box"
    return m.group(0)


def quoted_in_words(g: dict[str, Any]) -> tuple[str, ...]:
    """What a gain line shows of one published gain, at the precision it shows it."""
    low, high = g["ci95"]["throughput_x"]
    figures = (g["single_stream_throughput_x"], g["throughput_x"], low, high, g["p50_x"], g["cost_x"])
    return (str(g["batch_size"]), *(f"{x:.2f}" for x in figures))


@pytest.fixture(scope="module")
def run(
    digits_mlp: Any, tmp_path_factory: pytest.TempPathFactory, fast_shared: dict[str, Any]
) -> tuple[Any, Path, Path, Path]:
    """One optimize run shared by both tests (they only read it), in a store of its own: (result, html, json,
    its LEPTON_HOME)."""
    model, x, y = digits_mlp
    folder = tmp_path_factory.mktemp("same-figures")
    home, data = folder / "lepton-home", folder / "eval.npz"
    np.savez(data, input_0=x, label=y)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEPTON_HOME", str(home))
        art = lepton.import_model(model, example_input=torch.zeros(1, 64), name="digits", task="classification")
        html, out = folder / "report.html", folder / "result.json"
        result = lepton.optimize(art, data=data, batch=[1, 32], html=html, json=out, **fast_shared)
    return result, html, out, home


@pytest.mark.slow
def test_terminal_json_and_html_quote_the_same_gains(run: tuple[Any, Path, Path, Path], tmp_path: Path) -> None:
    result, html, out, _ = run
    console = Console(record=True, width=300, file=io.StringIO())
    print_summary(console, result)

    terminal = GAIN_LINE.findall(console.export_text())
    published = json.loads(out.read_text())["gains"]
    page = html.read_text(encoding="utf-8")
    box = verdict_box(page)
    in_box = GAIN_LINE.findall(unescape(box))

    assert result.verdict == "recommend", result.reason
    assert [g["batch_size"] for g in published] == [1, 32]
    assert terminal == in_box == [quoted_in_words(g) for g in published]
    # the table beside the lines: every ratio and its interval, from the same published gains
    cells = re.findall(r"<td data-ratio='(\w+)' data-x='([\d.]+)' data-low='([\d.]+)' data-high='([\d.]+)'>", box)
    assert cells == [
        (name, f"{g[name]:.2f}", f"{g['ci95'][name][0]:.2f}", f"{g['ci95'][name][1]:.2f}")
        for g in published
        for name in RATIOS
    ]
    # ... between the trials the navigator quoted: the recommended one at its own batch size
    pairs = re.findall(r"<code>(\w+)</code> vs baseline <code>(\w+)</code>", box)
    assert pairs == [(g["trial"], g["baseline_trial"]) for g in published]
    rec = result.recommended_trial
    assert (rec.id, rec.batch_size) in {(g["trial"], g["batch_size"]) for g in published}


@pytest.mark.slow
def test_lepton_report_rebuilds_the_same_page_from_the_store(run: tuple[Any, Path, Path, Path], tmp_path: Path) -> None:
    result, html, _, home = run
    again = tmp_path / "again.html"

    p = subprocess.run(
        [sys.executable, "-m", "lepton", "report", result.run_id, "--html", str(again)],
        env={**os.environ, "LEPTON_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert p.returncode == 0, p.stdout + p.stderr
    assert f"report: {again}" in p.stdout
    assert again.read_text(encoding="utf-8") == html.read_text(encoding="utf-8")
