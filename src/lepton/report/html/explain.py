"""The explain section of the optimize report: time by op type per variant (the parent's bar beside the child's,
stacked by op type), time by block, and the per-node quality chart; the figures ``lepton explain`` prints."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from lepton.format import engine_name, ms
from lepton.measure.breakdown import by_layer, by_op_type
from lepton.navigate.explain_run import Explanation
from lepton.report.html.common import Charts, esc

TOP_OPS = 8  # op types shown by name in the stacked bar (the rest are "other")
TOP_BLOCKS = 15
TOP_NODES = 20


def _stacked(e: Explanation) -> go.Figure:
    profiles = [(f"parent: {e.parent_variant}", e.parent_profile)] if e.parent_profile is not None else []
    profiles.append((e.variant, e.profile))
    totals: dict[str, float] = {}
    for _, p in profiles:
        for s in by_op_type(p) if p is not None else ():
            totals[s.name] = totals.get(s.name, 0.0) + s.ms
    named = sorted(totals, key=lambda k: totals[k], reverse=True)[:TOP_OPS]
    fig = go.Figure()
    for op in [*named, "other"]:
        ys = []
        for _, p in profiles:
            rows = {s.name: s.ms for s in by_op_type(p)} if p is not None else {}
            ys.append(rows.get(op, 0.0) if op != "other" else sum(v for k, v in rows.items() if k not in named))
        fig.add_bar(name=esc(op), x=[esc(label) for label, _ in profiles], y=ys, hovertemplate="%{y:.3g} ms")
    fig.update_layout(barmode="stack", height=420, yaxis_title="ms per call", legend_title_text="op type")
    return fig


def _blocks(e: Explanation) -> go.Figure:
    rows = by_layer(e.profile)[:TOP_BLOCKS]
    fig = go.Figure()
    if e.parent_profile is not None:
        parent = {s.name: s.ms for s in by_layer(e.parent_profile)}
        fig.add_bar(
            name=esc(f"parent: {e.parent_variant}"),
            y=[esc(s.name) for s in rows],
            x=[parent.get(s.name, 0.0) for s in rows],
            orientation="h",
        )
    fig.add_bar(name=esc(e.variant), y=[esc(s.name) for s in rows], x=[s.ms for s in rows], orientation="h")
    fig.update_layout(
        barmode="group",
        height=max(300, 26 * len(rows) + 120),
        xaxis_title="ms per call",
        yaxis={"autorange": "reversed"},
    )
    return fig


def _nodes(e: Explanation) -> go.Figure | None:
    if e.quality is None:
        return None
    nodes = e.quality.nodes[:TOP_NODES]
    measured = e.quality.measured > 0
    colours = ["#2e7d32" if n.kept_float else "#b3261e" if n.quantized else "#999" for n in nodes]
    fig = go.Figure(
        go.Bar(
            y=[esc(n.node) for n in nodes],
            x=[(n.recovered or 0.0) if measured else n.added_noise for n in nodes],
            orientation="h",
            marker_color=colours,
            customdata=[
                [n.sqnr_db, n.cosine, "kept in float" if n.kept_float else n.op_type, n.added_noise] for n in nodes
            ],
            hovertemplate=("recovered cosine %{x:.4f}" if measured else "added noise %{x:.3g}")
            + "<br>SQNR %{customdata[0]:.1f} dB · cosine %{customdata[1]:.4f} · added noise %{customdata[3]:.3g}"
            "<br>%{customdata[2]}<extra></extra>",
        )
    )
    fig.update_layout(
        height=max(300, 24 * len(nodes) + 120),
        xaxis_title="output cosine recovered by keeping the node alone in float"
        if measured
        else "noise added by the node (noise / signal)",
        yaxis={"autorange": "reversed"},
    )
    return fig


def explain_section(e: Explanation, charts: Charts) -> str:
    p = e.profile
    head = (
        f"Trial {e.trial_id} ({e.variant}) on {engine_name(e.engine)} at batch {e.batch_size}: {ms(p.wall_ms)} ms "
        f"per call over {p.runs} profiled calls; its nodes account for {p.covered:.0%} of it."
    )
    reason = (
        f"<p class='reason'><b>Slower than its parent:</b> {esc(e.diff.reason)}</p>" if e.diff and e.diff.reason else ""
    )
    disturbed = f"<p class='warn'>{esc(e.disturbed.text)}: these times are not facts.</p>" if e.disturbed else ""
    parts = [
        f"<section id='explain-{esc(e.trial_id)}' class='explain'>",
        f"<h2>Where the time goes: {esc(e.variant)}</h2><p class='muted'>{esc(head)}</p>{disturbed}{reason}",
        charts.div(_stacked(e), f"explain-ops-{e.trial_id}"),
        "<h3>Time by block</h3>",
        charts.div(_blocks(e), f"explain-blocks-{e.trial_id}"),
    ]
    nodes = _nodes(e)
    if nodes is not None and e.quality is not None:
        q = e.quality
        said = f"Output cosine {q.output_cosine:.4f} on {q.rows} rows. Red: quantized; green: kept in float; " + (
            f"sorted by the output cosine each node recovers when it alone runs in float ({q.measured} nodes "
            f"measured on {q.measured_rows} rows)."
            if q.measured
            else "sorted by the noise each node adds itself."
        )
        parts += [
            f"<h3>Accuracy by node</h3><p class='muted'>{esc(said)}</p>",
            charts.div(nodes, f"explain-nodes-{e.trial_id}"),
        ]
    return "\n".join(parts) + "</section>"


def explain_sections(explanations: Sequence[Explanation], charts: Charts) -> str:
    return "\n".join(explain_section(e, charts) for e in explanations)
