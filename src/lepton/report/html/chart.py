"""The Pareto chart: latency against cost per 1M inferences, one group of traces per batch size.

plotly.js is inlined from plotly's own offline bundle, so the page opens with no network. Every label and hover
text is escaped (plotly renders them as HTML). The latency axis is the statistic the targets judge (p95 unless
the SLO names another), as the navigator's frontier is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from lepton.format import engine_name, ms, usd
from lepton.navigate.judged import JudgedTrial
from lepton.navigate.result import OptimizeResult
from lepton.navigate.targets import Targets
from lepton.report.html.common import esc, quality_text, setting_text, shown_status
from lepton.slo import Slo

Point = tuple[JudgedTrial, str]  # a measured trial and the status it is shown with

_SYMBOLS = {"onnxruntime": "circle", "openvino": "square", "torch": "triangle-up"}
_STYLE: dict[str, dict[str, Any]] = {
    "rejected": {
        "textposition": "top center",
        "textfont": {"size": 10, "color": "#999"},
        "marker": {"color": "rgba(150,150,150,0.45)", "size": 10, "line": {"color": "#888", "width": 1}},
    },
    "candidates": {
        "textposition": "top center",
        "textfont": {"size": 11, "color": "#333"},
        "marker": {"size": 12, "color": "#3b6fd8", "line": {"color": "white", "width": 1}},
    },
    "baseline": {
        "textposition": "top center",
        "textfont": {"color": "#444"},
        "marker": {"symbol": "diamond", "size": 13, "color": "white", "line": {"color": "#222", "width": 2}},
    },
    "recommended": {
        "textposition": "bottom right",
        "textfont": {"color": "#b3261e", "size": 13},
        "marker": {"symbol": "star", "size": 24, "color": "#ffcf33", "line": {"color": "#b3261e", "width": 2}},
    },
}


def _hover(t: JudgedTrial, status: str, metric: str) -> str:
    lines = [
        f"<b>{esc(t.id)}</b> · {esc(status)}{' · baseline' if t.is_baseline else ''}",
        esc(t.variant),
        esc(setting_text(t)),
        esc(f"{metric} {ms(t.latency.value(metric))} ms · {usd(t.usd_per_1m)} per 1M"),
        esc(quality_text(t)),
        *("✗ " + esc(r) for r in t.reasons[:4]),
        *("· " + esc(n) for n in t.notes[:2]),
    ]
    return "<br>".join(x for x in lines if x)


def _markers(
    kind: str, name: str, pts: Sequence[Point], metric: str, labels: Sequence[str], marker: dict[str, Any]
) -> go.Scatter:
    style = dict(_STYLE[kind])
    style["marker"] = {**style["marker"], **marker}
    return go.Scatter(
        x=[t.latency.value(metric) for t, _ in pts],
        y=[t.usd_per_1m for t, _ in pts],
        mode="markers+text",
        text=list(labels),
        name=name,
        meta=kind,
        hovertext=[_hover(t, s, metric) for t, s in pts],
        hoverinfo="text",
        **style,
    )


def _colour_scale(points: Sequence[Point]) -> dict[str, Any] | None:
    """Marker colours by headline quality when every candidate has the same kind of headline figure."""
    heads = [t.quality.headline() for t, s in points if not t.is_baseline and s != "rejected"]
    named = [h for h in heads if h is not None]
    if not named or len(named) != len(heads) or len({h.name for h in named}) != 1:
        return None
    low, high = min(h.value for h in named), max(h.value for h in named)
    if low == high:
        low, high = low - 0.001, high + 0.001
    h0 = named[0]
    return {
        "colorscale": "Viridis",
        "reversescale": not h0.higher_is_better,  # the better end keeps the same colour for an error metric
        "cmin": low,
        "cmax": high,
        "colorbar": {"title": {"text": h0.label}, "thickness": 14, "len": 0.8},
    }


def _group(
    result: OptimizeResult, pts: Sequence[Point], suffix: str, metric: str, colours: dict[str, Any] | None
) -> list[go.Scatter]:
    """The traces of one batch size: rejected, candidates per engine, frontier line, baseline, the choice."""
    out = []
    rejected = [(t, s) for t, s in pts if s == "rejected" and not t.is_baseline]
    if rejected:
        out.append(_markers("rejected", "rejected" + suffix, rejected, metric, [esc(t.id) for t, _ in rejected], {}))
    candidates = [(t, s) for t, s in pts if s in ("ok", "frontier", "recommended") and not t.is_baseline]
    for i, engine in enumerate(sorted({t.engine for t, _ in candidates})):
        mine = [(t, s) for t, s in candidates if t.engine == engine]
        marker: dict[str, Any] = {"symbol": _SYMBOLS.get(engine, "circle")}
        if colours:
            heads = [t.quality.headline() for t, _ in mine]
            marker |= {**colours, "color": [h.value for h in heads if h], "showscale": i == 0}
        labels = ["" if s == "recommended" else esc(t.id) for t, s in mine]
        out.append(_markers("candidates", esc(engine_name(engine)) + suffix, mine, metric, labels, marker))
    front = sorted((t for t, _ in pts if t.id in result.frontier), key=lambda t: t.latency.value(metric))
    if front:
        out.append(
            go.Scatter(
                x=[t.latency.value(metric) for t in front],
                y=[t.usd_per_1m for t in front],
                mode="lines",
                name="frontier" + suffix,
                meta="frontier",
                hoverinfo="skip",
                line={"color": "#1d9e6b", "width": 2},
            )
        )
    base = [(t, s) for t, s in pts if t.is_baseline]
    if base:
        out.append(_markers("baseline", "baseline" + suffix, base, metric, ["baseline"] * len(base), {}))
    chosen = [(t, s) for t, s in pts if s == "recommended"]
    if chosen:
        word = "keep" if result.verdict == "keep" else "recommended"
        labels = [f"{esc(t.id)} {word}" for t, _ in chosen]
        out.append(_markers("recommended", word + suffix, chosen, metric, labels, {}))
    return out


def _axis(values: Sequence[float | None]) -> dict[str, Any]:
    """Type and range of one axis from the measured values alone, with a margin: log when the positive values
    span more than 10x. A missing, infinite or (on a log axis) non-positive value never widens it, and nothing
    else drawn (the SLO line) does either: plotly's autorange counts shapes and annotations, and on a log axis
    an annotation's x is read as a power of ten (an SLO at 50 ms stretched an axis to 1e56 ms)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {"type": "linear", "autorange": True}
    pos = [v for v in finite if v > 0]
    if len(pos) >= 2 and len(pos) == len(finite) and max(pos) / min(pos) > 10:
        lo, hi = math.log10(min(pos)), math.log10(max(pos))
        pad = max(0.08 * (hi - lo), 0.05)  # in decades
        return {"type": "log", "range": [lo - pad, hi + pad]}
    lo, hi = min(finite), max(finite)
    pad = 0.08 * (hi - lo) if hi > lo else max(0.1 * abs(hi), 1e-9)
    low = lo - pad if lo <= 0 or lo - pad >= 0 else 0.0  # positive figures keep a non-negative axis
    return {"type": "linear", "range": [low, hi + pad]}


