"""The training report as one self-contained HTML page, in the optimize report's style (same template and
CSS): the result against its baselines, learning curves, confusion matrix or forecast plot, tuning and
cross-validation. plotly.js is inlined once; every string from the run is escaped."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from importlib.resources import files
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from lepton.fileio import write_atomic

__all__ = ["render_train_html", "write_train_html"]

CLASS_STATS = (("accuracy", ".4f"), ("precision", ".4f"), ("recall", ".4f"), ("f1", ".4f"))
FORECAST_STATS = (("mae", ".4g"), ("rmse", ".4g"), ("mape", ".2f"))
EXTRA_CSS = """<style>
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
.cm td { text-align: right; }
.small-table th, .small-table td { padding: 5px 12px; border-bottom: 1px solid var(--line); text-align: right; }
.small-table th:first-child, .small-table td:first-child { text-align: left; }
.small-table thead th { color: var(--muted); font-weight: 500; font-size: 12px; }
.stats.four { grid-template-columns: repeat(5, 1fr); }
@media (max-width: 1000px) { .grid2 { grid-template-columns: 1fr; } }
</style>"""


def write_train_html(result: dict[str, Any], path: Path) -> Path:
    return write_atomic(path, render_train_html(result))


def render_train_html(result: dict[str, Any]) -> str:
    charts = _Charts()
    body = "\n".join(
        [
            EXTRA_CSS,
            _header(result),
            _cards(result),
            _result(result),
            _curves(result, charts),
            _detail(result, charts),
            _tuning(result, charts),
            _footer(result),
        ]
    )
    page = (files("lepton.report") / "templates" / "report.html").read_text(encoding="utf-8")
    name = str(result.get("name") or "model")
    return page.replace("<!--TITLE-->", escape(f"Lepton training report: {name}"), 1).replace("<!--BODY-->", body, 1)


class _Charts:
    """Renders figures; the first one carries plotly.js inline, the rest reuse it."""

    def __init__(self) -> None:
        self.count = 0

    def div(self, fig: go.Figure, div_id: str) -> str:
        html = fig.to_html(
            full_html=False,
            include_plotlyjs=self.count == 0,
            config={"displaylogo": False, "responsive": True},
            div_id=div_id,
        )
        self.count += 1
        return f"<div class='chart'>{html}</div>"


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v) if math.isfinite(v) else None


def _f(v: Any, spec: str = ".4g", unit: str = "") -> str:
    n = _num(v)
    return "&ndash;" if n is None else escape(f"{n:{spec}}{unit}")


def _kv(rows: Iterable[tuple[str, str]]) -> str:
    items = "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in rows if v)
    return f"<dl>{items}</dl>" if items else "<p class='muted'>not recorded</p>"


def _d(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _header(r: dict[str, Any]) -> str:
    when = datetime.now(tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    sub = " · ".join(
        escape(str(x))
        for x in (
            f"{r.get('recipe')} → {r.get('task')}",
            when,
            f"run {r['run_id']}" if r.get("run_id") else None,
            f"artifact {r['artifact_id']}" if r.get("artifact_id") else None,
        )
        if x
    )
    return f"""
<header>
  <div class="brand">Lepton · training report</div>
  <h1>{escape(str(r.get("name") or "model"))} <span class="badge">{escape(str(r.get("recipe") or ""))}</span></h1>
  <p class="sub">{sub}</p>
