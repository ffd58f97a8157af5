"""The optimize report as one self-contained HTML file: recommendation, Pareto chart, sortable trial table.

Every string taken from the run (model names, variants, error messages) is user data and is escaped.
plotly.js is inlined from plotly's own offline bundle, so the page opens with no network.
"""

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

__all__ = ["write_html"]

Record = dict[str, Any]

_STATUS_ORDER = {"recommended": 0, "frontier": 1, "baseline": 2, "ok": 3, "rejected": 4, "failed": 5}


def write_html(result: Any, path: Path) -> Path:
    """Write the report for one optimize ``result`` (the run's JSON) to ``path``; returns ``path``.

    Fields may be missing or null: a run with only failed trials, no frontier or no quality still renders.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = result.to_json() if hasattr(result, "to_json") else result
    path.write_text(render_html(data), encoding="utf-8")
    return path


def render_html(result: dict[str, Any]) -> str:
    """The whole page as a string (``write_html`` writes it)."""
    result = result if isinstance(result, dict) else {}
    model = _dict(result.get("model"))
    name = str(model.get("name") or "model")
    body = "\n".join(
        [
            _header(result),
            _recommendation(result),
            _chart_section(result),
            _table_section(result),
            _footer(result),
        ]
    )
    page = (files("lepton.report") / "templates" / "report.html").read_text(encoding="utf-8")
    return page.replace("<!--TITLE-->", escape(f"Lepton report: {name}"), 1).replace("<!--BODY-->", body, 1)


# ---------------------------------------------------------------- small helpers


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _list(v: Any) -> list[Any]:
    if isinstance(v, str):
        return [v]
    return list(v) if isinstance(v, list | tuple) else []


def _float(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _fmt(v: Any, spec: str = ".2f", unit: str = "") -> str:
    """``v`` formatted (already escaped), or a dash when missing."""
    f = _float(v)
    if f is None:
        return "&ndash;"
    return escape(f"{f:{spec}}{unit}")


def _lat(r: Record, key: str = "p95") -> float | None:
    return _float(_dict(r.get("latency_ms")).get(key))


def _cost(r: Record, key: str = "usd_per_1m") -> float | None:
    return _float(_dict(r.get("cost")).get(key))


def _ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den <= 0 or num <= 0:
        return None
    return num / den


def _quality(r: Record) -> tuple[str, float | None]:
    """(label, value) of the record's headline quality figure: accuracy, else cosine, else rmse."""
    q = _dict(r.get("quality"))
    for key, label in (("accuracy", "accuracy"), ("cosine", "cosine"), ("f1", "f1"), ("rmse", "rmse")):
        if _float(q.get(key)) is not None:
            return label, _float(q.get(key))
    return "", None


def _quality_text(r: Record) -> str:
    label, v = _quality(r)
    if v is None:
        return ""
    if label == "cosine":
        return f"fidelity {v:.3f}"
    return f"{label} {v:.3f}" if label != "rmse" else f"rmse {v:.4g}"


def _chain_text(r: Record) -> str:
    parts = []
    for step in _list(r.get("chain")):
        if not isinstance(step, dict):
            parts.append(str(step))
            continue
        params = _dict(step.get("params"))
        args = ", ".join(f"{k}={v}" for k, v in params.items())
        parts.append(f"{step.get('pass', '?')}({args})" if args else str(step.get("pass", "?")))
    return " → ".join(parts) if parts else "no passes"


