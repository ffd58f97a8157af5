"""The optimize summary a person reads first, in the terminal; the HTML report quotes the same lines.

``gain_lines`` is the one wording of the gains: the terminal prints it, the HTML recommendation box prints it,
and both read ``OptimizeResult.gains`` (computed once, by the navigator).
"""

from __future__ import annotations

from rich.console import Console

from lepton.navigate.judged import JudgedTrial
from lepton.navigate.result import Gain, MemoryInfo, OptimizeResult
from lepton.report.terminal import trials_table


def condensed(result: OptimizeResult) -> list[JudgedTrial]:
    """The rows a person reads first: baselines, then each variant's cheapest trial per batch size and engine
    (and kind of node, on a cluster; the recommended trial always shown)."""
    rec_id = result.recommended
    current = result.current
    best: dict[tuple[str, str, int, str | None], JudgedTrial] = {}
    for t in (t for t in current if not t.is_baseline):
        key = (t.variant, t.engine, t.batch_size, t.hardware_kind)
        old = best.get(key)
        if not t.measured:
            best.setdefault(key, t)
            continue
        if t.id == rec_id or old is None or not old.measured or (old.id != rec_id and t.usd_per_1m < old.usd_per_1m):
            best[key] = t
    rows = sorted(best.values(), key=lambda t: (t.batch_size, t.usd_per_1m if t.measured else float("inf")))
    return [t for t in current if t.is_baseline] + rows


def gain_text(g: Gain) -> str:
    """One batch size's gains, with the 95% interval of the loaded throughput ratio."""
    threads = f" ({g.threads} thread{'s' if g.threads != 1 else ''})" if g.threads is not None else ""
    loaded = g.ratio("throughput_x")
    paired = f" (median of {g.pairs} alternating pairs)" if g.pairs else ""
    flag = f"; NOT A FACT, {g.disturbed.text}: re-run on a quiet machine" if g.disturbed is not None else ""
    if g.ttft_x is not None:  # a causal LM: tokens, not inferences
        return (
            f"vs baseline{threads}: {g.single_stream_throughput_x:.2f}x decode tokens/s in one stream, "
            f"{g.throughput_x:.2f}x at serving capacity, {g.p50_x:.2f}x lower p50 time per output token, "
            f"{g.ttft_x:.2f}x lower time to first token, {g.cost_x:.2f}x cheaper per 1M output tokens{flag}"
        )
    return (
        f"vs baseline at batch {g.batch_size}{threads}: {g.single_stream_throughput_x:.2f}x throughput "
        f"single-stream, {g.throughput_x:.2f}x loaded [95% CI {loaded.low:.2f}-{loaded.high:.2f}], "
        f"{g.p50_x:.2f}x lower p50, {g.cost_x:.2f}x cheaper per 1M{paired}{flag}"
    )


def generation_lines(trials: list[JudgedTrial]) -> list[str]:
    """A causal LM's figures per trial: time to first token by prompt length, time per output token, tokens/s,
    $/1M output and input tokens, perplexity, top-1 agreement and greedy match (empty for other models)."""
    out = []
    for t in trials:
        g, q = t.generation, t.quality
        if g is None:
            continue
        ttft = ", ".join(f"TTFT@{p.prompt_tokens} {p.ttft_ms.mean:.1f} ms" for p in g.ttft)
        flag = " (disturbed)" if g.disturbed is not None else ""
        streams = f", {g.streams_tokens_per_s:.1f} with {g.streams} streams" if g.streams_tokens_per_s else ""
        if g.streams_tpot_ms is not None:
            streams += f" (p95 {g.streams_tpot_ms.p95:.1f} ms/token)"
        out.append(
            f"{t.id} {t.variant} on {t.engine_label}: {ttft}, {g.tpot_ms.mean:.1f} ms/token, "
            f"{g.decode_tokens_per_s:.1f} decode tok/s, {g.e2e_tokens_per_s:.1f} end-to-end{streams}, "
            f"${g.usd_per_1m_output:.3f}/1M out, ${g.usd_per_1m_input:.4f}/1M in; perplexity {q.perplexity}, "
            f"top-1 {q.top1_agreement}, greedy {q.greedy_match}{flag}"
        )
    return out