</header>"""


def _cards(r: dict[str, Any]) -> str:
    d, s, tm, tr = _d(r.get("data")), _d(r.get("split")), _d(r.get("timing")), _d(r.get("training"))
    missing = _d(d.get("missing"))
    data_rows = [
        ("Source", escape(str(d.get("source") or ""))),
        ("Rows", escape(f"{d.get('rows_read', '?')} read, {d.get('rows_used', '?')} used")),
        ("Duplicates", escape(f"{d['duplicates_dropped']} dropped") if d.get("duplicates_dropped") else "none dropped"),
        ("Missing", escape(f"{sum(missing.values())} values: {d.get('missing_policy')}") if missing else "none"),
        (
            "Split",
            escape(
                f"train {s.get('train')}, validation {s.get('val')}, test {s.get('test')} "
                f"({'by time' if r.get('task') == 'forecast' else 'stratified'}, "
                f"seed {_d(r.get('options')).get('seed', 0)})"
            ),
        ),
    ]
    for key, label in (("max_length", "Max length"), ("season", "Season"), ("lags", "Lags"), ("horizon", "Horizon")):
        if d.get(key) is not None:
            data_rows.append((label, escape(str(d[key]))))
    sig = _d(r.get("signature"))
    ins = ", ".join(f"{t.get('name')} {t.get('dtype')} {t.get('shape')}" for t in sig.get("inputs", []))
    outs = ", ".join(f"{t.get('name')} {t.get('dtype')} {t.get('shape')}" for t in sig.get("outputs", []))
    params = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in _d(r.get("params")).items())
    model_rows = [
        ("Network", escape(str(r.get("architecture") or ""))),
        ("Inputs", escape(ins)),
        ("Outputs", escape(outs)),
        ("Hyper-parameters", escape(params)),
        ("Classes", escape(", ".join(map(str, r.get("classes") or [])))),
    ]
    train_rows = [
        ("Epochs", escape(f"{tm.get('epochs_run')} run, best {tr.get('best_epoch')} ({tr.get('stopped')})")),
        (
            "Time",
            escape(f"{_num(tm.get('train_seconds')) or 0:.1f} s, {_num(tm.get('epoch_seconds')) or 0:.2f} s per epoch"),
        ),
        (
            "Inference",
            escape(
                f"{_num(tm.get('ms_per_row_batch1')) or 0:.3f} ms/row at batch 1, "
                f"{_num(tm.get('ms_per_row_batched')) or 0:.4f} ms/row at batch {tm.get('batch')}"
            ),
        ),
        (
            "Parity",
            escape(
                f"max abs error {_num(_d(r.get('parity')).get('max_abs_error')) or 0:.2g} vs PyTorch on "
                f"{_d(r.get('parity')).get('rows')} rows"
            ),
        ),
    ]
    return f"""
<section class="cards">
  <div class="card"><h3>Data</h3>{_kv(data_rows)}</div>
  <div class="card"><h3>Model</h3>{_kv(model_rows)}</div>
  <div class="card"><h3>Training</h3>{_kv(train_rows)}</div>
</section>"""


def _stat(label: str, value: str, sub: str = "") -> str:
    return f"<div class='stat'><span>{escape(label)}</span><b>{value}</b>{f'<small>{sub}</small>' if sub else ''}</div>"


def _result(r: dict[str, Any]) -> str:
    m = _d(r.get("metrics"))
    forecast = r.get("task") == "forecast"
    stats_spec = FORECAST_STATS if forecast else CLASS_STATS
    primary = str(r.get("primary_metric") or "")
    versus = [v for v in r.get("versus_baselines") or [] if isinstance(v, dict)]
    phrases = []
    for v in versus:
        if forecast:
            ratio = _num(v.get("ratio_mae"))
            if ratio is not None:
                phrases.append(f"MAE {ratio:.3f}x of {v.get('baseline')}")
        else:
            diff = _num(v.get("difference"))
            if diff is not None:
                phrases.append(f"{diff:+.4f} {primary} vs {v.get('baseline')}")
    stats = "".join(
        _stat(k.upper() if forecast else k, _f(m.get(k), spec, "%" if k == "mape" else "")) for k, spec in stats_spec
    )
    stats += _stat("per row (batch 1)", _f(_d(r.get("timing")).get("ms_per_row_batch1"), ".3f", " ms"))
    rows = []
    cols = [k for k, _ in stats_spec]
    rows.append(
        f"<tr><th>{escape(str(r.get('architecture') or 'trained model'))} (exported ONNX)</th>"
        + "".join(f"<td><b>{_f(m.get(k), spec)}</b></td>" for k, spec in stats_spec)
        + "</tr>"
    )
    for b in r.get("baselines") or []:
        bm = _d(_d(b).get("metrics"))
        rows.append(
            f"<tr><th>{escape(str(b.get('name')))} "
            f"<small class='muted'>{escape(str(b.get('description') or ''))}</small></th>"
            + "".join(f"<td>{_f(bm.get(k), spec)}</td>" for k, spec in stats_spec)
            + "</tr>"
        )
    head = "".join(f"<th>{escape(c.upper() if forecast else c)}</th>" for c in cols)
    behind = [str(v.get("baseline")) for v in versus if not v.get("better")]
    cls = "rec" if versus and not behind else "miss"
    verdict = (
        "Test split"
        if not versus
        else "Beats every baseline on the test split"
        if not behind
        else f"Behind {', '.join(behind)} on the test split"
    )
    colour = "green" if cls == "rec" else "amber"
    headline = f"<p class='headline' style='color: var(--{colour})'>{escape(', '.join(phrases))}</p>" if phrases else ""
    return f"""