def _when(created: Any) -> str:
    f = _float(created)
    if f is not None:
        try:
            return datetime.fromtimestamp(f, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
        except (OverflowError, OSError, ValueError):
            pass
    return str(created) if created else ""


def _trials(result: dict[str, Any]) -> list[Record]:
    """The candidates' records; the baseline's, which the run also lists among its trials, are shown apart."""
    base_ids = {b.get("id") for b in _baselines(result)}
    return [
        t
        for t in _list(result.get("trials"))
        if isinstance(t, dict) and t.get("role") != "baseline" and not (t.get("id") in base_ids and t.get("id"))
    ]


def _baselines(result: dict[str, Any]) -> list[Record]:
    base = result.get("baseline")
    if isinstance(base, dict):
        base = [base]
    return [b for b in _list(base) if isinstance(b, dict)]


def _status(r: Record, frontier: set[str], recommended: str | None, is_baseline: bool = False) -> str:
    status = str(r.get("status") or "ok")
    if status == "failed":
        return "failed"
    rid = str(r.get("id", ""))
    if recommended is not None and rid == recommended:
        return "recommended"
    if rid in frontier and status == "ok":
        return "frontier"
    if is_baseline:
        return "baseline"
    return "rejected" if status == "rejected" else "ok"


def _kv(rows: Iterable[tuple[str, str]]) -> str:
    """A definition list from (label, already-escaped value) pairs, skipping empty values."""
    items = "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in rows if v)
    return f"<dl>{items}</dl>" if items else "<p class='muted'>not recorded</p>"


# ---------------------------------------------------------------- header


def _header(result: dict[str, Any]) -> str:
    model, hw = _dict(result.get("model")), _dict(result.get("hardware"))
    price, targets = _dict(result.get("price")), _dict(result.get("targets"))
    name = escape(str(model.get("name") or "unnamed model"))
    sub = " · ".join(
        escape(str(x))
        for x in (
            model.get("task"),
            _when(result.get("created")),
            f"run {result['run_id']}" if result.get("run_id") else None,
            f"workload: {result['workload']}" if result.get("workload") else None,
        )
        if x
    )
    gpus = [str(g.get("name", g)) if isinstance(g, dict) else str(g) for g in _list(hw.get("gpus"))]
    cores = f"{hw['logical_cores']} logical cores" if hw.get("logical_cores") else ""
    mem = f"{_float(hw.get('memory_gb')):.1f} GB RAM" if _float(hw.get("memory_gb")) is not None else ""
    hw_rows = [
        ("CPU", escape(str(hw.get("cpu_model") or ""))),
        ("Size", escape(", ".join(x for x in (cores, mem) if x))),
        ("GPUs", escape(", ".join(gpus) if gpus else ("none" if hw else ""))),
        ("int8", escape(str(hw.get("int8_accel") or ("no accelerated path" if hw else "")))),
        ("bf16", escape(str(hw.get("bf16_native") or ""))),
        ("fp16", escape(str(hw.get("fp16_native") or ""))),
    ]
    usd_h = _float(price.get("usd_per_hour"))
    price_rows = [
        ("Instance", escape(str(price.get("instance") or ""))),
        ("Price", escape(f"${usd_h:.4g} per hour") if usd_h is not None else ""),
        ("Source", escape(str(price.get("source") or ""))),
        ("Match", escape(str(price.get("matched") or ""))),
    ]
    slo = _dict(targets.get("slo"))
    slo_text = slo.get("text") or (
        f"{slo.get('metric', 'p95')}<={slo['max_ms']}ms" if slo.get("max_ms") is not None else ""
    )
    if slo_text and slo.get("batch_size"):
        slo_text = f"{slo_text} at batch {slo['batch_size']}"
    drop = _float(targets.get("max_drop"))
    budget = _float(targets.get("budget"))
    qps = _float(targets.get("qps"))
    target_rows = [
        ("Latency", escape(str(slo_text or "none"))),
        ("Quality", escape(f"drop at most {drop:g}") if drop is not None else ""),
        ("Load", escape(f"{qps:g} QPS") if qps is not None else ""),
        ("Budget", escape(f"${budget:,.0f} per month") if budget is not None else ""),
        ("Objective", escape(str(targets.get("objective") or ""))),
    ]
    model_mb = _float(model.get("model_mb"))
    badge = f"<span class='badge'>{escape(f'{model_mb:.1f} MB')}</span>" if model_mb is not None else ""
    return f"""
<header>
  <div class="brand">Lepton · optimize report</div>
  <h1>{name} {badge}</h1>
  <p class="sub">{sub}</p>
</header>
<section class="cards">
  <div class="card"><h3>Hardware</h3>{_kv(hw_rows)}</div>
  <div class="card"><h3>Assumed price</h3>{_kv(price_rows)}</div>
  <div class="card"><h3>Targets</h3>{_kv(target_rows)}</div>
</section>"""


# ---------------------------------------------------------------- recommendation


def _siblings(rec: Record, trials: Sequence[Record]) -> dict[Any, Record]:
    """The recommended variant measured at each batch size (same engine, chain and threads)."""

    def key(r: Record) -> str:
        return json.dumps(
            [r.get("engine"), r.get("variant"), r.get("chain"), r.get("threads")], sort_keys=True, default=str
        )

    out: dict[Any, Record] = {}
    for t in trials:
        if t.get("status") != "failed" and key(t) == key(rec) and _lat(t) is not None:
            out.setdefault(t.get("batch_size"), t)
    out[rec.get("batch_size")] = rec
    return out


def _gains(rec: Record, trials: Sequence[Record], baselines: Sequence[Record]) -> tuple[list[str], str]:
    """(headline phrases, gains table html) of the recommended variant over the baseline per batch size."""
    sibs = _siblings(rec, trials)
    phrases: list[str] = []
    rows = []
    base_by_batch = {b.get("batch_size"): b for b in baselines if b.get("status") != "failed"}
    batches = sorted((b for b in base_by_batch if b in sibs), key=lambda b: (_float(b) is None, _float(b) or 0))
    for b in batches:
        base, cand = base_by_batch[b], sibs[b]
        tp = _ratio(_float(cand.get("throughput_per_s")), _float(base.get("throughput_per_s")))
        p50 = _ratio(_lat(base, "p50"), _lat(cand, "p50"))
        p95 = _ratio(_lat(base, "p95"), _lat(cand, "p95"))
        usd = _ratio(_cost(base), _cost(cand))
        if tp is not None:
            phrases.append(f"{tp:.1f}x throughput at batch {b}")
        if p50 is not None:
            phrases.append(
                f"{p50:.1f}x lower p50 at batch {b}" if p50 >= 1 else f"{1 / p50:.1f}x higher p50 at batch {b}"
            )

        def cell(x: float | None, was: Any, now: Any, spec: str, unit: str = "") -> str:
            if x is None:
                return "<td>&ndash;</td>"
            cls = "up" if x >= 1.0 else "down"
            return (
                f"<td><b class='{cls}'>{x:.2f}×</b><br><small>{_fmt(was, spec, unit)} → "
                f"{_fmt(now, spec, unit)}</small></td>"
            )

        rows.append(
            f"<tr><th>batch {escape(str(b))}</th>"
            + cell(tp, base.get("throughput_per_s"), cand.get("throughput_per_s"), ".1f", "/s")
            + cell(p50, _lat(base, "p50"), _lat(cand, "p50"), ".2f", " ms")
            + cell(p95, _lat(base, "p95"), _lat(cand, "p95"), ".2f", " ms")
            + cell(usd, _cost(base), _cost(cand), ".3f")
            + "</tr>"
        )
    q = _quality_text(rec)
    if q:
        phrases.append(q)
    if not rows:
        return (
            phrases,
            "<p class='muted'>No baseline measured at a matching batch size, so no gain is shown.</p>",
        )
    table = (
        "<table class='gains'><thead><tr><th>vs baseline</th><th>throughput</th><th>p50 (lower)</th>"
        "<th>p95 (lower)</th><th>$ per 1M (cheaper)</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )
    return phrases, table


def _stat(label: str, value: str, sub: str = "") -> str:
    sub_html = f"<small>{sub}</small>" if sub else ""
    return f"<div class='stat'><span>{escape(label)}</span><b>{value}</b>{sub_html}</div>"


def _recommendation(result: dict[str, Any]) -> str:
    trials, baselines = _trials(result), _baselines(result)
    rec_id = result.get("recommended")
    rec = next((t for t in trials + baselines if rec_id is not None and t.get("id") == rec_id), None)
    miss = (
        _dict(result.get("closest_miss")).get("text")
        if isinstance(result.get("closest_miss"), dict)
        else result.get("closest_miss")
    )
    parts = []
    if rec is not None:
        lat = _dict(rec.get("latency_ms"))
        ci = _list(_dict(lat.get("ci95")).get("p95"))
        ci_txt = f"95% CI {_fmt(ci[0])}–{_fmt(ci[1])} ms" if len(ci) == 2 else ""
        cost = _dict(rec.get("cost"))
        conc = _dict(rec.get("concurrent"))
        qps = _float(cost.get("qps"))
        month_sub = escape(f"at {qps:g} QPS, {cost.get('replicas', '?')} replica(s)") if qps is not None else ""
        label, qv = _quality(rec)
        drop = _float(rec.get("quality_drop"))
        stats = "".join(
            [
                _stat(f"p95 at batch {rec.get('batch_size', '?')}", _fmt(lat.get("p95"), ".2f", " ms"), ci_txt),
                _stat(
                    "throughput",
                    _fmt(rec.get("throughput_per_s"), ",.0f", "/s"),
                    _fmt(conc.get("throughput_per_s"), ",.0f", f"/s with {conc.get('callers', '?')} callers")
                    if conc
                    else "",
                ),
                _stat(
                    "per 1M inferences",
                    "$" + _fmt(cost.get("usd_per_1m"), ".3f")
                    if _float(cost.get("usd_per_1m")) is not None
                    else "&ndash;",
                ),
                _stat(
                    "per month",
                    "$" + _fmt(cost.get("usd_per_month"), ",.0f")
                    if _float(cost.get("usd_per_month")) is not None
                    else "&ndash;",
                    month_sub,
                ),
                _stat(
                    label or "quality",
                    _fmt(qv, ".4f"),
                    escape(f"drop {drop:.4f}") if drop is not None else "",
                ),
                _stat(
                    "model size",
                    _fmt(rec.get("model_mb"), ".1f", " MB"),
                    escape(f"peak RSS {_float(rec.get('peak_rss_mb')):.0f} MB")
                    if _float(rec.get("peak_rss_mb")) is not None
                    else "",
                ),
            ]
        )
        phrases, gains = _gains(rec, trials, baselines)
        headline = f"<p class='headline'>{escape(', '.join(phrases))}</p>" if phrases else ""
        reason = result.get("reason")
        parts.append(f"""
<section class="rec">
  <div class="rec-title"><span class="tag">Recommended</span>
    <h2><code>{escape(str(rec.get("id", "")))}</code> {escape(str(rec.get("variant") or ""))}</h2>
    <span class="muted">{escape(str(rec.get("engine") or ""))} · {escape(_threads(rec))} ·
      batch {escape(str(rec.get("batch_size", "?")))}</span></div>
  {f"<p class='reason'>{escape(str(reason))}</p>" if reason else ""}
  {headline}
  <div class="stats">{stats}</div>
  {gains}
</section>""")
    elif rec_id:
        parts.append(
            f"<section class='miss'><h2>Recommended {escape(str(rec_id))}</h2>"
            f"<p>{escape(str(result.get('reason') or ''))}</p>"
            "<p class='muted'>The recommended trial is not among the recorded trials.</p></section>"
        )
    if rec is None and not rec_id:
        title = "No recommendation: closest miss" if miss else "No recommendation"
        detail = miss or result.get("reason") or "Nothing met the targets."
        parts.append(
            f"<section class='miss{'' if miss else ' none'}'><h2>{title}</h2><p>{escape(str(detail))}</p>"
            f"<p class='muted'>{escape(_counts(trials))}</p></section>"
        )
    elif miss:
        parts.append(f"<section class='miss'><h2>Closest miss</h2><p>{escape(str(miss))}</p></section>")
    return "\n".join(parts)


def _threads(r: Record) -> str:
    t = r.get("threads")
    if t is None:
        t = _dict(r.get("runtime")).get("intra_op_threads")
    return f"{t} thread{'s' if t != 1 else ''}" if t is not None else "threads: default"


def _counts(trials: Sequence[Record]) -> str:
    by: dict[str, int] = {}
    for t in trials:
        s = str(t.get("status") or "ok")
        by[s] = by.get(s, 0) + 1
    if not trials:
        return "No trials were recorded."
    return f"{len(trials)} trials: " + ", ".join(f"{n} {s}" for s, n in sorted(by.items()))


# ---------------------------------------------------------------- Pareto chart


def _hover(r: Record, status: str) -> str:
    lines = [
        f"<b>{escape(str(r.get('id', '')))}</b> · {escape(status)}",
        escape(str(r.get("variant") or "")),
        escape(f"{r.get('engine') or ''}, {_threads(r)}, batch {r.get('batch_size', '?')}"),
        f"p95 {_fmt(_lat(r))} ms · ${_fmt(_cost(r), '.4f')} per 1M",
    ]
    q = _quality_text(r)
    if q:
        lines.append(escape(q))
    for reason in _list(r.get("reasons"))[:4]:
        lines.append("✗ " + escape(str(reason)))
    for note in _list(r.get("notes"))[:2]:
        lines.append("· " + escape(str(note)))
    return "<br>".join(x for x in lines if x)


def _span(values: Sequence[float]) -> bool:
    """True when the positive ``values`` span more than 10x (so a log axis reads better)."""
    pos = [v for v in values if v > 0]
    return len(pos) >= 2 and len(pos) == len(values) and max(pos) / min(pos) > 10


_TRACE_STYLE: dict[str, dict[str, Any]] = {
    "rejected": {
        "textposition": "top center",
        "textfont": {"size": 10, "color": "#999"},
        "marker": {"color": "rgba(150,150,150,0.45)", "size": 10, "line": {"color": "#888", "width": 1}},
    },
    "candidates": {
        "textposition": "top center",
        "textfont": {"size": 11, "color": "#333"},
        "marker": {"size": 12, "line": {"color": "white", "width": 1}},
    },
    "baseline": {
        "textposition": "top center",
        "textfont": {"color": "#444"},
        "marker": {"symbol": "diamond", "size": 13, "color": "white", "line": {"color": "#222", "width": 2}},
    },
    "recommended": {
        "textposition": "bottom right",
        "textfont": {"color": "#b3261e", "size": 13},
        "marker": {
            "symbol": "star",
            "size": 24,
            "color": "#ffcf33",
            "line": {"color": "#b3261e", "width": 2},
        },
    },
}


def _trace(
    kind: str,
    suffix: str,
    pts: Sequence[tuple[Record, str]],
    labels: Sequence[str] | None = None,
    marker: dict[str, Any] | None = None,
) -> go.Scatter:
    """One marker trace of ``kind`` (its name and ``meta``), labelled by trial id or ``labels``."""
    style = dict(_TRACE_STYLE[kind])
    style["marker"] = {**style["marker"], **(marker or {})}
    return go.Scatter(
        x=[_lat(r) for r, _ in pts],
        y=[_cost(r) for r, _ in pts],
        mode="markers+text",
        text=list(labels) if labels is not None else [escape(str(r.get("id", ""))) for r, _ in pts],
        name=kind + suffix,
        meta=kind,
        hovertext=[_hover(r, s) for r, s in pts],
        hoverinfo="text",
        **style,
    )


def pareto_figure(result: dict[str, Any]) -> go.Figure | None:
    """The interactive frontier chart, one group of traces per batch size; None when nothing was measured."""
    trials, baselines = _trials(result), _baselines(result)
    frontier = {str(x) for x in _list(result.get("frontier"))}
    rec_id = result.get("recommended")
    points = [
        (r, _status(r, frontier, rec_id, is_baseline=r in baselines))
        for r in trials + baselines
        if r.get("status") != "failed" and _lat(r) is not None and _cost(r) is not None
    ]
    if not points:
        return None
    batches = sorted({r.get("batch_size") for r, _ in points}, key=lambda b: (_float(b) is None, _float(b) or 0))
    qlabels = {_quality(r)[0] for r, _ in points if _quality(r)[1] is not None} - {"rmse"}
    qlabel = "accuracy" if "accuracy" in qlabels else ("cosine" if "cosine" in qlabels else "")
    qvals = [v for r, _ in points for lab, v in [_quality(r)] if v is not None and lab == qlabel and qlabel]
    qrange = (min(qvals), max(qvals)) if qvals else (0.0, 1.0)
    if qrange[0] == qrange[1]:
        qrange = (qrange[0] - 0.001, qrange[1] + 0.001)
    slo = _dict(_dict(result.get("targets")).get("slo"))
    slo_ms = _float(slo.get("max_ms")) if str(slo.get("metric", "p95")) == "p95" else None
    slo_batch = slo.get("batch_size") or (min(batches) if batches else None)  # type: ignore[type-var]

    fig = go.Figure()
    groups: list[tuple[Any, list[int]]] = []
    for b in batches:
        idx: list[int] = []
        pts = [(r, s) for r, s in points if r.get("batch_size") == b]

        def add(trace: go.Scatter, _idx: list[int] = idx) -> None:
            _idx.append(len(fig.data))
            fig.add_trace(trace)

        suffix = f" (batch {escape(str(b))})" if len(batches) > 1 else ""
        ok = [(r, s) for r, s in pts if s in ("ok", "frontier", "recommended")]
        rejected = [(r, s) for r, s in pts if s == "rejected"]
        base = [(r, s) for r, s in pts if s == "baseline"]
        front = sorted(
            (r for r, s in pts if s in ("frontier", "recommended") and str(r.get("id")) in frontier),
            key=lambda r: _lat(r) or 0,
        )
        rec = [(r, s) for r, s in pts if s == "recommended"]
        if rejected:
            add(_trace("rejected", suffix, rejected))
        if ok:
            qs = [_quality(r)[1] if _quality(r)[0] == qlabel else None for r, _ in ok]
            marker: dict[str, Any] = {"color": "#3b6fd8"}
            if qlabel and all(q is not None for q in qs):
                marker = {
                    "color": qs,
                    "colorscale": "Viridis",
                    "cmin": qrange[0],
                    "cmax": qrange[1],
                    "showscale": True,
                    "colorbar": {"title": {"text": qlabel}, "thickness": 14, "len": 0.8},
                }
            labels = ["" if s == "recommended" else escape(str(r.get("id", ""))) for r, s in ok]
            add(_trace("candidates", suffix, ok, labels, marker))
        if front:
            add(
                go.Scatter(
                    x=[_lat(r) for r in front],
                    y=[_cost(r) for r in front],
                    mode="lines",
                    name="frontier" + suffix,
                    meta="frontier",
                    hoverinfo="skip",
                    line={"color": "#1d9e6b", "width": 2},
                )
            )
        if base:
            add(_trace("baseline", suffix, base, ["baseline"] * len(base)))
        if rec:
            add(
                _trace(
                    "recommended",
                    suffix,
                    rec,
                    [f"{escape(str(r.get('id', '')))} recommended" for r, _ in rec],
                )
            )
        groups.append((b, idx))

    def axes(b: Any) -> dict[str, Any]:
        pts = [r for r, _ in points if r.get("batch_size") == b]
        xs = [v for v in (_lat(r) for r in pts) if v is not None]
        ys = [v for v in (_cost(r) for r in pts) if v is not None]
        return {
            "xaxis.type": "log" if _span(xs) else "linear",
            "yaxis.type": "log" if _span(ys) else "linear",
        }

    # Open on the recommended trial's batch size, else the SLO's, else the one with the most points.
    busiest = max(batches, key=lambda b: sum(1 for r, _ in points if r.get("batch_size") == b))
    slo_batch = slo.get("batch_size") if slo.get("batch_size") in batches else busiest
    shown = next((r.get("batch_size") for r, s in points if s == "recommended"), slo_batch)
    for b, idx in groups:
        for i in idx:
            fig.data[i].visible = b == shown
    first = axes(shown)
    fig.update_layout(
        template="plotly_white",
        height=520,
        margin={"l": 70, "r": 30, "t": 60, "b": 60},
        xaxis={"title": {"text": "p95 latency (ms)"}, "type": first["xaxis.type"]},
        yaxis={"title": {"text": "USD per 1M inferences"}, "type": first["yaxis.type"]},
        legend={"orientation": "h", "y": -0.15},
        hoverlabel={"align": "left"},
        title={
            "text": f"Latency vs cost at batch {escape(str(shown))}" if len(batches) > 1 else "Latency vs cost",
            "x": 0.01,
            "y": 0.96,
        },
    )
    if slo_ms is not None:
        fig.add_vline(
            x=slo_ms,
            line={"color": "#b3261e", "dash": "dot", "width": 1},
            annotation_text=f"p95 target {slo_ms:g} ms"
            + (f" (at batch {slo_batch})" if len(batches) > 1 and slo_batch is not None else ""),
            annotation_position="top right",
        )
    if len(groups) > 1:
        buttons = []
        for b, idx in groups:
            vis = [i in idx for i in range(len(fig.data))]
            buttons.append(
                {
                    "label": f"batch {escape(str(b))}",
                    "method": "update",
                    "args": [
                        {"visible": vis},
                        {**axes(b), "title.text": f"Latency vs cost at batch {escape(str(b))}"},
                    ],
                }
            )
        fig.update_layout(
            margin={"t": 90},
            updatemenus=[
                {
                    "buttons": buttons,
                    "direction": "down",
                    "x": 1.0,
                    "xanchor": "right",
                    "y": 1.02,
                    "yanchor": "bottom",
                    "active": [b for b, _ in groups].index(shown),
                    "showactive": True,
                    "bgcolor": "white",
                }
            ],
        )
    return fig


def _chart_section(result: dict[str, Any]) -> str:
    fig = pareto_figure(result)
    failed = sum(1 for t in _trials(result) if t.get("status") == "failed")
    note = f"{failed} failed trial{'s' if failed != 1 else ''} not plotted. " if failed else ""
    if fig is None:
        return (
            "<section><h2>Latency vs cost</h2><p class='muted'>Nothing was measured with both a latency "
            f"and a price, so there is no chart. {escape(note)}</p></section>"
        )
    div = fig.to_html(
        full_html=False,
        include_plotlyjs=True,
        config={"displaylogo": False, "responsive": True},
        div_id="pareto",
    )
    return f"""
<section>
  <h2>Latency vs cost</h2>
  <p class="muted">Each point is one measured variant: lower and further left is better. Colour is quality;
  the line joins the Pareto frontier; grey points were rejected (hover for why). {escape(note)}</p>
  <div class="chart">{div}</div>
</section>"""


# ---------------------------------------------------------------- table of candidates

_COLUMNS = [
    ("id", "text"),
    ("variant · chain", "text"),
    ("threads", "num"),
    ("batch", "num"),
    ("p50 ms", "num"),
    ("p95 ms", "num"),
    ("p99 ms", "num"),
    ("items/s", "num"),
    ("concurrent", "num"),
    ("model MB", "num"),
    ("peak RSS", "num"),
    ("quality", "num"),
    ("$ / 1M", "num"),
    ("$ / month", "num"),
    ("status", "status"),
]


def _td(text: str, sort: Any = None, cls: str = "") -> str:
    key = "" if sort is None else f" data-sort='{escape(str(sort))}'"
    klass = f" class='{cls}'" if cls else ""
    return f"<td{klass}{key}>{text}</td>"


def _row(r: Record, status: str, on_frontier: bool = False) -> str:
    lat = _dict(r.get("latency_ms"))
    ci = _list(_dict(lat.get("ci95")).get("p95"))
    conc = _dict(r.get("concurrent"))
    qlabel, qv = _quality(r)
    drop = r.get("quality_drop")
    chain = _chain_text(r) if r.get("chain") else ""
    notes = [f"<li class='why'>{escape(str(x))}</li>" for x in _list(r.get("reasons"))]
    notes += [f"<li>{escape(str(x))}</li>" for x in _list(r.get("notes"))]
    if r.get("error"):
        notes.append(f"<li class='why'><code>{escape(str(r['error']))}</code></li>")
    badge = f"<span class='pill {status}'>{escape(status)}</span>"
    if status == "recommended" and on_frontier:
        badge += "<span class='pill frontier'>frontier</span>"
    ci_txt = f"<br><small>CI {_fmt(ci[0])}–{_fmt(ci[1])}</small>" if len(ci) == 2 else ""
    callers = f"<br><small>{escape(str(conc.get('callers')))} callers</small>" if conc.get("callers") else ""
    num = "num"
    cells = [
        _td(f"<code>{escape(str(r.get('id', '')))}</code>", r.get("id", "")),
        _td(
            f"{escape(str(r.get('variant') or ''))} <small>{escape(str(r.get('engine') or ''))}</small>"
            f"<br><small class='chain'>{escape(chain)}</small>",
            r.get("variant") or "",
            "variant",
        ),
        _td(
            escape(str(r.get("threads") if r.get("threads") is not None else "")),
            _float(r.get("threads")),
            num,
        ),
        _td(escape(str(r.get("batch_size", ""))), _float(r.get("batch_size")), num),
        _td(_fmt(lat.get("p50")), _float(lat.get("p50")), num),
        _td(_fmt(lat.get("p95")) + ci_txt, _float(lat.get("p95")), num),
        _td(_fmt(lat.get("p99")), _float(lat.get("p99")), num),
        _td(_fmt(r.get("throughput_per_s"), ",.1f"), _float(r.get("throughput_per_s")), num),
        _td(_fmt(conc.get("throughput_per_s"), ",.1f") + callers, _float(conc.get("throughput_per_s")), num),
        _td(_fmt(r.get("model_mb"), ".1f"), _float(r.get("model_mb")), num),
        _td(_fmt(r.get("peak_rss_mb"), ",.0f"), _float(r.get("peak_rss_mb")), num),
        _td(
            _fmt(qv, ".4f")
            + (f"<br><small>{escape(qlabel)}, drop {_fmt(drop, '.4f')}</small>" if qv is not None else ""),
            qv,
            num,
        ),
        _td(_fmt(_cost(r), ".3f"), _cost(r), num),
        _td(_fmt(_cost(r, "usd_per_month"), ",.0f"), _cost(r, "usd_per_month"), num),
        _td(badge + (f"<ul>{''.join(notes)}</ul>" if notes else ""), _STATUS_ORDER.get(status, 9), "status"),
    ]
    return f"<tr class='{status}'>{''.join(cells)}</tr>"


def _table_section(result: dict[str, Any]) -> str:
    trials, baselines = _trials(result), _baselines(result)
    frontier = {str(x) for x in _list(result.get("frontier"))}
    rec_id = result.get("recommended")
    rows = [_row(b, _status(b, frontier, rec_id, is_baseline=True)) for b in baselines]
    rows += [_row(t, _status(t, frontier, rec_id), str(t.get("id")) in frontier) for t in trials]
    head = "".join(
        f"<th data-type='{kind}' scope='col'>{escape(label)}<span class='arrow'></span></th>"
        for label, kind in _COLUMNS
    )
    body = "".join(rows) or f"<tr><td colspan='{len(_COLUMNS)}' class='muted'>No trials were recorded.</td></tr>"
    return f"""
<section>
  <h2>All candidates <span class="muted small">{escape(_counts(trials))} · click a header to sort</span></h2>
  <div class="scroll"><table id="trials" class="trials">
    <thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>
</section>"""


# ---------------------------------------------------------------- footer: search and notes


def _footer(result: dict[str, Any]) -> str:
    search = _dict(result.get("search"))
    secs = _float(search.get("seconds"))
    rows = [
        ("Strategy", escape(str(search.get("strategy") or ""))),
        ("Candidates", escape(str(search.get("candidates") if search.get("candidates") is not None else ""))),
        ("Measured", escape(str(search.get("measured") if search.get("measured") is not None else ""))),
        (
            "Measured precisely",
            escape(str(search.get("precise") if search.get("precise") is not None else "")),
        ),
        (
            "Time",
            escape(
                f"{secs:.0f} s"
                if secs is not None and secs < 120
                else f"{secs / 60:.1f} min"
                if secs is not None
                else ""
            ),
        ),
    ]
    notes = "".join(f"<li>{escape(str(n))}</li>" for n in _list(result.get("notes")))
    notes_html = f"<ul class='notes'>{notes}</ul>" if notes else "<p class='muted'>none</p>"
    return f"""
<section class="cards two">
  <div class="card"><h3>Search</h3>{_kv(rows)}</div>
  <div class="card"><h3>Hardware notes</h3>{notes_html}</div>
</section>
<footer>Generated by Lepton{escape(f" · run {result['run_id']}" if result.get("run_id") else "")}.
Latencies are measured on this machine; prices are assumptions, listed above.</footer>"""
