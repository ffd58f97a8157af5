"""What ``--ray`` means without a cluster: the optional address on the command line, the options that go with
it, the one line when Ray is not installed, replicas sized from the measured capacity, and a verdict that treats
the kind of machine as a dimension (cheaper kinds lose when they miss the SLO)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from trials import trial

from lepton import api
from lepton.cli import app, ray_flag
from lepton.engines.base import RuntimeConfig
from lepton.errors import UserError
from lepton.ir.artifact import Artifact
from lepton.navigate.deployment import Deployment
from lepton.navigate.options import OptimizeOptions
from lepton.navigate.targets import Targets
from lepton.navigate.verdict import decide
from lepton.serve.config import ServeConfig
from lepton.serve.refs import ResolvedModel
from lepton.slo import parse_slo
from lepton.training.options import TrainOptions


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["optimize", "m.onnx", "--ray"], ["optimize", "m.onnx", "--ray", "auto"]),
        (["optimize", "--ray", "m.onnx"], ["optimize", "--ray", "auto", "m.onnx"]),
        (["optimize", "--ray", "--batch", "1"], ["optimize", "--ray", "auto", "--batch", "1"]),
        (["optimize", "--ray", "10.0.0.5:6379", "m"], ["optimize", "--ray", "10.0.0.5:6379", "m"]),
        (["serve", "--ray", "ray://head:10001"], ["serve", "--ray", "ray://head:10001"]),
        (["serve", "--ray", "auto", "--status"], ["serve", "--ray", "auto", "--status"]),
        (["serve", "mlp:recommended", "--ray"], ["serve", "mlp:recommended", "--ray", "auto"]),
        (["serve", "--ray", "mlp:recommended"], ["serve", "--ray", "auto", "mlp:recommended"]),
    ],
)
def test_ray_takes_an_optional_address(argv: list[str], expected: list[str]) -> None:
    assert ray_flag(argv) == expected


def test_options_that_go_with_ray_are_checked_before_anything_runs() -> None:
    assert OptimizeOptions.build(ray=True).ray == "auto"
    assert OptimizeOptions.build(ray="h:1", hardware_price=["lab/box=0.5"]).hardware_price == {"lab/box": 0.5}
    with pytest.raises(UserError, match="--instance prices this machine; with --ray each kind of node is priced"):
        OptimizeOptions.build(ray="auto", instance="aws/c7i.large")
    with pytest.raises(UserError, match="--hardware-price prices the kinds of node of a Ray cluster; add --ray"):
        OptimizeOptions.build(hardware_price={"lab/box": 0.5})
    with pytest.raises(UserError, match="expected KIND=USD_PER_HOUR like lab/big-box=0.42; got 'lab/box'"):
        OptimizeOptions.build(ray="auto", hardware_price=["lab/box"])
    with pytest.raises(UserError, match="the price must be a positive number of USD per hour; got '-1'"):
        OptimizeOptions.build(ray="auto", hardware_price=["lab/box=-1"])
    with pytest.raises(UserError, match="--workers 2: data-parallel workers run on a Ray cluster; add --ray"):
        TrainOptions.build("classify", example="digits", workers=2)
    with pytest.raises(UserError, match="--tune with --ray"):
        TrainOptions.build("classify", example="digits", ray="auto", tune=3)
    with pytest.raises(UserError, match="--status is for a Ray Serve deployment; add --ray"):
        api.serve(status=True)
    assert OptimizeOptions.build(ray="h:1").to_json()["ray"] == "h:1"  # --resume reconnects to the same cluster


def test_the_serve_cli_and_lepton_api_serve_share_one_vocabulary() -> None:
    command = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    cli = {p.name for p in command.params if p.param_type_name == "option"}
    assert cli == set(api._explicit(api.serve)) and {"ray", "qps", "status", "stop"} <= cli
    train = typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]
    assert {"ray", "workers"} <= {p.name for p in train.params}


def test_without_ray_installed_ray_says_how_to_install_it_in_one_line(tiny_onnx: Path) -> None:
    script = (
        "import sys; sys.modules['ray'] = None; sys.argv = ['lepton', *sys.argv[1:]]; "
        "from lepton.cli import main; main()"
    )
    for args in (["optimize", str(tiny_onnx), "--ray"], ["train", "classify", "--example", "digits", "--ray"]):
        p = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300)
        out = p.stdout + p.stderr
        assert p.returncode == 2 and "Traceback" not in out and out.count("error:") == 1, out
        assert "--ray needs Ray, which is not installed here; install it with pip install" in out, out
        assert "'lepton-navigator[ray]'" in out


def test_replicas_are_sized_from_the_target_and_the_measured_capacity(tiny_artifact: Artifact) -> None:
    from lepton.distributed.serving import plan_replicas

    def model(capacity: float | None, qps: float | None = None) -> ResolvedModel:
        d = Deployment(artifact_id=tiny_artifact.id, throughput_per_s=capacity, qps=qps) if capacity else None
        return ResolvedModel("mlp", tiny_artifact, RuntimeConfig(intra_op_threads=2), deployment=d)

    plan = plan_replicas(ServeConfig(), [model(100.0)], 500)  # 500 / (100 x 0.8) = 6.25 -> 7
    assert (plan.min_replicas, plan.max_replicas, plan.num_cpus) == (7, 14, 2.0) and plan.autoscaling
    assert "7 replicas carry 500 QPS at 80% of the measured capacity (mlp 100/s per replica)" in plan.why
    assert plan_replicas(ServeConfig(), [model(100.0, qps=60)], None).min_replicas == 1  # the run's own --qps
    single = plan_replicas(ServeConfig(), [model(None)], None)
    assert (single.min_replicas, single.max_replicas, single.autoscaling) == (1, 1, None)
    with pytest.raises(UserError, match="--qps: mlp has no capacity measured by `lepton optimize`"):
        plan_replicas(ServeConfig(), [model(None)], 50)


class Judged:
    """What the verdict reads of a run: its current trials, targets and SLO batch size."""

    def __init__(self, trials: list[Any], targets: Targets) -> None:
        self.log, self.targets, self.slo_batch = Log(trials), targets, 1
        self.pairings: dict[Any, Any] = {}  # no paired comparisons: gains from the two measurements


class Log:
    """The run's trials, as ``RunState.log`` gives them."""

    def __init__(self, trials: list[Any]) -> None:
        self.trials = trials

    def current(self) -> list[Any]:
        return self.trials