def disturbed_lines(result: OptimizeResult) -> list[str]:
    """Which current figures other processes disturbed, and who was busiest (empty on a quiet run)."""
    flagged = [t for t in result.current if t.disturbed is not None]
    if not flagged and not any(g.disturbed for g in result.gains):
        return []
    quoted = [t for t in flagged if t.precise]
    parts = [d for d in [*(t.disturbed for t in flagged), *(g.disturbed for g in result.gains)] if d is not None]
    busiest = max(parts, key=lambda d: d.other_cpu_s).busiest
    who = f"; the busiest other process was {busiest}" if busiest else ""
    return [
        f"{len(flagged)} measurement(s) were disturbed by other processes ({len(quoted)} precise: "
        f"{', '.join(t.id for t in quoted) or 'none'}){who}; flagged figures are not quoted as facts"
    ]


def gain_lines(result: OptimizeResult) -> list[str]:
    return [gain_text(g) for g in result.gains]


def headline(result: OptimizeResult) -> str:
    """The verdict in one line: what to deploy and why."""
    if result.verdict == "no-fit":
        miss = result.closest_miss.text if result.closest_miss else "nothing meets the targets"
        return f"no candidate meets the targets: {miss}"
    if result.verdict == "keep":
        return f"recommended {result.recommended}: {result.reason}"
    return f"recommended {result.recommended}: {result.reason}"


def print_summary(console: Console, result: OptimizeResult) -> None:
    shown = condensed(result)
    hidden = len(result.current) - len(shown)
    title = f"{result.model.display_name}: best setting of each variant per batch size" + (
        f" ({hidden} more in --json/--html)" if hidden else ""
    )
    console.print(trials_table(shown, show_variant=True, title=title))
    for where in result.inputs.values():
        console.print(f"[dim]{where}[/dim]")
    for note in result.notes:
        console.print(f"[dim]note: {note}[/dim]")
    for t in shown:
        if t.status == "rejected":
            console.print(f"[yellow]{t.id} rejected:[/yellow] {'; '.join(t.reasons)}")
        if t.disturbed is not None and t.precise:
            console.print(f"[yellow]{t.id} {t.disturbed.text}[/yellow]")
    for line in generation_lines(shown):
        console.print(line)
    for line in disturbed_lines(result):
        console.print(f"[yellow]{line}[/yellow]")
    sens = result.sensitivity
    if sens is not None and sens.seconds is not None:
        kept = len(sens.kept_float)
        reached = (
            f"keeping {kept} in float reaches fidelity {sens.target:g}"
            if sens.reached
            else f"fidelity {sens.target:g} not reached by the k tried"
        )
        console.print(f"sensitivity: {sens.why}; ranked the int8 nodes in {sens.seconds:.0f} s; {reached}")
    elif sens is not None and sens.error:
        console.print(f"[dim]sensitivity: {sens.why}; not run: {sens.error}[/dim]")
    s = result.search
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in s.stages.items())
    console.print(
        f"search: {s.strategy}, {s.candidates} candidates, {s.measured} measurements "
        f"({s.screened} screens, {s.quick} quick, {s.precise} precise) in {s.seconds:.0f} s"
        + (f" ({stages})" if stages else "")
    )
    if result.memory is not None:
        console.print(memory_line(result.memory))
    if result.verdict == "no-fit":
        console.print(f"[bold red]{headline(result)}[/bold red]")
        return
    style = "bold green" if result.verdict == "recommend" else "bold yellow"
    console.print(f"[{style}]recommended {result.recommended}:[/{style}] {result.reason}")
    for line in gain_lines(result):
        console.print(f"  {line}")
    console.print(f"frontier: {', '.join(result.frontier)}")


def memory_line(m: MemoryInfo) -> str:
    """``memory: peak RSS 812 MB (baseline 520, build 812, ...); bound 15165 MB (60% of ...); calibration 64 rows``."""
    stages = ", ".join(f"{k} {v:.0f}" for k, v in m.stages.items())
    worst = max(m.passes.items(), key=lambda kv: kv[1], default=None)
    built = f"; most while building: {worst[0]} {worst[1]:.0f} MB" if worst else ""
    per = f" in batches of {m.calibration_batch}" if m.calibration_batch else ""
    calib = f"calibration {m.calibration_rows} rows{per}" + (
        f" (~{m.calibration_estimate_mb:.0f} MB estimated)" if m.calibration_estimate_mb is not None else ""
    )
    return (
        f"memory: peak RSS {m.peak_rss_mb:.0f} MB"
        + (f" ({stages})" if stages else "")
        + built
        + f"; bound {m.limit_mb:.0f} MB ({m.limit_source}); {calib}"
    )
