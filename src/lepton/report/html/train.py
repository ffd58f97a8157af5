"""The training report as one self-contained HTML page, in the optimize report's style (same template, CSS and
helpers): the result against its baselines, learning curves, confusion matrix or forecast plot, tuning and
cross-validation. It reads the typed ``TrainResult``; plotly.js is inlined once; every string from the run is
escaped."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import JsonValue

from lepton.ir.signature import TensorSpec
from lepton.report.html.common import Charts, esc, figure_text, fill_page, kv, stat, write_page
from lepton.report.html.train_charts import curves_section, detail_section, tuning_section
from lepton.training.record import num
from lepton.training.run import TrainResult

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


def write_train_html(result: TrainResult, path: Path | str) -> Path:
    """Write the report of one training ``result`` to ``path`` (parents created, never half a file)."""
    return write_page(path, render_train_html(result))


def render_train_html(result: TrainResult) -> str:
    charts = Charts()
    body = "\n".join(
        [
            EXTRA_CSS,
            _header(result),
            _cards(result),
            _result(result),
            curves_section(result, charts),
            detail_section(result, charts),
            tuning_section(result, charts),
            _footer(result),
        ]
    )
    return fill_page(f"Lepton training report: {result.name or 'model'}", body)


def _header(r: TrainResult) -> str:
    when = datetime.now(tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    sub = " · ".join(
        esc(x)
        for x in (f"{r.recipe} → {r.task}", when, f"run {r.run_id}" if r.run_id else None, f"artifact {r.artifact_id}")
        if x
    )
    return f"""
<header>
  <div class="brand">Lepton · training report</div>
  <h1>{esc(r.name or "model")} <span class="badge">{esc(r.recipe)}</span></h1>
  <p class="sub">{sub}</p>
</header>"""


def _tensors(specs: Sequence[TensorSpec]) -> str:
    return ", ".join(f"{t.name} {t.dtype} {list(t.shape)}" for t in specs)


def _cards(r: TrainResult) -> str:
    d, s, tm, tr = r.data, r.split, r.timing, r.training
    missing = d.get("missing")
    n_missing = sum(v for v in missing.values() if isinstance(v, int)) if isinstance(missing, dict) else 0
    dropped = d.get("duplicates_dropped")
    data_rows = [
        ("Source", esc(d.get("source") or "")),
        ("Rows", esc(f"{d.get('rows_read', '?')} read, {d.get('rows_used', '?')} used")),
        ("Duplicates", esc(f"{dropped} dropped") if dropped else "none dropped"),
        ("Missing", esc(f"{n_missing} values: {d.get('missing_policy')}") if missing else "none"),
        (
            "Split",
            esc(
                f"train {s.get('train')}, validation {s.get('val')}, test {s.get('test')} "
                f"({'by time' if r.task == 'forecast' else 'stratified'}, seed {r.seed})"
            ),
        ),
    ]
    for key, label in (("max_length", "Max length"), ("season", "Season"), ("lags", "Lags"), ("horizon", "Horizon")):
        if d.get(key) is not None:
            data_rows.append((label, esc(d[key])))
    params = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.params.items())
    model_rows = [
        ("Network", esc(r.architecture)),
        ("Inputs", esc(_tensors(r.signature.inputs))),
        ("Outputs", esc(_tensors(r.signature.outputs))),
        ("Hyper-parameters", esc(params)),
        ("Classes", esc(", ".join(r.classes))),
    ]
    train_rows = [
        ("Epochs", esc(f"{tm.epochs_run} run, best {tr.best_epoch} ({tr.stopped})")),
        ("Time", esc(f"{tm.train_seconds:.1f} s, {tm.epoch_seconds:.2f} s per epoch")),
        (
            "Inference",
            esc(
                f"{tm.ms_per_row_batch1:.3f} ms/row at batch 1, {tm.ms_per_row_batched:.4f} ms/row at batch {tm.batch}"
            ),
        ),
        ("Parity", esc(f"max abs error {r.parity.max_abs_error:.2g} vs PyTorch on {r.parity.rows} rows")),
    ]
    return f"""
<section class="cards">
  <div class="card"><h3>Data</h3>{kv(data_rows)}</div>
  <div class="card"><h3>Model</h3>{kv(model_rows)}</div>
  <div class="card"><h3>Training</h3>{kv(train_rows)}</div>
</section>"""


def _result(r: TrainResult) -> str:
    m = r.metrics
    forecast = r.task == "forecast"
    stats_spec = FORECAST_STATS if forecast else CLASS_STATS
    phrases = []
    for v in r.versus_baselines:
        if forecast and v.ratio_mae is not None:
            phrases.append(f"MAE {v.ratio_mae:.3f}x of {v.baseline}")
        elif not forecast and v.difference is not None:
            phrases.append(f"{v.difference:+.4f} {r.primary} vs {v.baseline}")
    stats = "".join(
        stat(k.upper() if forecast else k, figure_text(num(m, k), spec, "%" if k == "mape" else ""))
        for k, spec in stats_spec
    )
    stats += stat("per row (batch 1)", figure_text(r.timing.ms_per_row_batch1, ".3f", " ms"))
    rows = [
        f"<tr><th>{esc(r.architecture or 'trained model')} (exported ONNX)</th>"
        + "".join(f"<td><b>{figure_text(num(m, k), spec)}</b></td>" for k, spec in stats_spec)
        + "</tr>"
    ]
    for b in r.baselines:
        rows.append(
            f"<tr><th>{esc(b.name)} <small class='muted'>{esc(b.description)}</small></th>"
            + "".join(f"<td>{figure_text(num(b.metrics, k), spec)}</td>" for k, spec in stats_spec)
            + "</tr>"
        )
    head = "".join(f"<th>{esc(c.upper() if forecast else c)}</th>" for c, _ in stats_spec)
    behind = [v.baseline for v in r.versus_baselines if not v.better]
    cls = "rec" if r.versus_baselines and not behind else "miss"
    verdict = (
        "Test split"
        if not r.versus_baselines
        else "Beats every baseline on the test split"
        if not behind
        else f"Behind {', '.join(behind)} on the test split"
    )
    colour = "green" if cls == "rec" else "amber"
    headline = f"<p class='headline' style='color: var(--{colour})'>{esc(', '.join(phrases))}</p>" if phrases else ""
    return f"""
<section class="{cls}">
  <div class="rec-title"><span class="tag">Test split</span><h2>{esc(verdict)}</h2>
    <span class="muted">{esc(r.split.get("test"))} held-out {"windows" if forecast else "rows"},
    scored with the exported model</span></div>
  {headline}
  <div class="stats four">{stats}</div>
  <table class="gains"><thead><tr><th>model</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>
</section>"""


def _pre(v: JsonValue) -> str:
    return f"<code>{esc(json.dumps(v, default=str)[:600])}</code>"


def _footer(r: TrainResult) -> str:
    rows = [(str(k), _pre(v)) for k, v in r.preprocessing.items()]
    notes = "".join(f"<li>{esc(n)}</li>" for n in r.notes)
    return f"""
<section class="cards two">
  <div class="card"><h3>Inside the graph</h3>{kv(rows)}</div>
  <div class="card"><h3>Notes</h3>{f"<ul class='notes'>{notes}</ul>" if notes else "<p class='muted'>none</p>"}</div>
</section>
<footer>Generated by Lepton · stored as {esc(r.name)} ({esc(r.artifact_id)}) with its
test split; next: <code>lepton optimize {esc(r.name)}</code>. Timings are from this machine.</footer>"""
