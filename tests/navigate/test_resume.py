"""Runs survive their process: kill -9 leaves an interrupted run that ``--resume`` finishes, reusing what it
measured; scratch folders of dead processes are removed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import lepton as lp
from lepton.cli import app
from lepton.errors import UserError
from lepton.measure.timing import TimingPlan
from lepton.store import Store


def lepton(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LEPTON_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "lepton", *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def start(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "LEPTON_HOME": str(home)}
    cmd = [sys.executable, "-m", "lepton", *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stored_trials(home: Path) -> int:
    try:
        with sqlite3.connect(home / "lepton.db", timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM trials").fetchone()[0])
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_kill_9_then_runs_shows_interrupted_and_resume_finishes_it(
    tiny_onnx: Path, tmp_path: Path, lepton_home: Path, fast: dict[str, TimingPlan]
) -> None:
    """The kill and the refusal to resume a finished run go through the real process (its exit code); the
    resume itself runs in this process with short timing plans (it checks reuse, not speed)."""
    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).standard_normal((32, 8)).astype(np.float32))
    args = ["optimize", str(tiny_onnx), "--batch", "1,8", "--data", str(tmp_path / "d.npz"), "--sensitivity", "off"]
    proc = start(lepton_home, *args)
    deadline = time.monotonic() + 120
    while stored_trials(lepton_home) < 5:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert time.monotonic() < deadline, "the run stored no trials in time"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    if proc.stdout is not None:
        proc.stdout.close()
    before = stored_trials(lepton_home)

    runs = CliRunner().invoke(app, ["runs"])
    assert runs.exit_code == 0 and "interrupted" in runs.output, runs.output
    run_id = Store(lepton_home).runs()[0].id
    assert Store(lepton_home).runs()[0].status == "interrupted"
    assert not any(p.name.startswith("build-") for p in (lepton_home / "tmp").iterdir())  # cleaned at start

    out = tmp_path / "resumed.json"
    done = lp.optimize(resume=run_id, json=out, quick=fast["quick"], precise=fast["precise"])
    assert done.exit_code in (0, 3)
    result = json.loads(out.read_text())
    assert result["run_id"] == run_id and result["search"]["reused"] >= min(before, 4)
    ids = [t["id"] for t in result["trials"]]
    assert len(ids) == len(set(ids))
    assert result["recommended"] or result["closest_miss"]
    assert Store(lepton_home).runs()[0].status in ("done", "no-fit")
    again = lepton(lepton_home, "optimize", "--resume", run_id)
    assert again.returncode == 2 and "finished" in again.stdout + again.stderr


def test_scratch_folders_of_dead_processes_are_removed(lepton_home: Path) -> None:
    store = Store()
    dead = store.tmp_dir / "build-999999999-abc"  # no such pid
    dead.mkdir()
    (dead / "model.onnx").write_bytes(b"half written")
    with store.workdir() as mine:
        Store()  # another Store in this process: my own scratch folder stays
        assert mine.exists() and not dead.exists()


def test_resume_refuses_a_run_that_cannot_continue(tiny_artifact: object, lepton_home: Path) -> None:
    store = Store()
    bench_run = store.start_run("bench", "mlp", None)
    store.finish_run(bench_run, "done", {})
    with pytest.raises(UserError, match="bench run"):
        lp.optimize(resume=bench_run)
    live = store.start_run("optimize", "mlp", None)  # owned by this (alive) process
    with pytest.raises(UserError, match="still running"):
        lp.optimize(resume=live)
    with pytest.raises(UserError, match="give no MODEL"):
        lp.optimize(tiny_artifact, resume=live)