def _axes(pts: Sequence[Point], metric: str) -> dict[str, Any]:
    """The layout update of both axes for one batch size's points (plotly's ``relayout`` keys)."""
    out: dict[str, Any] = {}
    for name, values in (
        ("xaxis", [t.latency.value(metric) for t, _ in pts]),
        ("yaxis", [t.usd_per_1m for t, _ in pts]),
    ):
        out |= {f"{name}.{k}": v for k, v in _axis(values).items()}
    return out


def _data_span(axis: dict[str, Any], name: str) -> tuple[float, float] | None:
    """The data values at the two ends of an axis ``_axes`` laid out (None: it autoranges)."""
    rng = axis.get(f"{name}.range")
    if rng is None:
        return None
    return (10 ** rng[0], 10 ** rng[1]) if axis[f"{name}.type"] == "log" else (rng[0], rng[1])


def _slo_line(slo: Slo, axes: dict[str, Any], label: str, suffix: str) -> go.Scatter | None:
    """The SLO's latency bound as a vertical line across one batch size's cost axis: a trace in data units,
    so it reads the same on linear and log axes and never widens them (outside the range it is not drawn)."""
    ys = _data_span(axes, "yaxis")
    if ys is None or not (math.isfinite(slo.max_ms) and slo.max_ms > 0):
        return None
    return go.Scatter(
        x=[slo.max_ms, slo.max_ms],
        y=list(ys),
        mode="lines+text",
        text=["", esc(label)],
        textposition="bottom right",
        textfont={"color": "#b3261e", "size": 11},
        name="target" + suffix,
        meta="slo",
        showlegend=False,
        hoverinfo="skip",
        line={"color": "#b3261e", "dash": "dot", "width": 1},
    )


