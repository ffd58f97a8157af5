"""The optimize summary a person reads first, in the terminal; the HTML report quotes the same lines.

``gain_lines`` is the one wording of the gains: the terminal prints it, the HTML recommendation box prints it,
and both read ``OptimizeResult.gains`` (computed once, by the navigator).
"""

from __future__ import annotations

from rich.console import Console

from lepton.measure.trial import Trial
from lepton.navigate.result import Gain, OptimizeResult
from lepton.report.terminal import trials_table


def condensed(result: OptimizeResult) -> list[Trial]:
    """The rows a person reads first: baselines, then each variant's cheapest trial per batch size and engine
    (and kind of node, on a cluster; the recommended trial always shown)."""
    rec_id = result.recommended
    current = result.current
    best: dict[tuple[str, str, int, str | None], Trial] = {}
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
    return (
        f"vs baseline at batch {g.batch_size}{threads}: {g.single_stream_throughput_x:.2f}x throughput "
        f"single-stream, {g.throughput_x:.2f}x loaded [95% CI {loaded.low:.2f}-{loaded.high:.2f}], "
        f"{g.p50_x:.2f}x lower p50, {g.cost_x:.2f}x cheaper per 1M{paired}{flag}"
    )


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
    if result.verdict == "no-fit":
        console.print(f"[bold red]{headline(result)}[/bold red]")
        return
    style = "bold green" if result.verdict == "recommend" else "bold yellow"
    console.print(f"[{style}]recommended {result.recommended}:[/{style}] {result.reason}")
    for line in gain_lines(result):
        console.print(f"  {line}")
    console.print(f"frontier: {', '.join(result.frontier)}")