<section class="{cls}">
  <div class="rec-title"><span class="tag">Test split</span><h2>{escape(verdict)}</h2>
    <span class="muted">{escape(str(_d(r.get("split")).get("test")))} held-out {"windows" if forecast else "rows"},
    scored with the exported model</span></div>
  {headline}
  <div class="stats four">{stats}</div>
  <table class="gains"><thead><tr><th>model</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>
</section>"""


def _curves(r: dict[str, Any], charts: _Charts) -> str:
    tr = _d(r.get("training"))
    hist = [h for h in tr.get("history") or [] if isinstance(h, dict)]
    if not hist:
        return "<section><h2>Learning curves</h2><p class='muted'>No epoch finished.</p></section>"
    ep = [h.get("epoch") for h in hist]
    metric = "MAE" if r.get("task") == "forecast" else str(r.get("primary_metric") or "metric")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=ep, y=[h.get("train_loss") for h in hist], name="train loss", mode="lines+markers"))
    fig.add_trace(go.Scatter(x=ep, y=[h.get("val_loss") for h in hist], name="validation loss", mode="lines+markers"))
    fig.add_trace(
        go.Scatter(
            x=ep,
            y=[h.get("val_metric") for h in hist],
            name=f"validation {metric}",
            mode="lines+markers",
            yaxis="y2",
            line={"dash": "dot"},
        )
    )
    best = tr.get("best_epoch")
    if best:
        fig.add_vline(x=best, line={"color": "#1d9e6b", "dash": "dash"}, annotation_text=f"best epoch {best}")
    fig.update_layout(
        height=380,
        margin={"t": 30, "l": 60, "r": 60, "b": 40},
        xaxis_title="epoch",
        yaxis_title="loss",
        yaxis2={"title": metric, "overlaying": "y", "side": "right"},
        legend={"orientation": "h", "y": 1.12},
        template="plotly_white",
    )
    return f"""
<section>
  <h2>Learning curves</h2>
  <p class="muted">Loss on the training batches and the validation split per epoch; the exported weights are those
  of the best validation epoch ({escape(str(tr.get("stopped")))}).</p>
  {charts.div(fig, "curves")}
</section>"""


def _confusion(r: dict[str, Any], charts: _Charts) -> str:
    m = _d(r.get("metrics"))
    cm = m.get("confusion")
    classes = [str(c) for c in r.get("classes") or []]
    if not isinstance(cm, list) or not classes:
        return ""
    fig = go.Figure(
        go.Heatmap(
            z=cm,
            x=classes,
            y=classes,
            colorscale="Blues",
            text=cm,
            texttemplate="%{text}",
            hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
        )
    )
    side = min(620, 160 + 36 * len(classes))
    fig.update_layout(
        height=side,
        margin={"t": 20, "l": 70, "r": 20, "b": 60},
        xaxis_title="predicted",
        yaxis_title="true",
        yaxis={"autorange": "reversed"},
        template="plotly_white",
    )
    per = _d(m.get("per_class"))
    rows = "".join(
        f"<tr><td>{escape(str(c))}</td><td>{_f(v.get('precision'), '.3f')}</td><td>{_f(v.get('recall'), '.3f')}</td>"
        f"<td>{_f(v.get('f1'), '.3f')}</td><td>{_f(v.get('support'), '.0f')}</td></tr>"
        for c, v in per.items()
        if isinstance(v, dict)
    )
    table = (
        "<table class='small-table'><thead><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>"
        f"<th>support</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    return f"""
<section class="grid2">
  <div><h2>Confusion matrix</h2><p class="muted">Rows are the true class, columns the predicted one.</p>
  {charts.div(fig, "confusion")}</div>
  <div><h2>Per class</h2><div class="card">{table}</div></div>
</section>"""


def _forecast(r: dict[str, Any], charts: _Charts) -> str:
    fp = _d(r.get("forecast_plot"))
    if not fp:
        return ""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=fp.get("times"), y=fp.get("actual"), name="actual", mode="lines", line={"color": "#222"})
    )
    fig.add_trace(
        go.Scatter(x=fp.get("forecast_times"), y=fp.get("forecast"), name="model, 1 step ahead", mode="lines+markers")
    )
    fig.add_trace(
        go.Scatter(x=fp.get("forecast_times"), y=fp.get("naive"), name="last value", mode="lines", line={"dash": "dot"})
    )
    fig.update_layout(
        height=380,
        margin={"t": 20, "l": 60, "r": 20, "b": 40},
        template="plotly_white",
        legend={"orientation": "h", "y": 1.1},
    )
    steps = _d(r.get("metrics")).get("mae_per_step") or []
    step_txt = ", ".join(f"step {i + 1}: {v:.4g}" for i, v in enumerate(steps) if _num(v) is not None)
    return f"""
