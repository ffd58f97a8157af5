"""Issue #4's goal: the navigator's recommended MiniLM variant against PyTorch eager fp32, same run.

Goal on 2 cores, length 128: >= 2.5x throughput at batch 32 (aim 3.5x), >= 2x lower p50 at batch 1,
mean cosine fidelity >= 0.99 on real sentences. Run: .venv/bin/python benchmarks/bench_optimize.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, table, write_result  # noqa: E402

from lepton.api import optimize  # noqa: E402
from lepton.settings import offline_hub  # noqa: E402

GAP_NOTE = (
    "Where the goal is missed, the measurements say why: on this machine PyTorch eager fp32 is a strong "
    "baseline (its fused scaled-dot-product attention and oneDNN matrix multiplies give ~70 sentences/s at "
    "batch 32, against ~43 on the AMD machine of FACTS.md), while ONNX Runtime fp32 is no faster than it "
    "(see the engines section). Int8 removes most of the matrix-multiply time, after which the largest single "
    "cost is the materialized 128x128 attention Softmax (29% of int8 kernel time, see the op profile below), "
    "which int8 cannot touch. Tried and measured without gain (same machine, one process): ORT's fused "
    "Attention and MultiHeadAttention kernels (89-93/s int8), MatMulNBits weight-only int8/int4 with int8 "
    "compute (46-60/s), static QDQ (77/s at cosine 0.94); per-tensor int8 is faster (91/s) but fails the "
    "fidelity bar (0.965)."
)


def main() -> None:
    offline_hub()
    html = RESULTS / "optimize-minilm.html"
    result = optimize(example="minilm", batch=[1, 32], max_drop=0.01, html=html)
    d = result.to_json()
    rec = result.recommended_trial.to_json() if result.recommended_trial else None
    gains = {g["batch_size"]: g for g in d.get("gains", [])}
    rows = []
    for t in d["trials"]:
        if "superseded_by" in t or "latency_ms" not in t:
            continue
        rows.append(
            [
                t["id"],
                t["variant"][:70],
                t["threads"],
                t["batch_size"],
                f"{t['latency_ms']['p50']:.1f}",
                f"{t['throughput_per_s']:.1f}",
                f"{(t.get('quality') or {}).get('cosine', float('nan')):.4f}",
                t["status"] + (" (recommended)" if rec and t["id"] == rec["id"] else ""),
            ]
        )
    base = {b["batch_size"]: b for b in d["baseline"]}
    s = d["search"]
    g32, g1 = gains.get(32, {}), gains.get(1, {})
    nan = float("nan")
    cosine = (rec or {}).get("quality", {}).get("cosine", float("nan"))
    md = "\n".join(
        [
            "## Navigator: recommended MiniLM variant vs PyTorch eager fp32 (length 128)",
            "",
            "`python benchmarks/bench_optimize.py`",
            "(= `lepton optimize --example minilm --batch 1,32 --max-drop 0.01`).",
            f"Search: {s['strategy']}, {s['candidates']} candidate configurations, {s['measured']} measurements "
            f"({s['precise']} precise), **{s['seconds']:.0f} s** in all.",
            "",
            f"- recommended: {d.get('reason') or 'none'}",
            f"- batch 32 throughput vs PyTorch eager: **{g32.get('single_stream_throughput_x', nan):.2f}x** "
            f"single-stream, {g32.get('throughput_x', nan):.2f}x with concurrent callers (goal >= 2.5x, aim 3.5x)",
            f"- batch 1 p50 latency vs PyTorch eager: **{g1.get('p50_x', float('nan')):.2f}x lower** (goal >= 2x)",
            f"- mean cosine fidelity to fp32 PyTorch on the bundled sentences: **{cosine:.4f}** (goal >= 0.99)",
            f"- baseline: PyTorch eager fp32 {base.get(1, {}).get('latency_ms', {}).get('p50', nan):.1f} ms p50 "
            f"at batch 1, {base.get(32, {}).get('throughput_per_s', nan):.1f} sentences/s at batch 32",
            f"- report: `benchmarks/results/{html.name}` (written by the run, not committed)",
            "",
            GAP_NOTE,
            "",
            "Every screened configuration (quick measurement unless marked precise):",
            "",
            table(["id", "variant", "threads", "batch", "p50 ms", "items/s", "cosine", "status"], rows),
        ]
    )
    write_result("optimize", {"result": d, "gains": d.get("gains")}, md)
    print(md)


if __name__ == "__main__":
    main()
