"""What the parts of the HTML report share: escaping, the status a trial is shown with, short texts.

Every string that comes from the run (model names, variants, errors, reasons, ids) is user data: it goes through
``esc`` before it reaches the page or the chart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from html import escape

from lepton.format import engine_name
from lepton.measure.trial import Trial
from lepton.navigate.result import OptimizeResult

# The order the table sorts its status column in (best first).
STATUS_ORDER = {"recommended": 0, "frontier": 1, "ok": 2, "rejected": 3, "failed": 4}


def esc(value: object) -> str:
    return escape(str(value))


def shown_status(t: Trial, result: OptimizeResult) -> str:
    """The navigator's status with its choice on top: recommended, frontier, ok, rejected or failed.

    The baseline competes like any candidate, so it gets the same statuses (``Trial.is_baseline`` says it is
    the baseline).
    """
    if t.status == "failed":
        return "failed"
    if t.id == result.recommended:
        return "recommended"
    if t.id in result.frontier and t.status == "ok":
        return "frontier"
    return t.status


def listed(result: OptimizeResult) -> list[Trial]:
    """The trials the report lists: the baseline first, then every current candidate in the order it ran
    (a quick screen that a precise measurement replaced is left out)."""
    current = result.current
    return [t for t in current if t.is_baseline] + [t for t in current if not t.is_baseline]


def threads_text(t: Trial) -> str:
    n = t.threads if t.threads is not None else t.runtime.intra_op_threads
    return f"{n} thread{'s' if n != 1 else ''}" if n else "default threads"


def setting_text(t: Trial) -> str:
    """Engine, threads and batch size: ``ONNX Runtime, 2 threads, batch 32``."""
    return f"{engine_name(t.engine)} {t.options_text}".strip() + f", {threads_text(t)}, batch {t.batch_size}"


def chain_text(t: Trial, *, params: bool = False) -> str:
    """The passes of the variant, ``graph-fusion → quantize-dynamic``; with ``params`` each pass's settings too:
    ``quantize-dynamic(per_channel=True)``."""
    parts = []
    for step in t.chain:
        args = ", ".join(f"{k}={v}" for k, v in step.params.items()) if params else ""
        parts.append(f"{step.pass_}({args})" if args else step.pass_)
    return " → ".join(parts) if parts else "no passes"


def quality_text(t: Trial) -> str:
    """The headline quality figure in words (``accuracy 0.9068``), empty when none was measured."""
    h = t.quality.headline()
    return h.text if h else ""


def megabytes(x: float) -> str:
    """``90.9``, and two significant digits below 1 MB (``0.021``) so a small model does not read 0."""
    return f"{x:.1f}" if x >= 1 else f"{x:.2g}"


def counts(trials: Sequence[Trial]) -> str:
    """``12 trials: 1 failed, 8 ok, 3 rejected``."""
    if not trials:
        return "No trials were recorded."
    by = Counter(t.status for t in trials)
    return f"{len(trials)} trials: " + ", ".join(f"{n} {s}" for s, n in sorted(by.items()))


def kv(rows: Iterable[tuple[str, str]]) -> str:
    """A definition list from (label, already-escaped value) pairs, skipping empty values."""
    items = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in rows if v)
    return f"<dl>{items}</dl>" if items else "<p class='muted'>not recorded</p>"