<section>
  <h2>Test span of {escape(str(fp.get("series")))}</h2>
  <p class="muted">Actual values and one-step-ahead forecasts over the held-out span.
  MAE per step: {escape(step_txt)}.</p>
  {charts.div(fig, "forecast")}
</section>"""


def _detail(r: dict[str, Any], charts: _Charts) -> str:
    return _forecast(r, charts) if r.get("task") == "forecast" else _confusion(r, charts)


def _tuning(r: dict[str, Any], charts: _Charts) -> str:
    parts = []
    tu = _d(r.get("tuning"))
    if tu:
        hist = [h for h in tu.get("history") or [] if isinstance(h, dict)]
        colors = {"complete": "#3b6fd8", "pruned": "#999999", "running": "#b3261e"}
        fig = go.Figure(
            go.Scatter(
                x=[h.get("number") for h in hist],
                y=[h.get("value") for h in hist],
                mode="markers",
                marker={"size": 11, "color": [colors.get(str(h.get("state")), "#3b6fd8") for h in hist]},
                text=[escape(json.dumps(h.get("params"), default=str)) for h in hist],
                hovertemplate="trial %{x}: %{y}<br>%{text}<extra></extra>",
            )
        )
        fig.update_layout(
            height=320,
            margin={"t": 20, "l": 60, "r": 20, "b": 40},
            xaxis_title="trial (0 = defaults)",
            yaxis_title="best validation metric",
            template="plotly_white",
        )
        gain = _num(tu.get("val_gain"))
        test = ""
        if _num(tu.get("test_default")) is not None and _num(tu.get("test_best")) is not None:
            test = f"; test {_f(tu.get('test_default'))} → {_f(tu.get('test_best'))}"
        parts.append(f"""
<section>
  <h2>Tuning <span class="muted small">{escape(str(tu.get("trials")))} trials, {escape(str(tu.get("pruned")))} pruned,
  {_f(tu.get("seconds"), ".0f", " s")}</span></h2>
  <p class="headline">Validation {_f(tu.get("val_default"))} with the defaults → {_f(tu.get("val_best"))} with trial
  {escape(str(tu.get("best_trial")))} ({"+" if (gain or 0) >= 0 else ""}{_f(gain)}); validation loss
  {_f(tu.get("val_loss_default"))} → {_f(tu.get("val_loss_best"))}{test}</p>
  {charts.div(fig, "tuning")}
</section>""")
    cv = _d(r.get("cv"))
    if cv:
        scores = ", ".join(f"{s:.4f}" for s in cv.get("scores") or [] if _num(s) is not None)
        parts.append(f"""
<section class="card">
  <h3>Cross-validation</h3>
  <p>{escape(str(cv.get("metric")))} {_f(cv.get("mean"), ".4f")} ± {_f(cv.get("std"), ".4f")} over
  {escape(str(cv.get("completed")))} of {escape(str(cv.get("folds")))} folds
  ({escape(str(cv.get("epochs")))} epochs each):
  {escape(scores)}</p>
</section>""")
    return "\n".join(parts)


def _pre(v: Any) -> str:
    return f"<code>{escape(json.dumps(v, default=str)[:600])}</code>"


def _footer(r: dict[str, Any]) -> str:
    pre = _d(r.get("preprocessing"))
    rows: Sequence[tuple[str, str]] = [(str(k), _pre(v)) for k, v in pre.items()]
    notes = "".join(f"<li>{escape(str(n))}</li>" for n in r.get("notes") or [])
    return f"""
<section class="cards two">
  <div class="card"><h3>Inside the graph</h3>{_kv(rows)}</div>
  <div class="card"><h3>Notes</h3>{f"<ul class='notes'>{notes}</ul>" if notes else "<p class='muted'>none</p>"}</div>
</section>
<footer>Generated by Lepton · stored as {escape(str(r.get("name")))} ({escape(str(r.get("artifact_id")))}) with its
test split; next: <code>lepton optimize {escape(str(r.get("name")))}</code>. Timings are from this machine.</footer>"""
