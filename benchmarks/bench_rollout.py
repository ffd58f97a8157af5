"""Gated rollout benchmark (issue 20): decisions within N requests on a replayed load, and what shadowing costs.

MiniLM fp32 is served (the incumbent). A load of real sentences (one per request, Poisson arrivals) is captured
once by a server run with ``--capture 100%``; each scenario then starts ``lepton serve minilm --candidate ...``
in its own process and replays that capture (``lepton.serve.replay``) until the rollout decides:

- good:  the int8 variant (dynamic quantization, the navigator's usual recommendation on CPU) -> promote
- bent:  fp32 with its output moved by a constant vector (fidelity ~0.95, a drop of ~5%) -> roll back
- slow:  fp32 computing its encoder twice (equal outputs, ~2x the time) -> roll back

Every scenario: ``--shadow --canary 5% --steps 5%,25%,50%,100%``; figures: the decision, the requests answered
when it was taken, failed requests (none expected). Then the shadow's cost, as a paired ratio: two servers up at
once, the incumbent alone and with the int8 candidate shadowing every request (the test held open), driven in
alternating blocks of the same replayed load; the incumbent's p95 at the client, shadowed over alone, per pair.

    .venv/bin/python benchmarks/bench_rollout.py               # writes benchmarks/results/rollout.json and .md
    .venv/bin/python benchmarks/bench_rollout.py --only cost   # the shadow's cost alone (~4 minutes)
    .venv/bin/python benchmarks/bench_rollout.py --small       # a quick check that it runs (few requests)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnx
from onnx import helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result  # noqa: E402
from serve_bench import free_port, wait_ready  # noqa: E402

PY = sys.executable
TOKEN = "bench"


# -- the variants ---------------------------------------------------------------------------------
def commit(store: Any, model: onnx.ModelProto, name: str, base: Any) -> Any:
    with store.workdir() as work:
        onnx.save(model, work / "model.onnx")
        art = store.commit_artifact(work, signature=base.signature, task=base.task, name=name)
    store.name_model(name, art.id)
    return art


def bent(model: onnx.ModelProto, out: str, direction: np.ndarray) -> onnx.ModelProto:
    """``model`` whose output ``out`` has ``direction`` added (the same vector for every row)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for node in m.graph.node:
        node.output[:] = [f"{o}__raw" if o == out else o for o in node.output]
    m.graph.initializer.append(numpy_helper.from_array(direction.astype(np.float32), "bend"))
    m.graph.node.append(helper.make_node("Add", [f"{out}__raw", "bend"], [out]))
    return m


