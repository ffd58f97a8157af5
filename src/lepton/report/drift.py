"""``lepton drift`` in words: the terminal table and the HTML page (the same figures in both)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from lepton.measure.drift import DriftReport, FeatureDrift
from lepton.report.html.common import Charts, esc, figure_text, fill_page, kv, stat, write_page

CHART_FEATURES = 8


def _p(f: FeatureDrift) -> str:
    return "-" if f.p_value is None else f"{f.p_value:.3g}"


def verdict_line(r: DriftReport) -> str:
    if not r.judged:
        return f"not judged: {r.window_rows} live rows (a window needs at least 100)"
    if r.alert:
        names = ", ".join(f.name for f in r.drifted)
        return f"DRIFT: {names} (PSI > {r.psi_alert:g} and KS p < {r.alpha:g} / numeric features)"
    return f"no drift: no feature beyond PSI {r.psi_alert:g} with KS p < {r.alpha:g} / numeric features"


def verdict_word(r: DriftReport, timeline: Sequence[DriftReport] = ()) -> str:
    """One word for the page's tile: drift when the whole or any window alarmed (what ``lepton drift`` exits 1 on)."""
    if r.alert:
        return "drift"
    alarmed = next((i for i, t in enumerate(timeline) if t.alert), None)
    if alarmed is not None:
        return f"drift in window {alarmed + 1}"
    return "no drift" if r.judged else "not judged"


def first_alarm(timeline: Sequence[DriftReport], window: int) -> str | None:
    for i, r in enumerate(timeline):
        if r.alert:
            return f"first alarm in window {i + 1} of {len(timeline)} (windows of {window} rows, half a window apart)"
    return None


def drift_table(r: DriftReport) -> Table:
    t = Table(title=f"{r.model}: {r.window_rows} live rows against {r.reference} ({r.reference_rows} rows)")
    for col in ("feature", "kind", "PSI", "KS", "KS p", "drifted"):
        t.add_column(col, justify="left" if col in ("feature", "kind") else "right")
    for f in sorted(r.features, key=lambda f: -f.psi):
        ks = "-" if f.ks is None else f"{f.ks:.3f}"
        t.add_row(f.name, f.kind, f"{f.psi:.3f}", ks, _p(f), "yes" if f.drifted else "")
    return t


def drift_html(r: DriftReport, timeline: Sequence[DriftReport] = (), window: int = 0) -> str:
    rows = "".join(
        f"<tr><td>{esc(f.name)}</td><td>{esc(f.kind)}</td><td class='num'>{figure_text(f.psi, '.3f')}</td>"
        f"<td class='num'>{figure_text(f.ks, '.3f')}</td><td class='num'>{figure_text(f.p_value, '.3g')}</td>"
        f"<td>{'yes' if f.drifted else ''}</td></tr>"
        for f in sorted(r.features, key=lambda f: -f.psi)
    )
    tiles = "".join(
        [
            stat("verdict", esc(verdict_word(r, timeline))),
            stat("live rows", esc(r.window_rows)),
            stat("reference rows", esc(r.reference_rows), esc(r.reference)),
            stat("features drifted", esc(len(r.drifted)), esc(f"of {len(r.features)}")),
        ]
    )
    body = [
        f"<h1>Drift of {esc(r.model)}</h1>",
        f"<div class='stats'>{tiles}</div>",
        f"<p>{esc(('whole file: ' if timeline else '') + verdict_line(r))}</p>",
        kv(
            [
                ("reference", esc(r.reference)),
                ("rule", esc(f"PSI > {r.psi_alert:g} and two-sample KS p < {r.alpha:g} / numeric features")),
                ("timeline", esc(first_alarm(timeline, window) or "no window alarmed") if timeline else ""),
            ]
        ),
        "<div class='scroll'><table class='trials'><thead><tr><th>feature</th><th>kind</th><th>PSI</th><th>KS</th>"
        "<th>KS p</th><th>drifted</th></tr>"
        f"</thead><tbody>{rows}</tbody></table></div>",
    ]
    if timeline:
        body.insert(4, _timeline_chart(timeline, r.psi_alert))
    return fill_page(f"Drift of {r.model}", "\n".join(body))


def _timeline_chart(timeline: Sequence[DriftReport], alert: float) -> str:
    import plotly.graph_objects as go

    fig = go.Figure()
    top: dict[str, float] = {}
    for r in timeline:
        for f in r.features:
            top[f.name] = max(top.get(f.name, 0.0), f.psi)
    names = sorted(top, key=lambda n: -top[n])[:CHART_FEATURES]  # the features that moved most
    for name in names:
        ys = [next((f.psi for f in r.features if f.name == name), None) for r in timeline]
        fig.add_trace(go.Scatter(x=list(range(1, len(timeline) + 1)), y=ys, mode="lines+markers", name=name))
    fig.add_hline(y=alert, line_dash="dash", annotation_text="alert")
    fig.update_layout(xaxis={"title": "window", "dtick": 1}, yaxis_title="PSI", height=360, margin={"t": 20})
    return Charts().div(fig, "drift-timeline")


def write_drift_html(path: Path | str, r: DriftReport, timeline: Sequence[DriftReport] = (), window: int = 0) -> Path:
    return write_page(path, drift_html(r, timeline, window))
