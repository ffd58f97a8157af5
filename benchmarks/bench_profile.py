"""Where MiniLM's time goes under ONNX Runtime, fp32 and int8 (batch 32, length 128): the op-type profile.

This is the measurement behind the navigator goal's gap (see BENCHMARKS.md): int8 shrinks the matrix
multiplies, after which the materialized 128x128 attention Softmax is the largest cost, which PyTorch's
fused scaled-dot-product attention does not pay. Run: .venv/bin/python benchmarks/bench_profile.py
"""

from __future__ import annotations

import collections
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import table, write_result  # noqa: E402

RUNS = 6


def profile(path: Path, feeds: dict, prefix: str) -> tuple[float, dict[str, float]]:  # type: ignore[type-arg]
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.enable_profiling = True
    so.profile_file_prefix = prefix
    so.log_severity_level = 3
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    for _ in range(RUNS):
        s.run(None, feeds)
    events = json.loads(Path(s.end_profiling()).read_text())
    by_op: collections.Counter[str] = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            by_op[e["args"]["op_name"]] += e["dur"]
    total = sum(by_op.values())
    return total / RUNS / 1000.0, {k: v / total for k, v in by_op.most_common(6)}


def main() -> None:
    from lepton.examples import example_sentences, import_example, tokenize
    from lepton.hardware import detect_hardware
    from lepton.passes import PassContext, apply_pass, create
    from lepton.settings import offline_hub
    from lepton.store import Store

    offline_hub()
    store = Store()
    base = import_example("minilm", store)
    int8 = apply_pass(base, create("quantize-dynamic", per_channel=True), PassContext(store, detect_hardware()))
    feeds = tokenize(base.file("tokenizer"), example_sentences()[:32], max_length=128, pad_to="max_length")
    feeds = {k: v for k, v in feeds.items() if k in base.signature.input_names}
    rows, out = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, art in (("fp32", base), ("int8 dynamic per-channel", int8)):
            ms, shares = profile(art.model_path, feeds, f"{tmp}/{label[:4]}")
            out[label] = {"kernel_ms_per_batch": round(ms, 1), "share": shares}
            rows.append([label, f"{ms:.0f}", ", ".join(f"{k} {v:.0%}" for k, v in shares.items())])
    md = "\n".join(
        [
            "## Where the time goes: ONNX Runtime op profile of MiniLM (batch 32, length 128)",
            "",
            "`python benchmarks/bench_profile.py`: ONNX Runtime's own profiler, kernel time summed by op type over "
            f"{RUNS} runs of one batch of 32 real sentences padded to 128 tokens, 2 threads.",
            "",
            table(["model", "kernel ms per batch", "largest shares"], rows),
        ]
    )
    write_result("profile", out, md)
    print(md)


if __name__ == "__main__":
    main()