def test_the_cheaper_kind_loses_when_it_misses_the_slo() -> None:
    targets = Targets(slo=parse_slo("p95<=50ms"), qps=100)

    def on(kind: str, tid: str, p95: float, usd: float, role: str | None = None) -> Any:
        status = "ok" if p95 <= 50 else "rejected"  # as the judge leaves them
        return trial(tid, p95=p95, usd=usd, role=role, hardware_kind=kind, qps=100, month=usd * 1000, status=status)

    trials = [
        on("cheap", "t1", 90.0, 0.5, "baseline"),
        on("dear", "t2", 30.0, 2.0, "baseline"),
        on("cheap", "t3", 60.0, 0.3),  # cheapest of all, but misses the SLO
        on("dear", "t4", 12.0, 1.0),
    ]
    d = decide(Judged(trials, targets))  # type: ignore[arg-type]
    assert d.recommended is not None and d.recommended.id == "t4" and d.best_by_hardware == {"dear": "t4"}
    assert "On dear: $1,000.00/month for 100 QPS with 1 replica" in d.reason
    assert "nothing on cheap meets p95<=50ms" in d.reason and "its fastest, t3, has p95 60" in d.reason
    # the gains compare the choice with the baseline on its own kind of machine
    assert [(g.trial, g.baseline_trial) for g in d.gains] == [("t4", "t2")]
