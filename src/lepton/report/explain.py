"""``lepton explain`` in the terminal: the top rows of each table (op types beside the parent's, blocks, per-node
quality) and the reason a slower variant is slower."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from lepton.format import engine_name, ms
from lepton.measure.breakdown import by_layer, by_op_type
from lepton.navigate.explain_run import Explanation

TOP = 10
PROFILER_COST = 1.1  # profiled calls this much slower than the run's latency: the profiler's own cost is said


def overhead_lines(e: Explanation) -> list[str]:
    """What the row outside the nodes holds, where the engine says, and what profiling cost against the run's
    measured latency (a profiler that inflates a call makes its milliseconds larger, not its shares wrong)."""
    p, lines = e.profile, []
    outside = p.wall_ms - p.kernel_ms
    if p.between_nodes_ms is not None and p.around_call_ms is not None and outside > 0:
        lines.append(
            f"outside the nodes {ms(outside)} ms per call: {ms(p.between_nodes_ms)} ms inside the engine between "
            f"nodes (its executor, and its profiler's own records), {ms(p.around_call_ms)} ms around the call "
            "(binding, input and output copies)"
        )
    if e.measured_ms and p.wall_ms > PROFILER_COST * e.measured_ms:
        lines.append(
            f"profiled calls took {p.wall_ms / e.measured_ms:.1f}x the latency the run measured: the profiler's own "
            "cost per node; read the shares, not the milliseconds"
        )
    return lines


def print_explanation(console: Console, e: Explanation, rows: int = TOP) -> None:
    p = e.profile
    measured = f"; the run measured {ms(e.measured_ms)} ms" if e.measured_ms is not None else ""
    console.print(
        f"[bold]{e.trial_id}[/bold] {e.variant} on {engine_name(e.engine)}, batch {e.batch_size}: "
        f"{ms(p.wall_ms)} ms per call profiled over {p.runs} calls, nodes account for {p.covered:.0%}{measured}",
        highlight=False,
    )
    for line in overhead_lines(e):
        console.print(line, highlight=False)
    if e.disturbed is not None:
        console.print(f"[yellow]{e.disturbed.text}[/yellow]: the times below are not facts", highlight=False)
    ops = Table(title="time by op type (ms per call)", title_justify="left")
    ops.add_column("op type")
    if e.diff is not None:
        ops.add_column(f"parent ({e.parent_variant})", justify="right")
        ops.add_column(e.variant, justify="right")
        ops.add_column("change", justify="right")
        for r in e.diff.rows[:rows]:
            sign = "+" if r.delta_ms >= 0 else "-"
            ops.add_row(
                r.op_type + (f" [dim]({r.change})[/dim]" if r.change != "kept" else ""),
                ms(r.parent_ms),
                ms(r.child_ms),
                f"{sign}{ms(abs(r.delta_ms))}",
            )
    else:
        ops.add_column("ms", justify="right")
        ops.add_column("share", justify="right")
        ops.add_column("nodes", justify="right")
        for s in by_op_type(p)[:rows]:
            ops.add_row(s.name, ms(s.ms), f"{s.fraction:.0%}", str(s.nodes))
    console.print(ops)
    layers = Table(title="time by block (ms per call)", title_justify="left")
    for col in ("block", "ms", "share", "nodes"):
        layers.add_column(col, justify="left" if col == "block" else "right")
    for s in by_layer(p)[:rows]:
        layers.add_row(s.name, ms(s.ms), f"{s.fraction:.0%}", str(s.nodes))
    console.print(layers)
    if e.diff is not None:
        if e.diff.reason:
            console.print(f"[bold]slower than its parent:[/bold] {e.diff.reason}", highlight=False)
        if e.diff.int8_nodes:
            floats = ", ".join(e.diff.float_layers[:8]) or "none"
            console.print(
                f"{e.diff.int8_nodes} compute nodes run in int8, {e.diff.float_nodes} in float (blocks: {floats})",
                highlight=False,
            )
    if e.quality is not None:
        q = e.quality
        table = Table(
            title=f"per-node quality (output cosine {q.output_cosine:.4f} on {q.rows} rows; "
            + (
                f"the cosine each node recovers kept alone in float first, {q.measured} nodes measured on "
                f"{q.measured_rows} rows)"
                if q.measured
                else "most noise added first)"
            ),
            title_justify="left",
        )
        staged = any(n.stage_loss is not None for n in q.nodes)
        cols = ["node", "op", "recovered", "SQNR dB", "cosine", "input dB", "added noise"]
        cols += ["stage loss"] if staged else []
        for col in [*cols, ""]:
            table.add_column(col, justify="left" if col in ("node", "op", "") else "right")
        for n in q.nodes[:rows]:
            mark = "kept in float" if n.kept_float else ("" if n.quantized else "float")
            stage = [f"{n.stage_loss:.4f}" if n.stage_loss is not None else ""] if staged else []
            table.add_row(
                n.node,
                n.op_type,
                f"{n.recovered:+.5f}" if n.recovered is not None else "",
                f"{n.sqnr_db:.1f}",
                f"{n.cosine:.4f}",
                f"{n.input_sqnr_db:.1f}",
                f"{n.added_noise:.2e}",
                *stage,
                mark,
            )
        console.print(table)
        if q.unmeasured:
            console.print(f"recovery not measured ({q.unmeasured}): sorted by added noise", highlight=False)
