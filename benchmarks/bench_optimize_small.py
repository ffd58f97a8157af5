"""The navigator on two small models trained here: a digits CNN and a stocks LSTM (labels, task metrics).

Run: .venv/bin/python benchmarks/bench_optimize_small.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import table, write_result  # noqa: E402

from lepton.api import import_model, optimize  # noqa: E402
from lepton.examples.small import digits_cnn, stocks_lstm  # noqa: E402


def run(name: str, trained, batch_sizes: list[int]) -> dict:  # type: ignore[no-untyped-def]
    art = import_model(trained.module, example_input=trained.example_input, name=name, task=trained.task)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "eval.npz"
        np.savez(data, **{art.signature.input_names[0]: trained.x_eval, "label": trained.y_eval})
        result = optimize(art, data=data, batch=batch_sizes, max_drop=0.01)
    return result.to_json()


def main() -> None:
    out, rows = {}, []
    for name, make, batches in (("digits-cnn", digits_cnn, [1, 64]), ("stocks-lstm", stocks_lstm, [1, 64])):
        d = run(name, make(), batches)
        out[name] = d
        s = d["search"]
        for g in d.get("gains", []):
            rows.append(
                [
                    name,
                    g["batch_size"],
                    f"{g['single_stream_throughput_x']:.2f}x",
                    f"{g['p50_x']:.2f}x",
                    f"{g['cost_x']:.2f}x",
                    (d.get("reason") or "none")[:90],
                    f"{s['measured']} in {s['seconds']:.0f} s",
                ]
            )
        if not d.get("gains"):
            rows.append(
                [
                    name,
                    "-",
                    "-",
                    "-",
                    "-",
                    (d.get("closest_miss") or {}).get("text", "none")[:90],
                    f"{s['measured']} in {s['seconds']:.0f} s",
                ]
            )
    md = "\n".join(
        [
            "## Navigator on small models of our own (digits CNN, stocks LSTM)",
            "",
            "`python benchmarks/bench_optimize_small.py`: each model trained here on bundled data, imported from "
            "PyTorch, optimized with its held-out labels (accuracy for the CNN, RMSE for the LSTM; max drop 1%). "
            "Ratios are the recommended variant against PyTorch eager fp32 in the same run.",
            "",
            table(
                [
                    "model",
                    "batch",
                    "throughput",
                    "p50 lower",
                    "cheaper per 1M",
                    "recommended",
                    "measurements",
                ],
                rows,
            ),
        ]
    )
    write_result("optimize_small", {"results": out}, md)
    print(md)


if __name__ == "__main__":
    main()
