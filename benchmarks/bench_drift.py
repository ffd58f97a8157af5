"""Issue 20's drift goals, through a real server: false alarms per hour on unshifted traffic, and the time to detect
a shift of one standard deviation in one feature of a tabular model.

A tabular MLP (8 standard-normal features) is served with `lepton serve --drift --drift-data REF` (a 2000-row
reference from the same distribution); one client sends requests of 10 rows at a steady rate and reads
`lepton_drift_alert` from /metrics every second:
1. `--seconds` of unshifted traffic: every rise of the alert is a false alarm (reported per hour at this rate, and
   per judged window: the server judges every 50 new rows);
2. then feature 3 shifted by one standard deviation: the seconds and rows until the alert rises.
Run alone (nothing else on the machine): .venv/bin/python benchmarks/bench_drift.py
(`--seconds 20 --dry` checks that it works, without writing results.)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from common import table, write_result  # noqa: E402
from conftest import build_mlp  # noqa: E402

ROWS = 10  # per request
EVERY = 50  # the monitor judges every 50 new rows


def alert(client: object, url: str) -> float:
    text = client.get(f"{url}/metrics").text  # type: ignore[attr-defined]
    m = re.search(r'^lepton_drift_alert\{model="tab"\} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def main() -> None:
    import httpx

    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=600.0, help="unshifted traffic")
    ap.add_argument("--rate", type=float, default=50.0, help="requests per second")
    ap.add_argument("--window", type=int, default=500)
    ap.add_argument("--dry", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-drift-"))
    env = {**os.environ, "LEPTON_HOME": str(work / "home"), "HF_HUB_OFFLINE": "1"}
    rng = np.random.default_rng(0)
    ref = work / "ref.npz"
    np.savez(ref, x=rng.standard_normal((2000, 8)).astype(np.float32))
    model = build_mlp(work / "tab.onnx", n_in=8, hidden=32, n_out=4)
    lepton = [sys.executable, "-m", "lepton"]
    subprocess.run([*lepton, "import", str(model), "--name", "tab"], env=env, check=True, capture_output=True)
    port = 18000 + os.getpid() % 1000
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*lepton, "serve", "tab", "--port", str(port), "--drift", "--drift-data", str(ref),
         "--drift-window", str(args.window)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        with httpx.Client(timeout=30) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if client.get(f"{url}/v2/health/ready").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start")
                time.sleep(0.2)

            def drive(seconds: float, shift: float, stop_on_alert: bool) -> tuple[int, int, float | None]:
                """Requests at the rate for ``seconds``; (alarm rises, rows sent, seconds to the first alarm)."""
                rises, sent, last, first = 0, 0, 0.0, None
                t0 = time.monotonic()
                next_poll = t0 + 1.0
                i = 0
                while time.monotonic() - t0 < seconds:
                    x = rng.standard_normal((ROWS, 8))
                    x[:, 3] += shift
                    client.post(f"{url}/v1/models/tab/predict", json={"inputs": {"x": x.tolist()}})
                    sent += ROWS
                    i += 1
                    if time.monotonic() >= next_poll:
                        now = alert(client, url)
                        if now and not last:
                            rises += 1
                            first = first if first is not None else time.monotonic() - t0
                            if stop_on_alert:
                                return rises, sent, first
                        last, next_poll = now, next_poll + 1.0
                    wait = t0 + i / args.rate - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                return rises, sent, first

            false_rises, quiet_rows, _ = drive(args.seconds, 0.0, False)
            _, shifted_rows, detect_s = drive(120.0, 1.0, True)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    per_hour = false_rises / args.seconds * 3600
    judged = quiet_rows // EVERY
    figures = {
        "unshifted_seconds": args.seconds,
        "rate_rps": args.rate,
        "rows_per_request": ROWS,
        "window_rows": args.window,
        "false_alarms": false_rises,
        "false_alarms_per_hour": round(per_hour, 2),
        "judged_windows": judged,
        "detect_seconds": None if detect_s is None else round(detect_s, 1),
        "detect_rows": shifted_rows,
    }
    rows = [
        ["false alarms, unshifted traffic", f"{false_rises} in {args.seconds:.0f} s ({per_hour:.1f}/hour, "
         f"{judged} windows judged)"],
        ["1-sd shift of one feature detected after", f"{figures['detect_seconds']} s, {shifted_rows} rows"],
    ]  # fmt: skip
    md = "\n".join(
        [
            "## Drift (issue 20)",
            "",
            f"`lepton serve --drift` on a tabular MLP (8 features), {args.rate:.0f} requests/s of {ROWS} rows, "
            f"window {args.window} rows judged every {EVERY}; alerts read from /metrics every second.",
            "",
            table(["figure", "value"], rows),
        ]
    )
    print(md)
    if not args.dry:
        write_result("drift", {"figures": figures}, md)


if __name__ == "__main__":
    main()
