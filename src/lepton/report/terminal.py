"""Rich tables and progress bars for the terminal."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lepton.format import ms, usd
from lepton.measure.trial import Trial

ENGINE_SHORT = {"onnxruntime": "ort", "torch": "torch", "openvino": "ov"}
STATUS_STYLE = {"ok": "green", "rejected": "yellow", "failed": "red"}


def trials_table(trials: Sequence[Trial], title: str = "", *, show_variant: bool = False) -> Table:
    """Bench view: engine per row. Optimize view (``show_variant``): variant, engine and status."""
    t = Table(title=title or None, header_style="bold", pad_edge=False)
    head = ["id", "variant", "engine", "status"] if show_variant else ["id", "engine"]
    if any(r.hardware_kind for r in trials):  # a cluster run: the kind of node each ran on
        head.insert(head.index("engine") + 1, "hardware")
    tail = ["batch", "thr", "p50 ms", "p95 ms", "p99 ms", "items/s", "RSS MB", "MB", "quality", "$/1M"]
    if show_variant:
        tail.remove("MB")
    for col in head + tail:
        left = col in ("id", "engine", "hardware", "variant", "status", "quality")
        t.add_column(
            col,
            justify="left" if left else "right",
            overflow="fold",
            no_wrap=col != "variant",
            min_width=30 if col == "variant" else None,
        )
    for r in trials:
        cells = {
            "id": r.id,
            "engine": f"{ENGINE_SHORT.get(r.engine, r.engine)} {r.options_text}".strip(),
            "variant": r.variant,
            "hardware": r.hardware_kind or "-",
            "batch": str(r.batch_size),
            "status": f"[{STATUS_STYLE.get(r.status, 'white')}]{r.status}[/]"
            + (" [yellow]disturbed[/]" if r.disturbed is not None else ""),
        }
        if not r.measured:
            cells["quality"] = f"[red]{(r.error or '')[:36]}[/red]"
        else:
            lat = r.latency
            h = r.quality.headline()
            cells.update(
                {
                    "thr": str(r.threads if r.threads is not None else ""),
                    "p50 ms": ms(lat.p50),
                    "p95 ms": ms(lat.p95),
                    "p99 ms": ms(lat.p99),
                    "items/s": f"{r.throughput:.1f}",
                    "RSS MB": f"{r.peak_rss_mb or 0:.0f}",
                    "MB": f"{r.model_mb or 0:.1f}",
                    "quality": h.short if h else "-",
                    "$/1M": usd(r.usd_per_1m).lstrip("$"),
                }
            )
        t.add_row(*(cells.get(c, "-") for c in head + tail))
    return t


def engine_ratios(trials: Sequence[Trial], engine: str = "onnxruntime", baseline: str = "torch") -> list[str]:
    """One line per batch size: throughput of ``engine`` over ``baseline`` measured in the same run."""
    ok = [r for r in trials if r.measured]
    lines = []
    for b in sorted({r.batch_size for r in ok}):
        a = next((r for r in ok if r.engine == engine and r.batch_size == b), None)
        z = next((r for r in ok if r.engine == baseline and r.batch_size == b), None)
        if a and z:
            lines.append(
                f"batch {b}: {engine} / {baseline} throughput {a.throughput / z.throughput:.2f}x, "
                f"p50 latency {z.latency.p50 / a.latency.p50:.2f}x lower"
            )
    return lines


@contextmanager
def progress_bar(console: Console, description: str) -> Iterator[Any]:
    """Yields ``update(what, done, total)`` that drives one Rich progress bar."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[what]}"),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None, what="")

        def update(what: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, what=what)

        yield update
