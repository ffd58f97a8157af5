"""``lepton explain`` on a stored run with real artifacts: the trial profiled beside its parent, the per-node
quality, the terminal tables, the JSON and the HTML section (report/explain.py, report/html/explain.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from example_run import example_result
from onnx_models import small_cnn
from trials import trial
from typer.testing import CliRunner

from lepton.cli import app
from lepton.hardware import detect_hardware
from lepton.ir.signature import Signature
from lepton.ir.source import OnnxSource
from lepton.navigate.explain_run import Explanation, explain, stored_explanations
from lepton.navigate.stored import stored_result
from lepton.passes import PASSES, PassContext, apply_chain
from lepton.report.html import render_html
from lepton.store import Store


def stored_run(home: Path, tmp: Path) -> str:
    """A finished optimize run of a small CNN: its fp32 baseline (t1) and dynamic int8 variant (t2, recommended)."""
    store = Store(home)
    path = small_cnn(tmp / "cnn.onnx", channels=3, size=16)
    with store.workdir() as wd:
        shutil.copy(path, wd / "model.onnx")
        base = store.commit_artifact(wd, signature=Signature.from_onnx(onnx.load(str(path))), source=OnnxSource())
    feeds = [{"x": np.random.default_rng(0).standard_normal((8, 3, 16, 16)).astype(np.float32)}]
    ctx = PassContext(store=store, hardware=detect_hardware(), calibration=feeds)
    int8 = apply_chain(base, [PASSES.get("quantize-dynamic")()], ctx)
    t1 = trial("t1", artifact=base.id, variant="fp32", batch=8, threads=1)
    t2 = trial(
        "t2",
        artifact=int8.id,
        variant="int8 dynamic",
        parent="fp32",
        batch=8,
        threads=1,
        chain=(("quantize-dynamic", {}),),
    )
    result = example_result(trials=[t1, t2]).with_(recommended="t2", frontier=("t2",), gains=(), best_by_engine={})
    result = result.with_(model=result.model.with_(artifact_id=base.id, task="generic"))
    run_id = store.start_run("optimize", "cnn", base.id)
    for t in (t1, t2):
        store.add_trial(run_id, t)
    store.finish_run(run_id, "done", {k: v for k, v in result.to_json().items() if k not in ("trials", "run_id")})
    return run_id


@pytest.fixture(scope="module")
def explained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Explanation]:
    home = tmp_path_factory.mktemp("explain-home")
    run_id = stored_run(home, tmp_path_factory.mktemp("explain-models"))
    return home, run_id, explain(Store(home), run_id, quality=True, runs=3)


def test_explain_profiles_the_recommended_variant_beside_its_parent(
    explained: tuple[Path, str, Explanation],
) -> None:
    _, _, e = explained
    assert e.trial_id == "t2" and e.parent_variant == "fp32" and e.last_pass == "quantize-dynamic"
    assert e.profile.engine == "onnxruntime" and e.parent_profile is not None and e.diff is not None
    assert {"ConvInteger", "DynamicQuantizeLinear"} <= {r.op_type for r in e.diff.added}
    assert e.quality is not None and {n.node for n in e.quality.nodes} == {"conv1", "conv2", "fc"}
    assert all(n.quantized for n in e.quality.nodes) and 0.9 < e.quality.output_cosine <= 1.0
    assert e.quality.measured == 3 and all(n.recovered is not None for n in e.quality.nodes)  # each kept in float
    gains = [n.recovered or 0.0 for n in e.quality.nodes]
    assert gains == sorted(gains, reverse=True)  # the table is sorted by what keeping a node in float recovers


def test_the_cli_prints_the_tables_and_writes_json_and_html(
    explained: tuple[Path, str, Explanation], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, run_id, _ = explained
    monkeypatch.setenv("LEPTON_HOME", str(home))
    out = CliRunner().invoke(
        app,
        [
            "explain",
            run_id,
            "--trial",
            "t2",
            "--quality",
            "--runs",
            "2",
            "--json",
            str(tmp_path / "e.json"),
            "--html",
            str(tmp_path / "r.html"),
        ],
    )
    assert out.exit_code == 0, out.output
    assert "time by op type" in out.output and "ConvInteger" in out.output and "per-node quality" in out.output
    assert "recovered" in out.output and "around the call" in out.output  # ORT's run splits the outside row
    again = Explanation.from_json(json.loads((tmp_path / "e.json").read_text()))
    assert again.trial_id == "t2" and again.quality is not None
    page = (tmp_path / "r.html").read_text()
    assert "explain-ops-t2" in page and "explain-nodes-t2" in page


def test_an_unknown_trial_is_a_user_error(
    explained: tuple[Path, str, Explanation], monkeypatch: pytest.MonkeyPatch
) -> None:
    home, run_id, _ = explained
    monkeypatch.setenv("LEPTON_HOME", str(home))
    out = CliRunner().invoke(app, ["explain", run_id, "--trial", "t99"])
    assert out.exit_code != 0 and "has no trial 't99'" in str(out.exception)


def test_the_report_without_explanations_is_unchanged(explained: tuple[Path, str, Explanation]) -> None:
    assert "explain-ops" not in render_html(example_result())


def test_a_kept_explanation_comes_back_in_lepton_report(
    explained: tuple[Path, str, Explanation], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The optimize report's explain section is kept with the run, so `lepton report` rebuilds the same page
    instead of profiling again (and printing other timings)."""
    home, run_id, e = explained
    store = Store(home)
    store.add_explanation(run_id, e.trial_id, e)
    assert stored_explanations(store, run_id) == (e,)
    monkeypatch.setenv("LEPTON_HOME", str(home))
    out = CliRunner().invoke(app, ["report", run_id, "--html", str(tmp_path / "again.html")])
    assert out.exit_code == 0, out.output
    page = (tmp_path / "again.html").read_text()
    assert f"explain-ops-{e.trial_id}" in page
    assert page == render_html(stored_result(store, run_id), (e,))
