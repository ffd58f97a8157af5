"""The Python face: the CLI's option names, every model kind ``import_model`` takes, typed results."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import typer

import lepton
from lepton import api
from lepton.cli import app
from lepton.errors import UserError
from lepton.measure.bench import BenchOptions
from lepton.measure.timing import TimingPlan
from lepton.navigate.options import OptimizeOptions
from lepton.navigate.result import OptimizeResult
from lepton.options import option_names

FAST = {
    "quick": TimingPlan(warmup=1, min_runs=5, min_seconds=0.0, max_seconds=1.0),
    "precise": TimingPlan(warmup=1, min_runs=10, min_seconds=0.0, max_seconds=1.0),
}
README = Path(__file__).resolve().parent.parent / "README.md"


def cli_options(command: str) -> set[str]:
    click_app = typer.main.get_command(app)
    cmd = click_app.commands[command]  # type: ignore[attr-defined]
    return {p.name for p in cmd.params if p.name and p.param_type_name == "option"}


@pytest.mark.parametrize(
    ("command", "options", "face"), [("optimize", OptimizeOptions, api.optimize), ("bench", BenchOptions, api.bench)]
)
def test_the_cli_and_the_api_share_one_vocabulary(command: str, options: type, face: Any) -> None:
    fields = set(option_names(options))
    assert cli_options(command) == fields  # every CLI option is a field of the shared options object
    assert fields <= set(api._explicit(face))  # and an explicit keyword of the Python function


def digits_split() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32), y.astype(np.int64)


def test_optimize_takes_an_nn_module_and_data_under_the_cli_names(tmp_path: Path) -> None:
    x, y = digits_split()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(torch.from_numpy(x[:1400])), torch.from_numpy(y[:1400])).backward()
        opt.step()
    np.savez(tmp_path / "eval.npz", input_0=x[1400:], label=y[1400:])
    result = lepton.optimize(
        net.eval(),
        example_input=torch.zeros(1, 64),
        task="classification",
        data=tmp_path / "eval.npz",
        batch="1",
        max_drop=0.02,
        json=tmp_path / "r.json",
        **FAST,
    )
    assert isinstance(result, OptimizeResult) and result.exit_code == 0
    assert result.baseline[0].engine == "torch" and (result.baseline[0].quality.accuracy or 0) > 0.85
    assert result.workload == str(tmp_path / "eval.npz")
    written = json.loads((tmp_path / "r.json").read_text())
    assert written == result.to_json() and OptimizeResult.from_json(written).to_json() == written


def test_optimize_and_bench_take_a_scikit_learn_estimator(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    x, y = digits_split()
    clf = LogisticRegression(max_iter=500).fit(x[:1200], y[:1200])
    np.savez(tmp_path / "eval.npz", input=x[1200:], label=y[1200:])
    bench = lepton.bench(
        clf, example_input=x[:64], batch=[1, 8], seconds=0.05, data=tmp_path / "eval.npz", engine="onnxruntime"
    )
    assert [(t.engine, t.batch_size) for t in bench.trials] == [("onnxruntime", 1), ("onnxruntime", 8)]
    assert all((t.quality.accuracy or 0) > 0.9 for t in bench.trials)
    result = lepton.optimize(clf, example_input=x[:64], data=tmp_path / "eval.npz", batch=[1], **FAST)
    assert result.recommended_trial is not None
    assert result.recommended_trial.quality.accuracy == pytest.approx(bench.trials[0].quality.accuracy, abs=0.02)


def test_an_unknown_keyword_names_the_valid_ones(tiny_onnx: Path) -> None:
    with pytest.raises(UserError, match=r"optimize: unknown option eval_data; the options are: .*\bdata\b"):
        lepton.optimize(tiny_onnx, eval_data="x.npz")
    with pytest.raises(UserError, match=r"bench: unknown option batch_sizes; .*\bbatch\b"):
        lepton.bench(tiny_onnx, batch_sizes=[1])
    with pytest.raises(UserError, match="--batch"):
        lepton.optimize(tiny_onnx, batch=[0])


@pytest.mark.slow
def test_the_readme_python_block_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has a Python example"
    monkeypatch.chdir(tmp_path)
    # The block runs as written; only how long each measurement lasts is shortened (it checks that the code runs,
    # not the figures): the real optimize, with the short plans the other tests use.
    monkeypatch.setattr(lepton, "optimize", functools.partial(lepton.optimize, **FAST))
    for code in blocks:
        exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})  # noqa: S102
