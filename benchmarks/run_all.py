"""`make bench`: every benchmark script in turn; each writes results/<name>.json and its BENCHMARKS.md section."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    "bench_engines.py",
    "bench_optimize.py",
    "bench_noise.py",
    "bench_profile.py",
    "bench_optimize_small.py",
    "bench_corpus.py",
    "bench_train.py",
    "serve_bench.py",
]


def main() -> int:
    failed = []
    for name in SCRIPTS:
        path = HERE / name
        if not path.exists():
            continue
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, str(path)], check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