def twice(model: onnx.ModelProto, out: str) -> onnx.ModelProto:
    """``model`` computing its graph twice on the same inputs: ``out`` + 0 x (the copy's ``out``)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    inputs = {i.name for i in model.graph.input}
    inits = {i.name for i in model.graph.initializer}

    def dup(name: str) -> str:
        return name if (name in inputs or name in inits or not name) else f"dup__{name}"

    for node in model.graph.node:
        copy = helper.make_node(node.op_type, [dup(i) for i in node.input], [dup(o) for o in node.output])
        copy.attribute.extend(node.attribute)
        copy.domain = node.domain
        copy.name = f"dup__{node.name}" if node.name else ""
        m.graph.node.append(copy)
    for node in m.graph.node[: len(model.graph.node)]:
        node.output[:] = [f"{o}__raw" if o == out else o for o in node.output]
    m.graph.initializer.append(numpy_helper.from_array(np.zeros((), dtype=np.float32), "zero"))
    m.graph.node.append(helper.make_node("Mul", [f"dup__{out}", "zero"], ["nothing"]))
    m.graph.node.append(helper.make_node("Add", [f"{out}__raw", "nothing"], [out]))
    return m


def variants(store: Any) -> dict[str, str]:
    from lepton.engines.base import RuntimeConfig, open_session
    from lepton.examples import example_sentences, import_example, tokenize
    from lepton.hardware import detect_hardware
    from lepton.passes import PassContext, apply_pass, create
    from lepton.similarity import row_cosines

    fp32 = import_example("minilm", store)
    int8 = apply_pass(fp32, create("quantize-dynamic"), PassContext(store=store, hardware=detect_hardware()))
    store.name_model("minilm-int8", int8.id)
    model = onnx.load(str(fp32.model_path))
    out = fp32.signature.outputs[0].name
    session = open_session("onnxruntime", fp32, RuntimeConfig())
    ref = session.run(tokenize(fp32, example_sentences()[:32]))[out]
    direction = np.random.default_rng(0).standard_normal(ref.shape[1:])
    direction *= np.linalg.norm(ref.reshape(len(ref), -1), axis=1).mean() / np.linalg.norm(direction)
    for scale in np.linspace(0.05, 1.0, 40):  # the smallest bend whose mean fidelity is at most 0.95
        cos = float(np.mean(row_cosines(ref, ref + scale * direction)))
        if cos <= 0.95:
            break
    commit(store, bent(model, out, scale * direction), "minilm-bent", fp32)
    commit(store, twice(model, out), "minilm-slow", fp32)
    return {"good": "minilm=minilm-int8", "bent": "minilm=minilm-bent", "slow": "minilm=minilm-slow"}


# -- servers and load -----------------------------------------------------------------------------
class Served:
    def __init__(self, home: Path, *flags: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "LEPTON_HOME": str(home), "HF_HUB_OFFLINE": "1"}
        cmd = [PY, "-m", "lepton", "serve", "minilm", "--port", str(self.port), "--token", TOKEN, "--log-level"]
        self.proc = subprocess.Popen([*cmd, "warning", *flags], env=env)

    def __enter__(self) -> Served:
        wait_ready(f"{self.url}/v2/health/ready", self.proc)
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def capture_load(home: Path, requests: int, rate: float) -> None:
    """Send ``requests`` sentences (Poisson arrivals at ``rate``/s) to a server capturing every request."""
    from lepton import wire
    from lepton.examples import example_sentences, import_example, tokenize
    from lepton.store.store import Store

    art = import_example("minilm", Store(home))
    sentences = example_sentences()
    rng = np.random.default_rng(0)
    with Served(home, "--capture", "100%") as s, httpx.Client(timeout=60) as client:
        for i in range(requests):
            feeds = tokenize(art, [sentences[i % len(sentences)]])
            body, headers = wire.encode_request(feeds, binary=True)
            assert client.post(f"{s.url}/v2/models/minilm/infer", content=body, headers=headers).status_code == 200
            time.sleep(float(rng.exponential(1 / rate)))
        time.sleep(1.0)  # the capture writer catches up


def scenario(home: Path, candidate: str, flags: list[str], speed: float) -> dict[str, Any]:
    from lepton.serve.replay import ReplaySpec, replay
    from lepton.store.store import Store

    with Served(home, "--candidate", candidate, *flags) as s:
        result = replay(ReplaySpec("minilm", s.url, speed=speed, max_in_flight=16), Store(home))
        status = httpx.get(f"{s.url}/admin/rollout/minilm").json()
    decisions = [e for e in status["events"] if e["action"] in ("promote", "rollback")]

    def answered(e: dict[str, Any]) -> int:
        ev = e["evidence"]
        return int(ev.get("incumbent", {}).get("requests", 0) + ev.get("candidate", {}).get("requests", 0))

    def said(e: dict[str, Any]) -> str:
        return f"{e['action']} by {e['by']} at {answered(e)}: {e['reason']}"

    return {
        "candidate": candidate,
        "phase": status["phase"],
        "first_decision": said(decisions[0]) if decisions else None,
        "final_decision": said(decisions[-1]) if status["phase"] in ("promoted", "rolled_back") else None,
        "requests_at_first_decision": answered(decisions[0]) if decisions else None,
        "requests_at_final": answered(decisions[-1]) if status["phase"] in ("promoted", "rolled_back") else None,
        "compared_at_first_decision": decisions[0]["evidence"].get("compared", 0) if decisions else None,
        "replay": result.to_json(),
        "failed": result.requests - result.ok,
        "evidence": status["evidence"],
        "events": status["events"],
    }


def settle(url: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """The shadowed server's evidence once every shadow copy of the block was compared or dropped (its queue
    drained): so none of its work spills into the next block."""
    deadline = time.monotonic() + timeout_s
    while True:
        ev: dict[str, Any] = httpx.get(f"{url}/admin/rollout/minilm").json()["evidence"]
        if ev["compared"] + ev["dropped"] >= ev["incumbent"]["requests"] or time.monotonic() > deadline:
            return ev
        time.sleep(0.05)


def shadow_cost(home: Path, candidate: str, pairs: int, block: int, speed: float) -> dict[str, Any]:
    """The incumbent's p95 with every request shadowed over its p95 alone, as a paired ratio: two servers up at
    once (one alone, one with the candidate shadowing every request, the test held open), driven in alternating
    blocks of the same replayed load (A B, B A, ...), so outside load and drift fall on both sides of a pair
    alike; the median of the per-pair ratios with a 95% bootstrap interval (``measure.paired.median_ratio``)."""
    from lepton.measure.interference import CpuClock, between
    from lepton.measure.paired import median_ratio
    from lepton.serve.replay import ReplaySpec, replay
    from lepton.store.store import Store

    held = ["--shadow", "--min-samples", "1000000", "--candidate", candidate]  # the test never decides
    store = Store(home)
    rows: list[dict[str, Any]] = []
    with Served(home) as alone, Served(home, *held) as shadowed:
        servers = {"alone": alone, "shadowed": shadowed}

        def run(label: str) -> dict[str, Any]:
            s = servers[label]
            t0 = CpuClock.now()
            r = replay(ReplaySpec("minilm", s.url, speed=speed, limit=block, max_in_flight=16), store)
            if label == "shadowed":
                settle(s.url)
            b = between(t0, CpuClock.now())
            return {"p50": r.p50_ms, "p95": r.p95_ms, "failed": r.requests - r.ok, "disturbed": b.disturbed()}

        run("alone"), run("shadowed")  # warm both (not counted)
        for i in range(pairs):
            order = ("alone", "shadowed") if i % 2 == 0 else ("shadowed", "alone")
            got = {label: run(label) for label in order}
            rows.append(got)
        evidence = settle(shadowed.url)
    ratios = [r["shadowed"]["p95"] / r["alone"]["p95"] for r in rows if r["alone"]["p95"] and r["shadowed"]["p95"]]
    p50s = [r["shadowed"]["p50"] / r["alone"]["p50"] for r in rows if r["alone"]["p50"] and r["shadowed"]["p50"]]
    clean = [
        r["shadowed"]["p95"] / r["alone"]["p95"]
        for r in rows
        if not (r["alone"]["disturbed"] or r["shadowed"]["disturbed"]) and r["alone"]["p95"] and r["shadowed"]["p95"]
    ]
    cand = evidence.get("candidate") or {}
    return {
        "pairs": rows,
        "block_requests": block,
        "p95_ratio": median_ratio(ratios).to_json() if ratios else None,
        "p50_ratio": median_ratio(p50s).to_json() if p50s else None,
        "p95_ratio_clean_pairs": median_ratio(clean).to_json() if clean else None,
        "clean_pairs": len(clean),
        "failed": sum(r[k]["failed"] for r in rows for k in r),
        "shadow": {
            "selected": (evidence.get("incumbent") or {}).get("requests"),
            "compared": evidence["compared"],
            "dropped": evidence["dropped"],
            "shadow_cpu_p50_ms": cand.get("shadow_cpu_p50"),
        },
    }


def cost_lines(cost: dict[str, Any], speed: float) -> list[str]:
    r, p50, sh = cost["p95_ratio"], cost["p50_ratio"], cost["shadow"]

    def est(e: dict[str, Any] | None) -> str:
        return "-" if e is None else f"{e['value'] - 1:+.1%} (95% CI {e['low'] - 1:+.1%} .. {e['high'] - 1:+.1%})"

    return [
        "",
        f"Shadowing every request (int8 candidate, test held open), paired: {len(cost['pairs'])} pairs of "
        f"alternating blocks of {cost['block_requests']} replayed requests at {speed:g}x against two servers up at "
        f"once. Incumbent p95 at the client, shadowed over alone: {est(r)}; p50 {est(p50)}; over the "
        f"{cost['clean_pairs']} pairs no block of which was disturbed: {est(cost['p95_ratio_clean_pairs'])}. "
        f"Shadow copies: {sh['compared']} compared, {sh['dropped']} dropped of {sh['selected']} "
        f"(one thread at nice 19, {sh['shadow_cpu_p50_ms']} ms CPU each); {cost['failed']} requests failed.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a quick check: few requests, few shadow pairs")
    parser.add_argument("--only", choices=("decisions", "cost"), default=None, help="run one part only")
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--rate", type=float, default=20.0, help="arrivals per second in the captured load")
    parser.add_argument("--speed", type=float, default=1.0, help="replay speed")
    parser.add_argument("--pairs", type=int, default=None, help="shadow cost: pairs of blocks (default 8; small 2)")
    parser.add_argument("--block", type=int, default=None, help="shadow cost: requests per block (default 200)")
    args = parser.parse_args()
    pairs = args.pairs or (2 if args.small else 8)
    block = args.block or (60 if args.small else 200)
    requests = args.requests or (block if args.only == "cost" else 150 if args.small else 1200)
    block = min(block, requests)
    flags = ["--shadow", "--canary", "5%", "--steps", "5%,25%,50%,100%"]
    flags += ["--min-samples", "20" if args.small else "50", "--step-requests", "10" if args.small else "50"]

    from lepton.store.store import Store

    results: dict[str, Any] = {}
    cost: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="bench-rollout-") as tmp:
        home = Path(tmp)
        names = variants(Store(home))
        capture_load(home, requests, args.rate)
        if args.only != "cost":
            results = {k: scenario(home, ref, flags, args.speed) for k, ref in names.items()}
        if args.only != "decisions":
            cost = shadow_cost(home, names["good"], pairs, block, args.speed)

    payload = {"requests": requests, "rate": args.rate, "speed": args.speed, "flags": flags}
    payload |= {"scenarios": results, "shadow_cost": cost}
    lines = [
        "## Gated rollout (`benchmarks/bench_rollout.py`)",
        "",
        f"MiniLM fp32 served; a captured load of {requests} sentences (Poisson, {args.rate:g}/s) replayed at "
        f"{args.speed:g}x; `{' '.join(flags)}`.",
    ]
    if results:
        lines += [
            "",
            "| candidate | final state | first decision (requests answered then) | final decision | failed requests |",
            "|---|---|---|---|---|",
        ]
    for k, r in results.items():
        lines.append(
            f"| {k} ({r['candidate']}) | {r['phase']} | {r['first_decision'] or '-'} | "
            f"{r['final_decision'] or '-'} | {r['failed']} / {r['replay']['requests']} |"
        )
    if cost is not None:
        lines += cost_lines(cost, args.speed)
    name = "rollout" + ("_small" if args.small else "") + (f"_{args.only}" if args.only else "")
    write_result(name, payload, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