def pareto_figure(result: OptimizeResult) -> go.Figure | None:
    """The interactive frontier chart, one group of traces per batch size; None when nothing was measured."""
    targets: Targets = result.targets
    metric = targets.slo_metric
    points = [(t, shown_status(t, result)) for t in result.current if t.measured]
    if not points:
        return None
    batches = sorted({t.batch_size for t, _ in points})
    by_batch = {b: [(t, s) for t, s in points if t.batch_size == b] for b in batches}
    colours = _colour_scale(points)  # one scale for every batch size
    fig = go.Figure()
    groups: dict[int, list[int]] = {}
    slo = targets.slo
    slo_batch = slo.batch_size if slo and slo.batch_size else batches[0]
    axes = {b: _axes(by_batch[b], metric) for b in batches}
    for b in batches:
        suffix = f" (batch {b})" if len(batches) > 1 else ""
        start = len(fig.data)
        fig.add_traces(_group(result, by_batch[b], suffix, metric, colours))
        if slo is not None:
            at = f" (at batch {slo_batch})" if len(batches) > 1 else ""
            line = _slo_line(slo, axes[b], f"{slo.metric} target {slo.max_ms:g} ms{at}", suffix)
            fig.add_traces([line] if line is not None else [])
        groups[b] = list(range(start, len(fig.data)))
    # Open on the chosen trial's batch size, else the SLO's, else the one with the most points.
    busiest = max(batches, key=lambda b: len(by_batch[b]))
    shown = next((t.batch_size for t, s in points if s == "recommended"), slo_batch if slo else busiest)
    shown = shown if shown in groups else busiest
    for b, idx in groups.items():
        for i in idx:
            fig.data[i].visible = b == shown

    def title(b: int) -> str:
        return f"Latency vs cost at batch {b}" if len(batches) > 1 else "Latency vs cost"

    first = axes[shown]

    def axis(name: str) -> dict[str, Any]:
        return {k.split(".", 1)[1]: v for k, v in first.items() if k.startswith(name + ".")}

    fig.update_layout(
        template="plotly_white",
        height=520,
        margin={"l": 70, "r": 30, "t": 60, "b": 60},
        xaxis={"title": {"text": f"{metric} latency (ms)"}, **axis("xaxis")},
        yaxis={"title": {"text": "USD per 1M inferences"}, **axis("yaxis")},
        legend={"orientation": "h", "y": -0.15},
        hoverlabel={"align": "left"},
        title={"text": title(shown), "x": 0.01, "y": 0.96},
    )
    if len(groups) > 1:
        buttons = [
            {
                "label": f"batch {b}",
                "method": "update",
                "args": [
                    {"visible": [i in idx for i in range(len(fig.data))]},
                    {**axes[b], "title.text": title(b)},
                ],
            }
            for b, idx in groups.items()
        ]
        menu = {"buttons": buttons, "direction": "down", "x": 1.0, "xanchor": "right", "y": 1.02}
        menu |= {"yanchor": "bottom", "active": batches.index(shown), "showactive": True, "bgcolor": "white"}
        fig.update_layout(margin={"t": 90}, updatemenus=[menu])
    return fig


def chart_section(result: OptimizeResult) -> str:
    fig = pareto_figure(result)
    failed = sum(1 for t in result.current if not t.measured)
    note = f"{failed} failed trial{'s' if failed != 1 else ''} not plotted. " if failed else ""
    if fig is None:
        return (
            "<section><h2>Latency vs cost</h2><p class='muted'>Nothing was measured with both a latency "
            f"and a price, so there is no chart. {esc(note)}</p></section>"
        )
    div = fig.to_html(
        full_html=False, include_plotlyjs=True, config={"displaylogo": False, "responsive": True}, div_id="pareto"
    )
    return f"""
<section>
  <h2>Latency vs cost</h2>
  <p class="muted">Each point is one measured configuration: lower and further left is better. Colour is quality,
  the shape is the engine; the line joins the Pareto frontier; grey points were rejected (hover for why); the
  diamond is the baseline, your current deployment. {esc(note)}</p>
  <div class="chart">{div}</div>
</section>"""
