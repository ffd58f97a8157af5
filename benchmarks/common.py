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
# the order of the sections in BENCHMARKS.md
SECTIONS = ["engines", "optimize", "noise", "profile", "optimize_small", "corpus", "train", "serve", "llm"]


def machine() -> dict[str, Any]:
    from lepton.hardware import detect_hardware

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
    parts += goals_summary()
    names = SECTIONS + sorted(p.stem for p in RESULTS.glob("*.md") if p.stem not in SECTIONS)
    for name in names:
        md = RESULTS / f"{name}.md"
        if md.exists():
            heading, _, body = md.read_text().strip().partition("\n")
            parts += [heading, *_provenance(name), body.strip(), ""]
    (ROOT / "BENCHMARKS.md").write_text("\n".join(parts))


def _provenance(name: str) -> list[str]:
    """The line under each section's heading: the command that wrote it, the CPU, the date and the commit."""
    r = _load(name)
    if not r or "machine" not in r:
        return []
    m = r["machine"]
    cpu = f"{m.get('cpu', '?')}, {m.get('cores', '?')} vCPU, {m.get('memory_gb', '?')} GB"
    return ["", f"Run: `{r.get('command', name)}` on {cpu}, {r.get('date', '?')} (commit {r.get('commit', '?')})."]


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def goals_summary() -> list[str]:
    """The issues' performance goals against the latest figures in results/*.json."""
    rows: list[list[Any]] = []

    def row(goal: str, value: float | None, target: str, met: bool | None, fmt: str = "{:.2f}x") -> None:
        shown = "-" if value is None else fmt.format(value)
        rows.append([goal, target, shown, "-" if met is None else ("met" if met else "**missed**")])

    opt = _load("optimize")
    if opt and "figures" in opt:
        f = opt["figures"]
        b32, b1, cos = f.get("b32_throughput_x"), f.get("b1_p50_x"), f.get("cosine")
        row("#9 MiniLM throughput at batch 32 vs PyTorch eager", b32, ">= 3.5x", b32 is not None and b32 >= 3.5)
        row("#9 MiniLM p50 at batch 1, times lower", b1, ">= 2x", b1 is not None and b1 >= 2)
        row("#9 fidelity (mean cosine)", cos, ">= 0.99", cos is not None and cos >= 0.99, "{:.4f}")
        secs, n = f.get("default_seconds"), f.get("default_measured")
        row("#9 default search wall time", secs, "<= 180 s", secs is not None and secs <= 180, "{:.0f} s")
        row("#9 measured candidates (default search)", n, ">= 20", n is not None and n >= 20, "{:.0f}")
        obj = f.get("objective_ratio_vs_exhaustive")
        row("#9 $/1M of the default's choice vs --exhaustive's", obj, "<= 1.05x", obj is not None and obj <= 1.05)
    noise = _load("noise")
    if noise and "noisy_within_15pct_or_flagged" in noise:
        ok = noise["noisy_within_15pct_or_flagged"]
        row("#18 noisy run's gains within 15% of quiet or flagged", None, "all", ok)
        row("#18 constant hog: every gain flagged", None, "all", noise["constant_all_flagged"])
        obj = noise.get("noisy_objective_vs_quiet")
        row(
            "#18 noisy run's choice, $/1M vs quiet run's",
            obj,
            "same or <= 1.05x",
            noise["same_recommendation"] or (obj or 9) <= 1.05,
        )
        worst = max((abs(float(c[-1]) - 1) for c in noise.get("in_search_vs_alone", [])), default=None)
        row("#18 in-search vs alone, worst deviation", worst, "<= 5%", worst is not None and worst <= 0.05, "{:.1%}")
    srv = _load("serve")
    if srv and "checks" in srv:
        c = srv["checks"]
        row("#5 (a) served / in-process ceiling, 32 clients", c["a_32"], ">= 0.95", c["a_32"] >= 0.95)
        row("#5 (a) served / in-process ceiling, 64 clients", c["a_64"], ">= 0.95", c["a_64"] >= 0.95)
        row(
            "#5 (b) lowest throughput vs naive FastAPI, 1-64 clients",
            c["b_min_vs_naive"],
            ">= 1.0x",
            c["b_min_vs_naive"] >= 0.995,
        )
        row("#5 (b) p99 at 32 clients vs naive", c["b_p99_32_ratio"], "<= 1.0x", c["b_p99_32_ratio"] <= 1.0)
        row("#5 (c) p50 overhead at 1 client", c["c_overhead_ms"], "<= 1 ms", c["c_overhead_ms"] <= 1.0, "{:.2f} ms")
        row(
            "#5 (d) /v1/embeddings vs sentence-transformers, 32 clients",
            c["d_texts_ratio"],
            ">= 3x",
            c["d_texts_ratio"] >= 3,
        )
    tr = _load("train")
    if tr and "checks" in tr:
        c = tr["checks"]
        row(
            "#12 digits CNN test accuracy (SVC alongside)",
            c["digits_accuracy"],
            f">= 0.98 and >= {c['digits_svc']:.4f}",
            c["digits_goal_met"],
            "{:.4f}",
        )
        gain = c["tune_val_best"] - c["tune_val_default"]
        row("#12 digits --tune: validation gain over defaults", gain, ">= 0", c["tune_goal_met"], "{:+.4f}")
        last, seasonal = c["stocks_mae_vs_last_value"], c["stocks_mae_vs_seasonal_naive"]
        row("#12 stocks MAE / last value", last, "< 1", last < 1, "{:.3f}")
        row("#12 stocks MAE / seasonal naive", seasonal, "< 1", seasonal < 1, "{:.3f}")
        row(
            "#12 tickets finetune accuracy (TF-IDF alongside)",
            c["tickets_accuracy"],
            f"> {c['tickets_tfidf']:.4f}",
            c["tickets_goal_met"],
            "{:.4f}",
        )
    rows += _loop_goals(row)
    if not rows:
        return []
    return ["## Goals at a glance", "", table(["goal", "target", "measured", ""], rows), ""]


