"""MiniLM (all-MiniLM-L6-v2, real sentences padded to 128 tokens) under PyTorch eager and ONNX Runtime.

Run: .venv/bin/python benchmarks/bench_engines.py   (part of `make bench`)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import table, write_result  # noqa: E402

from lepton.api import bench  # noqa: E402
from lepton.measure.timing import TimingPlan  # noqa: E402
from lepton.settings import offline_hub  # noqa: E402


def main() -> None:
    offline_hub()
    result = bench(
        example="minilm",
        engine=["torch", "onnxruntime", "openvino"],
        batch=[1, 32],
        plan=TimingPlan(min_runs=30, min_seconds=5.0, max_seconds=30.0),
    )
    trials = result.to_json()["trials"]
    rows, ratios = [], {}
    for t in trials:
        lat = t["latency_ms"]
        rows.append(
            [
                t["engine"],
                t["batch_size"],
                t["threads"],
                f"{lat['p50']:.1f}",
                f"{lat['p95']:.1f}",
                f"{lat['p99']:.1f}",
                f"{t['throughput_per_s']:.1f}",
                f"{t['peak_rss_mb']:.0f}",
                f"{t['quality'].get('cosine', float('nan')):.6f}",
                f"{t['cost']['usd_per_1m']:.3f}",
            ]
        )
    for b in (1, 32):
        p = next(t for t in trials if t["engine"] == "torch" and t["batch_size"] == b)
        for engine in ("onnxruntime", "openvino"):
            o = next(t for t in trials if t["engine"] == engine and t["batch_size"] == b)
            ratios[f"{engine} b{b}"] = {
                "throughput_x": round(o["throughput_per_s"] / p["throughput_per_s"], 3),
                "p50_x": round(p["latency_ms"]["p50"] / o["latency_ms"]["p50"], 3),
            }
    md = "\n".join(
        [
            "## Engines: ONNX Runtime and OpenVINO vs PyTorch eager (MiniLM, length 128, fp32)",
            "",
            "`python benchmarks/bench_engines.py` (= `lepton bench --example minilm --engine "
            "torch,onnxruntime,openvino --batch 1,32`): fp32 on every engine (OpenVINO's inference precision set "
            "to f32 explicitly), the bundled real sentences padded to 128 tokens, cosine = fidelity of each engine's "
            "embeddings to PyTorch's.",
            "",
            table(
                [
                    "engine",
                    "batch",
                    "threads",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "items/s",
                    "peak RSS MB",
                    "cosine",
                    "$/1M",
                ],
                rows,
            ),
            "",
            *[
                f"- {key}: / PyTorch eager = **{r['throughput_x']:.2f}x** throughput, {r['p50_x']:.2f}x lower p50"
                for key, r in ratios.items()
            ],
            f"- price assumed: {result.price.instance} at ${result.price.usd_per_hour}/h ({result.price.matched})",
        ]
    )
    write_result("engines", {"result": result.to_json(), "ratios": ratios}, md)
    print(md)


if __name__ == "__main__":
    main()
