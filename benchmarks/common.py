"""Shared by the benchmark scripts: where results go and how BENCHMARKS.md is assembled."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SECTIONS = ["engines", "optimize", "profile", "optimize_small", "serve"]  # order in BENCHMARKS.md


def machine() -> dict[str, Any]:
    from lepton.cost.hardware import detect_hardware

    hw = detect_hardware()
    return {
        "cpu": hw.cpu_model,
        "cores": hw.logical_cores,
        "memory_gb": hw.memory_gb,
        "int8_accel": hw.int8_accel,
        "python": platform.python_version(),
    }


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False
        ).stdout.strip()
    except OSError:
        return "unknown"


def write_result(name: str, payload: dict[str, Any], markdown: str) -> None:
    """``results/<name>.json`` with the figures, ``results/<name>.md`` with the section; then BENCHMARKS.md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "commit": commit(),
        "machine": machine(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        **payload,
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown.strip() + "\n")
    assemble()


def assemble() -> None:
    parts = [
        "# Benchmarks",
        "",
        "Figures from `make bench` (scripts under `benchmarks/`, raw figures in `benchmarks/results/*.json`).",
        "Every comparison is a ratio of two measurements taken side by side in one run on the same machine;",
        "absolute numbers drift between runs on these shared 2-core machines, ratios much less.",
        "",
    ]
    names = SECTIONS + sorted(p.stem for p in RESULTS.glob("*.md") if p.stem not in SECTIONS)
    for name in names:
        md = RESULTS / f"{name}.md"
        if md.exists():
            parts += [md.read_text().strip(), ""]
    (ROOT / "BENCHMARKS.md").write_text("\n".join(parts))


def table(headers: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)