def _loop_goals(row: Any) -> list[list[Any]]:
    """Issues 19-22: generative models, the production loop, explain, foreign models (rows added through ``row``)."""
    llm = _load("llm")
    if llm and "figures" in llm:
        rec = llm["figures"]["recommended"]
        row("#19 SmolLM2 decode tokens/s vs PyTorch eager", rec["decode_x"], ">= 2.5x", rec["decode_x"] >= 2.5)
        row("#19 SmolLM2 TTFT at 32 tokens, times lower", rec["ttft32_x"], ">= 3x", rec["ttft32_x"] >= 3)
        row("#19 SmolLM2 search (builds cached)", llm["search_s"], "<= 300 s", llm["search_s"] <= 300, "{:.0f} s")
    ls = _load("llm_serve")
    if ls and "ratios" in ls:
        r = ls["ratios"]
        row("#19 served tokens/s, 16 streams vs 1", r["served_16_vs_1"], ">= 5x", r["served_16_vs_1"] >= 5)
        v = r["served_vs_in_process@16"]
        row("#19 served vs in-process tokens/s at 16 streams", v, ">= 0.9", v >= 0.9)
    ro = _load("rollout")
    if ro and "scenarios" in ro:
        sc = ro["scenarios"]
        for name, want in (("good", "promoted"), ("bent", "rolled_back"), ("slow", "rolled_back")):
            if name in sc:
                x = sc[name]
                ok = x["phase"] == want and x["failed"] == 0
                said = want.replace("_", " ")
                n = x["requests_at_first_decision"]
                row(f"#20 {name} candidate {said}, no request failed", n, said, ok, "decided at {:.0f} requests")
        if "shadow_cost" in ro:
            v = ro["shadow_cost"]["p95_ratio"]["value"] - 1
            row("#20 incumbent p95 while shadowing every request", v, "< +10%", v < 0.10, "{:+.1%}")
    ck = _load("check")
    if ck and "figures" in ck:
        f = ck["figures"]
        for key, label in (("unchanged_recorded", "recorded"), ("unchanged_paired", "paired")):
            n, ok = f[key]["runs"], f[key]["passed"]
            row(f"#20 check, unchanged ({label}): passes", ok, f"{n} of {n}", ok == n, "{:.0f}")
        sv = f["slow_variant"]
        row(f"#20 check, {f['slow_measured_x']:.2f}x slower: fails", sv["regressed"], f"{sv['runs']} of {sv['runs']}",
            sv["regressed"] == sv["runs"], "{:.0f}")  # fmt: skip
    dr = _load("drift")
    if dr and "figures" in dr:
        f = dr["figures"]
        row("#20 drift false alarms per hour, unshifted", f["false_alarms_per_hour"], "stated", None, "{:.1f}")
        row("#20 drift: 1-sd shift of one feature detected after", f["detect_seconds"], "stated", None, "{:.1f} s")
    ex = _load("explain")
    if ex and "breakdown" in ex:
        for model, engines in ex["breakdown"].items():
            for e in engines:
                if "rows_vs_plain" in e:
                    v = e["rows_vs_plain"]
                    row(f"#21 {model} {e['engine']}: op-type rows / plain latency", v, "0.9-1.1", 0.9 <= v <= 1.1)
        rec = ex["recovery"]["top3_recovered"]
        row("#21 MiniLM static QDQ: top-3 nodes in float recover", rec, ">= 0.5 of the loss", rec >= 0.5, "{:.3f}")
        t = ex["explain"]["total_s"]
        row("#21 lepton explain on MiniLM", t, "< 60 s", t < 60, "{:.1f} s")
    mem = _load("memory")
    if mem and "models" in mem:
        for model, m in mem["models"].items():
            peak = (m.get("memory") or {}).get("peak_rss_mb")
            goal = 3000 if model == "minilm" else 4000
            row(f"#22 {model} search peak RSS", peak, f"<= {goal} MB", peak is not None and peak <= goal, "{:.0f} MB")
    return []


def table(headers: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)
