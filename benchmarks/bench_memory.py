"""Peak RSS of a whole search, per stage, on MiniLM and on the corpus models (issue 22's goals: the MiniLM search
<= 3 GB, any corpus model's <= 4 GB, on 2 cores / 24 GB).

Each search runs in its own process (``lepton optimize ... --json``), so one search's memory is not another's:
the figures are the run's own ``memory`` record (peak RSS per stage, per variant built, the bound and what it
did) and the child's peak RSS as the kernel counted it (``ru_maxrss``).

Run: .venv/bin/python benchmarks/bench_memory.py [--time-budget 120] [--only minilm,ppocr-det] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "corpus"))

from common import table, write_result  # noqa: E402
from corpus_models import fetch, load_manifest  # noqa: E402

GOALS_MB = {"minilm": 3000.0, "corpus": 4000.0}


def search(args: list[str], home: str, time_budget: float) -> dict[str, Any]:
    """One ``lepton optimize`` in a child process: its ``memory`` record and the kernel's peak RSS of it."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "lepton", "optimize", *args, "--time-budget", f"{time_budget:g}"]
        cmd += ["--sensitivity", "off", "--json", str(out)]
        env = {**os.environ, "LEPTON_HOME": home, "HF_HUB_OFFLINE": "1"}
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        if not out.exists():
            return {"error": lines[-1] if lines else f"exit {proc.returncode}", "exit": proc.returncode}
        result = json.loads(out.read_text())
    # ru_maxrss is the largest child so far (KB): it names this child only when it is the largest yet
    kernel_mb = after / 1e3 if after > before else None
    return {"exit": proc.returncode, "memory": result.get("memory"), "kernel_peak_mb": kernel_mb}


def row(name: str, goal: float, out: dict[str, Any]) -> list[Any]:
    if "error" in out:
        return [name, "-", "-", "-", "-", out["error"][:90]]
    m = out["memory"] or {}
    peak = m.get("peak_rss_mb")
    stages = ", ".join(f"{k} {v:.0f}" for k, v in (m.get("stages") or {}).items())
    ok = "yes" if peak is not None and peak <= goal else "NO"
    return [
        name,
        f"{peak:.0f}" if peak else "-",
        f"{goal:.0f} ({ok})",
        stages,
        f"{m.get('calibration_rows')}"
        + (f" in batches of {m['calibration_batch']}" if m.get("calibration_batch") else ""),
        m.get("action") or "",
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--time-budget", type=float, default=120.0, help="lepton optimize --time-budget per model")
    ap.add_argument("--only", default="", help="comma-separated ids: minilm and/or corpus model ids")
    ap.add_argument("--no-write", action="store_true", help="print only (a check run on a busy machine)")
    args = ap.parse_args()
    wanted = set(filter(None, args.only.split(",")))
    home = os.environ.get("LEPTON_HOME") or tempfile.mkdtemp(prefix="lepton-memory-")
    outs: dict[str, Any] = {}
    rows = []
    jobs: list[tuple[str, list[str], float]] = []
    if not wanted or "minilm" in wanted:
        jobs.append(("minilm", ["--example", "minilm", "--batch", "1,32"], GOALS_MB["minilm"]))
    for m in load_manifest():
        if wanted and m.id not in wanted:
            continue
        pins = [a for s in m.shapes for a in ("--shape", s)]
        jobs.append((m.id, [str(fetch(m)), *pins, "--batch", str(m.batch)], GOALS_MB["corpus"]))
    for name, cmd, goal in jobs:
        print(f"== {name}", flush=True)
        outs[name] = search(cmd, home, args.time_budget)
        rows.append(row(name, goal, outs[name]))
        print(" | ".join(str(c) for c in rows[-1]), flush=True)
    md = "\n".join(
        [
            "## Peak memory of a search",
            "",
            "`python benchmarks/bench_memory.py`: peak RSS (MB) of `lepton optimize` in its own process, per stage, "
            f"`--time-budget {args.time_budget:.0f}`, the default memory bound. Goals: MiniLM <= 3000 MB, corpus "
            "models <= 4000 MB.",
            "",
            table(["model", "peak MB", "goal MB (met)", "per stage (MB)", "calibration rows", "bound did"], rows),
        ]
    )
    if args.no_write:
        print(md)
        return
    write_result("memory", {"time_budget_s": args.time_budget, "models": outs}, md)
    print(md)


if __name__ == "__main__":
    main()
