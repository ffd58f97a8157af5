"""``lepton check`` through the real command line: an unchanged deployment passes (exit 0), a variant made ~30%
slower by extra work in its graph fails (exit 1), a disturbed measurement says so (exit 4), and the JUnit XML
parses. The recorded run is written through the store as the navigator writes one (a real measurement of the
deployed variant, its ``Deployment``, the run's options); one slow case checks a run ``lepton optimize`` made."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import jsonschema
import numpy as np
import pytest
from hogs import hog
from onnx_models import with_extra_work

from lepton.cost.catalog import PriceCatalog
from lepton.engines.base import RuntimeConfig
from lepton.hardware import detect_hardware
from lepton.measure.job import Job, measure_job
from lepton.measure.timing import Estimate, TimingPlan
from lepton.measure.trial import TrialSpec, reference_for
from lepton.measure.workload import make_workload
from lepton.navigate.check import CheckOptions, CheckResult, Item, _tail_alone, prepare
from lepton.navigate.check import check as run_check
from lepton.navigate.deployment import Deployment
from lepton.navigate.options import OptimizeOptions
from lepton.report.check import summary_lines
from lepton.schemas import check_schema
from lepton.store import Store
from lepton.store.intake import import_model

BATCH = 16
PLAN = TimingPlan(warmup=2, min_runs=20, min_seconds=0.5, max_seconds=3.0)
SHORT = TimingPlan(min_runs=16, min_seconds=0.25, max_seconds=1.0)


def record_run(store: Store, model: Path, data: Path, recorded_as: float = 1.0) -> str:
    """An optimize run of ``model`` that deploys it as it is, with the figures measured here (times
    ``recorded_as``: a run that recorded the model faster than it runs now)."""
    art = import_model(model, name="mlp", store=store)
    options = OptimizeOptions.build(data=str(data), batch=[BATCH], max_drop=0.01)
    workload = make_workload(art, options.data)
    reference = reference_for(art, workload)
    price = PriceCatalog.load().price(detect_hardware())
    spec = TrialSpec("onnxruntime", art, RuntimeConfig(batch_size=BATCH))
    trial = measure_job(Job("t1", spec, PLAN, price, concurrent=True), workload, reference)
    run_id = store.start_run("optimize", "mlp", art.id)
    store.add_trial(run_id, trial)
    lat = trial.latency_ms
    assert lat is not None
    scaled = lat.with_(
        p50=lat.p50 * recorded_as, p95=lat.p95 * recorded_as, p99=lat.p99 * recorded_as, mean=lat.mean * recorded_as,
        ci95={k: (lo * recorded_as, hi * recorded_as) for k, (lo, hi) in lat.ci95.items()},
    )  # fmt: skip
    deployment = Deployment(
        artifact_id=art.id,
        engine=trial.engine,
        runtime=trial.runtime,
        throughput_per_s=trial.capacity / recorded_as,
        latency_ms=scaled,
        usd_per_1m=trial.usd_per_1m * recorded_as,
    )
    payload = {"recommended": "t1", "hardware": {"cpu_model": detect_hardware().cpu_model}}
    store.finish_run(run_id, "done", {**payload, "options": options.to_json()}, deployment)
    return run_id


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, mlp_builder: Any) -> Iterator[tuple[Path, Path, Path]]:
    """(LEPTON_HOME with the recorded run, the deployed model file, a ~30% slower copy of it)."""
    folder = tmp_path_factory.mktemp("check")
    model = mlp_builder(folder / "mlp.onnx", n_in=256, hidden=1024, n_out=4)
    slow = with_extra_work(model, folder / "slow.onnx", share=0.3)
    data = folder / "eval.npz"
    np.savez(data, x=np.random.default_rng(0).standard_normal((64, 256)).astype(np.float32))
    home = folder / "home"
    record_run(Store(home), model, data)
    yield home, model, slow
    shutil.rmtree(folder, ignore_errors=True)


def check(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"LEPTON_HOME": str(home), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    return subprocess.run(
        [sys.executable, "-m", "lepton", "check", "mlp", "--seconds", "0.25", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **env},
    )


def test_an_unchanged_model_passes_and_its_junit_parses(recorded: tuple[Path, Path, Path], tmp_path: Path) -> None:
    home, model, _ = recorded
    junit, out = tmp_path / "check.xml", tmp_path / "check.json"
    judge = ("--if-disturbed", "judge", "--retries", "0")
    p = check(home, "--model", str(model), *judge, "--junit", str(junit), "--json", str(out))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "PASS" in p.stdout and "p95 (paired)" in p.stdout
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    names = {c.get("name") for c in suite.iter("testcase")}
    assert {"p95 (paired)", "p50 (paired)", "$/1M (paired)", "quality (paired)", "quality (recorded)"} <= names
    result = json.loads(out.read_text())
    assert result["verdict"] == "pass" and result["paired"]["pairs"] >= 1
    jsonschema.validate(result, check_schema())  # what `lepton schema check` publishes
    assert {i["name"] for i in result["items"] if i["against"] == "paired"} == {"p95", "p50", "usd_per_1m", "quality"}
    # the deployed variant measured interleaved with --model is not the run's measurement: its timing is not judged
    timing = [i for i in result["items"] if i["against"] == "recorded" and i["name"] != "quality"]
    assert timing and all(i["outcome"] == "skipped" and "interleaved" in i["note"] for i in timing)


def test_a_slower_variant_fails_with_the_regression_named(recorded: tuple[Path, Path, Path], tmp_path: Path) -> None:
    home, _, slow = recorded
    junit = tmp_path / "check.xml"
    judge = ("--if-disturbed", "judge", "--retries", "0", "--seconds", "0.5")  # longer: a verdict under load
    p = check(home, "--model", str(slow), *judge, "--junit", str(junit))
    assert p.returncode == 1, p.stdout + p.stderr
    assert "REGRESSED" in p.stdout
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and int(suite.get("failures") or 0) >= 1
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert {"p50 (paired)", "p95 (paired)"} & set(failed) and "quality (paired)" not in failed  # same answers, slower


def in_process(home: Path, model: Path | None, **options: object) -> CheckResult:
    store = Store(home)
    opts = CheckOptions(model=model, plan=SHORT, **options)  # type: ignore[arg-type]
    return run_check(prepare("mlp", opts, store, import_file=lambda p: import_model(p, store=store)), opts)


def test_the_deployed_variant_alone_is_judged_against_the_recorded_figures(recorded: tuple[Path, Path, Path]) -> None:
    home, _, _ = recorded
    result = in_process(home, None, judge_disturbed=True, retries=0, recorded_tolerance=3.0)
    assert result.exit_code == 0, summary_lines(result)
    assert {(i.name, i.against) for i in result.items} == {("p95", "recorded"), ("usd_per_1m", "recorded"),
                                                           ("quality", "recorded")}  # fmt: skip
    assert result.paired is None and len(result.trials) == 1


def test_a_recorded_regression_is_measured_again_in_a_fresh_session_and_one_that_repeats_is_called(
    tmp_path: Path, mlp_builder: Any
) -> None:
    model = mlp_builder(tmp_path / "mlp.onnx", n_in=256, hidden=1024, n_out=4)
    data = tmp_path / "eval.npz"
    np.savez(data, x=np.random.default_rng(0).standard_normal((64, 256)).astype(np.float32))
    home = tmp_path / "home"
    record_run(Store(home), model, data, recorded_as=0.25)  # the run "saw" it 4x faster: every session regresses
    result = in_process(home, None, judge_disturbed=True, retries=0)
    assert result.verdict == "regressed" and result.sessions == 3 and result.attempts == 3
    assert any("3 fresh sessions" in line for line in summary_lines(result))
    once = in_process(home, None, judge_disturbed=True, retries=0, confirm=0)
    assert once.verdict == "regressed" and once.sessions == 1 and once.attempts == 1


def test_a_tail_alone_is_no_regression_but_a_moved_median_is() -> None:
    p95 = Item(name="p95", against="recorded", unit="ms", ratio=Estimate(value=1.8, low=1.6, high=2.0), limit=0.25,
               outcome="regressed")  # fmt: skip
    same, slower = Estimate(value=1.0, low=0.98, high=1.02), Estimate(value=1.3, low=1.28, high=1.32)
    tail = _tail_alone(p95, same)
    assert tail.outcome == "pass" and "tail alone" in tail.note
    assert _tail_alone(p95, slower).outcome == "regressed"
    unsure = Estimate(value=1.3, low=0.9, high=1.7)  # beyond the limit, but the interval holds 1
    assert _tail_alone(p95, unsure).outcome == "pass"
    assert _tail_alone(p95.with_(outcome="pass"), slower).outcome == "pass"  # it never makes a regression


def test_a_disturbed_measurement_exits_4_and_says_so(recorded: tuple[Path, Path, Path], tmp_path: Path) -> None:
    home, model, _ = recorded
    with hog(tmp_path, 40), hog(tmp_path / "..", 40):
        result = in_process(home, model, retries=1)
    assert result.verdict == "disturbed" and result.exit_code == 4 and result.attempts == 2
    lines = summary_lines(result)
    assert lines[-1].startswith("DISTURBED") and "re-run on a quiet machine" in lines[-2]
    timed = {i.outcome for i in result.items if i.name != "quality" and i.against == "paired"}
    assert timed == {"disturbed"}  # quality does not time; the recorded timing rows are skipped beside --model


def test_bad_input_is_one_line_and_exit_2(recorded: tuple[Path, Path, Path], tmp_path: Path) -> None:
    home, _, _ = recorded
    p = check(home, "--model", str(tmp_path / "nope.onnx"))
    assert p.returncode == 2 and "--model" in p.stdout and "Traceback" not in p.stdout + p.stderr
    p = check(home, "--against", "no-such-run")
    assert p.returncode == 2 and "no run" in p.stdout


def capture(store: Store, model: str, x: np.ndarray) -> None:
    """Requests kept as a server with ``--capture`` keeps them (``store.rollouts``; the server side is tested in
    tests/serve/test_capture.py): one request of 4 rows each."""
    from lepton.serve.capture import to_npz
    from lepton.store import rollouts as stored

    new = [stored.NewCapture(float(i), 0.001, to_npz({"x": r}), to_npz({})) for i, r in enumerate(np.split(x, 8))]
    stored.add_captures(store, model, new, max_rows=1000, max_bytes=10**9)


def test_captured_traffic_is_check_data_and_a_bent_deployment_fails_on_it(
    recorded: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    import onnx
    from onnx import numpy_helper

    import lepton

    home, model, _ = recorded
    store = Store(home)
    capture(store, "mlp", np.random.default_rng(2).standard_normal((32, 256)).astype(np.float32))
    junit = tmp_path / "check.xml"
    p = check(home, "--data", "captured:mlp", "--if-disturbed", "judge", "--retries", "0", "--junit", str(junit))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "quality (source): fidelity source model 1.0000, deployed 1.0000" in p.stdout
    assert "p95 (recorded): " in p.stdout and "measured on " in p.stdout and "not comparable" in p.stdout
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and {c.get("name") for c in suite.iter("testcase")} >= {"quality (source)"}

    bent = onnx.load(str(model))  # a deployed variant that lost fidelity: its first weights moved by noise
    w = bent.graph.initializer[0]
    arr = numpy_helper.to_array(w)
    w.CopyFrom(
        numpy_helper.from_array(arr + np.random.default_rng(3).standard_normal(arr.shape).astype(arr.dtype), w.name)
    )
    onnx.save(bent, tmp_path / "bent.onnx")
    base, variant = store.model_artifact("mlp"), import_model(tmp_path / "bent.onnx", name="mlp-bent", store=store)
    assert base is not None
    run_id = store.start_run("optimize", "mlp-bent", base.id)
    options = OptimizeOptions.build(batch=[BATCH], max_drop=0.01).to_json()
    store.finish_run(run_id, "done", {"options": options}, Deployment(artifact_id=variant.id))
    capture(store, "mlp-bent", np.random.default_rng(4).standard_normal((32, 256)).astype(np.float32))

    result = lepton.check("mlp-bent", data="captured:mlp-bent", seconds=0.25, retries=0, if_disturbed="judge",
                          store=store, json=tmp_path / "bent.json")  # fmt: skip
    assert result.verdict == "regressed" and result.exit_code == 1
    quality = next(i for i in result.items if i.name == "quality")
    assert (quality.against, quality.outcome) == ("source", "regressed") and (quality.drop or 0) > 0.01
    assert json.loads((tmp_path / "bent.json").read_text())["verdict"] == "regressed"
    with pytest.raises(lepton.UserError, match="check"):
        lepton.check("mlp", colour="blue", store=store)  # an unknown option is named
