"""The page: header (model, hardware, price, targets), the sections in order, footer (search, notes).

``render_html`` assembles the body into ``report/templates/report.html``; ``write_html`` writes it atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lepton.hardware import Hardware
from lepton.navigate.result import OptimizeResult
from lepton.navigate.targets import Targets
from lepton.report.html.chart import chart_section
from lepton.report.html.common import esc, fill_page, kv, megabytes, write_page
from lepton.report.html.generation import generation_section
from lepton.report.html.summary import verdict_section
from lepton.report.html.table import table_section

if TYPE_CHECKING:
    from lepton.navigate.explain_run import Explanation


def write_html(result: OptimizeResult, path: Path | str, explanations: Sequence[Explanation] = ()) -> Path:
    """Write the report of one optimize ``result`` to ``path`` (parents created, never half a file), with an
    explain section per explanation (``lepton explain --html``)."""
    return write_page(path, render_html(result, explanations))


def render_html(result: OptimizeResult, explanations: Sequence[Explanation] = ()) -> str:
    """The whole page as a string."""
    chart = chart_section(result)
    sections = [header(result), verdict_section(result), chart, table_section(result), generation_section(result)]
    if explanations:
        from lepton.report.html.common import Charts
        from lepton.report.html.explain import explain_sections

        charts = Charts()
        charts.count = int("<script" in chart)  # the Pareto chart carries plotly.js when it is drawn
        sections.append(explain_sections(explanations, charts))
    body = "\n".join([*sections, footer(result)])
    return fill_page(f"Lepton report: {result.model.display_name}", body)


def _when(created: float) -> str:
    return datetime.fromtimestamp(created, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def header(result: OptimizeResult) -> str:
    hw: Hardware = result.hardware  # typed locals: the contract's json_typed fields read as Any to mypy
    targets: Targets = result.targets
    model, price = result.model, result.price
    sub = " · ".join(
        esc(x) for x in (model.task, _when(result.created), f"run {result.run_id}", f"workload: {result.workload}")
    )
    hw_rows = [
        ("CPU", esc(hw.cpu_model)),
        ("Size", esc(f"{hw.logical_cores} logical cores, {hw.memory_gb:.1f} GB RAM")),
        ("CPUs", esc(hw.cpu_note())),
        ("GPUs", esc(", ".join(hw.gpus) or "none")),
        ("int8", esc(hw.int8_accel or "no accelerated path")),
        ("bf16", esc(hw.bf16_native or "")),
        ("fp16", esc(hw.fp16_native or "")),
    ]
    price_rows = [
        ("Instance", esc(price.instance)),
        ("Price", esc(f"${price.usd_per_hour:.4g} per hour")),
        ("Source", esc(price.source)),
        ("Match", esc(price.matched)),
    ]
    hw_title, price_title = "Hardware", "Assumed price"
    if result.kinds:  # a cluster run: each kind of node, as measured and priced
        hw_title, price_title = "Cluster", "Assumed prices"
        hw_rows = [
            (
                esc(k.name),
                esc(f"{k.hardware.cpu_model}, {k.hardware.logical_cores} vCPU, {k.nodes} node{'s' * (k.nodes != 1)}"),
            )
            for k in result.kinds
        ]
        price_rows = [
            (esc(k.name), esc(f"${k.price.usd_per_hour:.4g} per hour · {k.price.source}")) for k in result.kinds
        ]
    slo = targets.slo
    slo_text = "none"
    if slo is not None:
        slo_text = f"{slo.metric}<={slo.max_ms:g}ms" + (f" at batch {slo.batch_size}" if slo.batch_size else "")
    target_rows = [
        ("Latency", esc(slo_text)),
        ("Quality", esc(f"drop at most {targets.max_drop:g}")),
        ("Judged on", esc(result.reference)),
        ("Load", esc(f"{targets.qps:g} QPS") if targets.qps is not None else ""),
        ("Budget", esc(f"${targets.budget:,.0f} per month") if targets.budget is not None else ""),
        ("Objective", esc(targets.objective)),
    ]
    badge = f"<span class='badge'>{esc(megabytes(model.model_mb) + ' MB')}</span>" if model.model_mb is not None else ""
    return f"""
<header>
  <div class="brand">Lepton · optimize report</div>
  <h1>{esc(model.display_name)} {badge}</h1>
  <p class="sub">{sub}</p>
</header>
<section class="cards">
  <div class="card"><h3>{hw_title}</h3>{kv(hw_rows)}</div>
  <div class="card"><h3>{price_title}</h3>{kv(price_rows)}</div>
  <div class="card"><h3>Targets</h3>{kv(target_rows)}</div>
</section>"""


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def footer(result: OptimizeResult) -> str:
    s = result.search
    rows = [
        ("Strategy", esc(s.strategy)),
        ("Candidates", esc(s.candidates)),
        ("Measured", esc(s.measured)),
        ("Measured precisely", esc(s.precise)),
        ("Time", esc(_duration(s.seconds))),
    ]
    sens = result.sensitivity
    if sens is not None and sens.seconds is not None:
        reached = "reached" if sens.reached else "not reached"
        target = f"fidelity {sens.target:g} {reached}" if sens.target is not None else ""
        kept = f"{len(sens.kept_float)} node{'s' if len(sens.kept_float) != 1 else ''} kept in float"
        rows.append(("Sensitivity", esc("; ".join(x for x in (sens.why, kept, target) if x))))
    notes = "".join(f"<li>{esc(n)}</li>" for n in result.notes)
    notes_html = f"<ul class='notes'>{notes}</ul>" if notes else "<p class='muted'>none</p>"
    return f"""
<section class="cards two">
  <div class="card"><h3>Search</h3>{kv(rows)}</div>
  <div class="card"><h3>Notes</h3>{notes_html}</div>
</section>
<footer>Generated by Lepton · run {esc(result.run_id)}.
Latencies are measured {"on each kind of node" if result.kinds else "on this machine"}; prices are assumptions, listed
above.</footer>"""
