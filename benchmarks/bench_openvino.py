"""MiniLM (real sentences padded to 128 tokens): OpenVINO fp32 and NNCF int8 beside ONNX Runtime fp32 and
PyTorch eager, in one process, measured in rotation (every configuration once per round; medians reported).

OpenVINO runs under several settings (performance hint, streams, precision), single caller and 4 concurrent
callers, so the table says which settings win where. Cosine = mean fidelity of each configuration's
embeddings to PyTorch eager fp32 on every bundled sentence.

Run: .venv/bin/python benchmarks/bench_openvino.py [--quick] [--rounds N] [--json PATH] [--write]
(``--write`` stores results/openvino.json + .md for BENCHMARKS.md; without it nothing in the repo changes.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lepton.engines import RuntimeConfig, open_session  # noqa: E402
from lepton.measure.timing import TimingPlan, measure_concurrent, measure_latency  # noqa: E402
from lepton.measure.trial import run_all  # noqa: E402
from lepton.quality import fidelity  # noqa: E402
from lepton.settings import offline_hub  # noqa: E402

BATCHES = (1, 32)
CALLERS = 4
OV_SETTINGS: dict[str, dict[str, str]] = {
    "latency": {"hint": "latency"},
    "throughput": {"hint": "throughput"},
    "throughput 2 streams": {"hint": "throughput", "streams": "2"},
    "latency bf16": {"hint": "latency", "precision": "bf16"},
}


def configurations(base: Any, int8: Any, bf16: bool) -> list[tuple[str, str, Any, RuntimeConfig]]:
    out = [
        ("pytorch eager fp32", "torch", base, RuntimeConfig()),
        ("onnxruntime fp32", "onnxruntime", base, RuntimeConfig()),
    ]
    for label, options in OV_SETTINGS.items():
        if options.get("precision") == "bf16" and not bf16:
            continue
        out.append((f"openvino fp32 [{label}]", "openvino", base, RuntimeConfig(options=options)))
    for label, options in OV_SETTINGS.items():
        if "precision" not in options:
            out.append((f"openvino nncf int8 [{label}]", "openvino", int8, RuntimeConfig(options=options)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round: proves the script runs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--write", action="store_true", help="write results/openvino.{json,md}")
    args = parser.parse_args()
    offline_hub()

    import nncf
    import onnxruntime
    import openvino
    import torch

    from lepton.examples import example_sentences, import_example
    from lepton.hardware import detect_hardware
    from lepton.measure.workload import text_workload
    from lepton.passes import PassContext, apply_pass, create
    from lepton.store import Store

    hw = detect_hardware()
    rounds = 1 if args.quick else args.rounds
    plan = (
        TimingPlan(warmup=1, min_runs=2, min_seconds=0.2, max_runs=20, max_seconds=1.0)
        if args.quick
        else TimingPlan(warmup=2, min_runs=5, min_seconds=3.0, max_runs=500, max_seconds=6.0)
    )
    store = Store(Path(tempfile.mkdtemp(prefix="lepton-bench-ov-")))
    t0 = time.perf_counter()
    base = import_example("minilm", store)
    workload = text_workload(base, example_sentences(), source="bundled sentences")  # padded to 128
    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    ctx = PassContext(store=store, hardware=hw, calibration=workload.batches(8, 8))
    int8 = apply_pass(base, create("quantize-nncf"), ctx)  # transformer preset + SmoothQuant, chosen by model_type=auto
    t_quantize = time.perf_counter() - t0

    configs = configurations(base, int8, hw.bf16_native is not None)
    sessions = {label: open_session(engine, art, rc) for label, engine, art, rc in configs}
    reference = run_all(sessions["pytorch eager fp32"], workload)["sentence_embedding"]
    rows: dict[str, dict[str, Any]] = {}
    for label, engine, art, _ in configs:
        s = sessions[label]
        cos = fidelity(reference, run_all(s, workload)["sentence_embedding"])
        rows[label] = {
            "engine": engine,
            "model_mb": round(art.size_mb, 1),
            "settings": dict(getattr(s, "settings", {})),
            "cosine": round(cos["cosine"], 6),
            "cosine_min": round(cos["cosine_min"], 6),
            **{f"b{b}": [] for b in BATCHES},
            f"b1x{CALLERS}": [],
        }
    feeds = {b: workload.batches(b, max(1, min(8, workload.n_rows // b))) for b in BATCHES}
    for r in range(rounds):  # every configuration once per round, so drift hits all of them alike
        for label, _, _, _ in configs:
            run = sessions[label].run
            for b in BATCHES:
                rows[label][f"b{b}"].append(measure_latency(run, feeds[b], plan).throughput_per_s)
            n = 8 if args.quick else 120
            conc = measure_concurrent(run, feeds[1], callers=CALLERS, requests=n)
            rows[label][f"b1x{CALLERS}"].append(conc.throughput_per_s)
        print(f"round {r + 1}/{rounds} done", flush=True)
    for row in rows.values():
        for key in [f"b{b}" for b in BATCHES] + [f"b1x{CALLERS}"]:
            row[key] = round(statistics.median(row[key]), 1)

    cols = ["b1", "b32", f"b1x{CALLERS}"]
    lines = [
        f"| configuration | MB | {' | '.join(c + ' /s' for c in cols)} | cosine (min) | precision, streams, threads |",
        "|---|---:|" + "---:|" * len(cols) + "---:|---|",
    ]
    for label, row in rows.items():
        st = row["settings"]
        used = f"{st['precision']}, {st['streams']}, {st['threads']}" if st else "-"
        figures = " | ".join(f"{row[c]:.1f}" for c in cols)
        lines.append(
            f"| {label} | {row['model_mb']} | {figures} | {row['cosine']:.4f} ({row['cosine_min']:.4f}) | {used} |"
        )
    best = {c: max(rows, key=lambda k, c=c: rows[k][c]) for c in cols}
    versions = {
        "openvino": openvino.__version__.split("-")[0],
        "nncf": nncf.__version__,
        "onnxruntime": onnxruntime.__version__,
        "torch": torch.__version__,
    }
    md = "\n".join(
        [
            "## OpenVINO beside ONNX Runtime and PyTorch eager (MiniLM, length 128)",
            "",
            f"`python benchmarks/bench_openvino.py` on {hw.summary()}; {rounds} round(s) in rotation, medians. "
            f"b1/b32: one caller, sentences per second; b1x{CALLERS}: {CALLERS} callers sharing one session at "
            "batch 1. NNCF int8: `quantize-nncf` (transformer preset, SmoothQuant) calibrated on 64 of the "
            f"sentences ({t_quantize:.0f} s). Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
            "",
            *lines,
            "",
            "Best: " + "; ".join(f"{c}: {best[c]}" for c in cols) + ".",
        ]
    )
    print(md)
    payload = {
        "rows": rows,
        "best": best,
        "versions": versions,
        "rounds": rounds,
        "seconds": {"import": round(t_import, 1), "quantize": round(t_quantize, 1)},
    }
    if args.json:
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    if args.write:
        from common import write_result

        write_result("openvino", payload, md)


if __name__ == "__main__":
    main()
