"""The charts of the training report: learning curves, the confusion matrix (with per-class figures) or the
forecast of the test span, and the tuning trials with cross-validation."""

from __future__ import annotations

import json

import plotly.graph_objects as go

from lepton.report.html.common import Charts, esc, figure_text
from lepton.training.record import num
from lepton.training.run import TrainResult


def curves_section(r: TrainResult, charts: Charts) -> str:
    tr = r.training
    if not tr.history:
        return "<section><h2>Learning curves</h2><p class='muted'>No epoch finished.</p></section>"
    ep = [h.epoch for h in tr.history]
    metric = "MAE" if r.task == "forecast" else r.primary or "metric"
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=ep, y=[h.train_loss for h in tr.history], name="train loss", mode="lines+markers"))
    fig.add_trace(go.Scatter(x=ep, y=[h.val_loss for h in tr.history], name="validation loss", mode="lines+markers"))
    fig.add_trace(
        go.Scatter(
            x=ep,
            y=[h.val_metric for h in tr.history],
            name=f"validation {metric}",
            mode="lines+markers",
            yaxis="y2",
            line={"dash": "dot"},
        )
    )
    if tr.best_epoch:
        fig.add_vline(
            x=tr.best_epoch, line={"color": "#1d9e6b", "dash": "dash"}, annotation_text=f"best epoch {tr.best_epoch}"
        )
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
  of the best validation epoch ({esc(tr.stopped)}).</p>
  {charts.div(fig, "curves")}
</section>"""


def detail_section(r: TrainResult, charts: Charts) -> str:
    return _forecast(r, charts) if r.task == "forecast" else _confusion(r, charts)


def _confusion(r: TrainResult, charts: Charts) -> str:
    cm = r.metrics.get("confusion")
    classes = list(r.classes)
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
    per = r.metrics.get("per_class")
    rows = "".join(
        f"<tr><td>{esc(c)}</td><td>{figure_text(num(v, 'precision'), '.3f')}</td>"
        f"<td>{figure_text(num(v, 'recall'), '.3f')}</td><td>{figure_text(num(v, 'f1'), '.3f')}</td>"
        f"<td>{figure_text(num(v, 'support'), '.0f')}</td></tr>"
        for c, v in (per.items() if isinstance(per, dict) else ())
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


def _forecast(r: TrainResult, charts: Charts) -> str:
    fp = r.forecast_plot
    if fp is None:
        return ""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=fp.times, y=fp.actual, name="actual", mode="lines", line={"color": "#222"}))
    fig.add_trace(go.Scatter(x=fp.forecast_times, y=fp.forecast, name="model, 1 step ahead", mode="lines+markers"))
    fig.add_trace(go.Scatter(x=fp.forecast_times, y=fp.naive, name="last value", mode="lines", line={"dash": "dot"}))
    fig.update_layout(
        height=380,
        margin={"t": 20, "l": 60, "r": 20, "b": 40},
        template="plotly_white",
        legend={"orientation": "h", "y": 1.1},
    )
    steps = r.metrics.get("mae_per_step")
    step_txt = ", ".join(
        f"step {i + 1}: {v:.4g}" for i, v in enumerate(steps if isinstance(steps, list) else []) if isinstance(v, float)
    )
    return f"""
<section>
  <h2>Test span of {esc(fp.series)}</h2>
  <p class="muted">Actual values and one-step-ahead forecasts over the held-out span.
  MAE per step: {esc(step_txt)}.</p>
  {charts.div(fig, "forecast")}
</section>"""


def tuning_section(r: TrainResult, charts: Charts) -> str:
    parts = []
    tu = r.tuning
    if tu is not None:
        colors = {"complete": "#3b6fd8", "pruned": "#999999", "running": "#b3261e"}
        fig = go.Figure(
            go.Scatter(
                x=[h.number for h in tu.history],
                y=[h.value for h in tu.history],
                mode="markers",
                marker={"size": 11, "color": [colors.get(h.state, "#3b6fd8") for h in tu.history]},
                text=[esc(json.dumps(h.params, default=str)) for h in tu.history],
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
        test = ""
        if tu.test_default is not None and tu.test_best is not None:
            test = f"; test {figure_text(tu.test_default)} → {figure_text(tu.test_best)}"
        parts.append(f"""
<section>
  <h2>Tuning <span class="muted small">{esc(tu.trials)} trials, {esc(tu.pruned)} pruned,
  {figure_text(tu.seconds, ".0f", " s")}</span></h2>
  <p class="headline">Validation {figure_text(tu.val_default)} with the defaults → {figure_text(tu.val_best)} with
  trial {esc(tu.best_trial)} ({"+" if tu.val_gain >= 0 else ""}{figure_text(tu.val_gain)}); validation loss
  {figure_text(tu.val_loss_default)} → {figure_text(tu.val_loss_best)}{test}</p>
  {charts.div(fig, "tuning")}
</section>""")
    cv = r.cv
    if cv is not None:
        scores = ", ".join(f"{s:.4f}" for s in cv.scores)
        parts.append(f"""
<section class="card">
  <h3>Cross-validation</h3>
  <p>{esc(cv.metric)} {figure_text(cv.mean, ".4f")} ± {figure_text(cv.std, ".4f")} over
  {esc(cv.completed)} of {esc(cv.folds)} folds ({esc(cv.epochs)} epochs each):
  {esc(scores)}</p>
</section>""")
    return "\n".join(parts)
