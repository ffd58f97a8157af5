"""What the parts of the HTML reports (optimize and train) share: escaping, the page template and its atomic
write, tiles, definition lists, inline charts, the status a trial is shown with, short texts.

Every string that comes from the run (model names, variants, errors, reasons, ids) is user data: it goes through
``esc`` before it reaches the page or the chart.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from html import escape
from importlib.resources import files
from pathlib import Path

import plotly.graph_objects as go

from lepton.fileio import write_atomic
from lepton.format import engine_name
from lepton.navigate.judged import JudgedTrial
from lepton.navigate.result import OptimizeResult

# The order the table sorts its status column in (best first).
STATUS_ORDER = {"recommended": 0, "frontier": 1, "ok": 2, "rejected": 3, "failed": 4}


def esc(value: object) -> str:
    return escape(str(value))


def figure_text(value: float | None, spec: str = ".4g", unit: str = "") -> str:
    """A number as a page shows it (escaped), ``–`` when there is none."""
    return "&ndash;" if value is None or not math.isfinite(value) else esc(f"{value:{spec}}{unit}")


def fill_page(title: str, body: str) -> str:
    """``report/templates/report.html`` (its CSS and layout) around ``body``; ``title`` is escaped here."""
    page = (files("lepton.report") / "templates" / "report.html").read_text(encoding="utf-8")
    return page.replace("<!--TITLE-->", esc(title), 1).replace("<!--BODY-->", body, 1)


def write_page(path: Path | str, html: str) -> Path:
    """Write a page to ``path`` (parents created, never half a file)."""
    return write_atomic(path, html)


def stat(label: str, value: str, sub: str = "") -> str:
    """One tile; ``value`` and ``sub`` are already escaped."""
    sub_html = f"<small>{sub}</small>" if sub else ""
    return f"<div class='stat'><span>{esc(label)}</span><b>{value}</b>{sub_html}</div>"


class Charts:
    """Renders the figures of one page: the first carries plotly.js inline (no CDN), the rest reuse it."""

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


def shown_status(t: JudgedTrial, result: OptimizeResult) -> str:
    """The navigator's status with its choice on top: recommended, frontier, ok, rejected or failed.

    The baseline competes like any candidate, so it gets the same statuses (``JudgedTrial.is_baseline`` says it is
    the baseline).
    """
    if t.status == "failed":
        return "failed"
    if t.id == result.recommended:
        return "recommended"
    if t.id in result.frontier and t.status == "ok":
        return "frontier"
    return t.status


def listed(result: OptimizeResult) -> list[JudgedTrial]:
    """The trials the report lists: the baseline first, then every current candidate in the order it ran
    (a quick screen that a precise measurement replaced is left out)."""
    current = result.current
    return [t for t in current if t.is_baseline] + [t for t in current if not t.is_baseline]


def threads_text(t: JudgedTrial) -> str:
    n = t.threads if t.threads is not None else t.runtime.intra_op_threads
    return f"{n} thread{'s' if n != 1 else ''}" if n else "default threads"


def setting_text(t: JudgedTrial) -> str:
    """Engine, threads and batch size: ``ONNX Runtime, 2 threads, batch 32``."""
    return f"{engine_name(t.engine)} {t.options_text}".strip() + f", {threads_text(t)}, batch {t.batch_size}"


def chain_text(t: JudgedTrial, *, params: bool = False) -> str:
    """The passes of the variant, ``graph-fusion → quantize-dynamic``; with ``params`` each pass's settings too:
    ``quantize-dynamic(per_channel=True)``."""
    parts = []
    for step in t.chain:
        args = ", ".join(f"{k}={v}" for k, v in step.params.items()) if params else ""
        parts.append(f"{step.pass_}({args})" if args else step.pass_)
    return " → ".join(parts) if parts else "no passes"


def quality_text(t: JudgedTrial) -> str:
    """The headline quality figure in words (``accuracy 0.9068``), empty when none was measured."""
    h = t.quality.headline()
    return h.text if h else ""


def megabytes(x: float) -> str:
    """``90.9``, and two significant digits below 1 MB (``0.021``) so a small model does not read 0."""
    return f"{x:.1f}" if x >= 1 else f"{x:.2g}"


def counts(trials: Sequence[JudgedTrial]) -> str:
    """``12 trials: 1 failed, 8 ok, 3 rejected``."""
    if not trials:
        return "No trials were recorded."
    by = Counter(t.status for t in trials)
    return f"{len(trials)} trials: " + ", ".join(f"{n} {s}" for s, n in sorted(by.items()))


def kv(rows: Iterable[tuple[str, str]]) -> str:
    """A definition list from (label, already-escaped value) pairs, skipping empty values."""
    items = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in rows if v)
    return f"<dl>{items}</dl>" if items else "<p class='muted'>not recorded</p>"
