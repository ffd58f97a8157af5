"""Issue #9 on two small models trained here (a digits CNN and a stocks LSTM, held-out labels, task metrics):
the recommended variant against PyTorch eager fp32, which engine the navigator chose, and the best variant on
each engine beside it, all from one run per model.

Run: .venv/bin/python benchmarks/bench_optimize_small.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import table, write_result  # noqa: E402

from lepton.api import import_model, optimize  # noqa: E402
from lepton.examples.small import digits_cnn, stocks_lstm  # noqa: E402


def run(name: str, trained: Any, batch_sizes: list[int]) -> Any:
    art = import_model(trained.module, example_input=trained.example_input, name=name, task=trained.task)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "eval.npz"
        np.savez(data, **{art.signature.input_names[0]: trained.x_eval, "label": trained.y_eval})
        return optimize(art, data=data, batch=batch_sizes, max_drop=0.01)


def main() -> None:
    out: dict[str, Any] = {}
    gains_rows, engine_rows = [], []
    for name, make, batches in (("digits-cnn", digits_cnn, [1, 64]), ("stocks-lstm", stocks_lstm, [1, 64])):
        result = run(name, make(), batches)
        out[name] = result.to_json()
        s = result.search
        rec = result.recommended_trial
        chosen = f"{rec.variant} on {rec.engine_label}" if rec else "none"
        for g in result.gains:
            loaded = g.ratio("throughput_x")
            gains_rows.append(
                [
                    name,
                    g.batch_size,
                    f"{g.single_stream_throughput_x:.2f}x",
                    f"{loaded.x:.2f}x [{loaded.low:.2f}-{loaded.high:.2f}]",
                    f"{g.p50_x:.2f}x",
                    f"{g.cost_x:.2f}x",
                    f"{result.verdict}: {chosen}",
                    f"{s.measured} in {s.seconds:.0f} s",
                ]
            )
        if not result.gains:
            why = (
                result.reason if result.verdict == "keep" else (result.closest_miss.text if result.closest_miss else "")
            )
            gains_rows.append([name, "-", "-", "-", "-", "-", f"{result.verdict}: {why[:90]}", f"{s.measured}"])
        for label, tid in sorted(result.best_by_engine.items()):
            t = result.trial(tid)
            h = t.quality.headline()
            engine_rows.append(
                [
                    name,
                    label,
                    f"{t.id} {t.variant}",
                    t.batch_size,
                    f"{t.capacity:.0f}",
                    f"{t.usd_per_1m:.4g}",
                    h.short if h else "-",
                    "chosen" if rec and t.id == rec.id else "",
                ]
            )
    md = "\n".join(
        [
            "## Navigator on small models of our own (digits CNN, stocks LSTM)",
            "",
            "`python benchmarks/bench_optimize_small.py`: each model trained here on bundled data, imported from "
            "PyTorch, optimized with its held-out labels (accuracy for the CNN, RMSE for the LSTM; max drop 1%). "
            "Ratios are the recommended variant against PyTorch eager fp32 in the same run, with the 95% interval "
            "of the loaded-throughput ratio.",
            "",
            table(
                ["model", "batch", "throughput", "loaded", "p50 lower", "cheaper per 1M", "verdict", "measured"],
                gains_rows,
            ),
            "",
            "Best variant on each engine (by cost per 1M among those meeting the quality bar):",
            "",
            table(["model", "engine", "trial", "batch", "items/s", "$/1M", "quality", ""], engine_rows),
        ]
    )
    write_result("optimize_small", {"results": out}, md)
    print(md)


if __name__ == "__main__":
    main()
