"""Rich tables and progress bars for the terminal."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table


def quality_cell(q: dict[str, Any] | None) -> str:
    if not q:
        return "-"
    if "accuracy" in q:
        return f"acc {q['accuracy']:.4f}"
    if "rmse" in q:
        return f"rmse {q['rmse']:.4g}"
    if "cosine" in q:
        return f"cos {q['cosine']:.4f}"
    return "-"


ENGINE_SHORT = {"onnxruntime": "ort", "torch": "torch"}
STATUS_STYLE = {"ok": "green", "rejected": "yellow", "failed": "red"}


def trials_table(trials: Sequence[dict[str, Any]], title: str = "", *, show_variant: bool = False) -> Table:
    t = Table(title=title or None, header_style="bold", pad_edge=False)
    cols = [("id", "left"), ("engine", "left")]
    if show_variant:
        cols += [("variant", "left"), ("status", "left")]
    cols += [("batch", "right"), ("thr", "right"), ("p50 ms", "right"), ("p95 ms", "right"), ("p99 ms", "right"),
             ("items/s", "right"), ("RSS MB", "right"), ("MB", "right"), ("quality", "left"), ("$/1M", "right")]
    for col, justify in cols:
        t.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for r in trials:
        head = [r["id"], ENGINE_SHORT.get(r["engine"], r["engine"])]
        if show_variant:
            status = r.get("status", "ok")
            head += [r.get("variant", ""), f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"]
        if r.get("status") == "failed":
            t.add_row(*head, str(r["batch_size"]), "-", "-", "-", "-", "-", "-", "-", r.get("error", "")[:60], "-")
            continue
        lat = r["latency_ms"]
        t.add_row(
            *head, str(r["batch_size"]), str(r.get("threads", "")),
            f"{lat['p50']:.2f}", f"{lat['p95']:.2f}", f"{lat['p99']:.2f}", f"{r['throughput_per_s']:.1f}",
            f"{r['peak_rss_mb']:.0f}", f"{r['model_mb']:.1f}", quality_cell(r.get("quality")),
            f"{r['cost']['usd_per_1m']:.3f}",
        )
    return t


def engine_ratios(trials: Sequence[dict[str, Any]], engine: str = "onnxruntime", baseline: str = "torch") -> list[str]:
    """One line per batch size: throughput of ``engine`` over ``baseline`` measured in the same run."""
    ok = [r for r in trials if r.get("status") == "ok"]
    lines = []
    for b in sorted({r["batch_size"] for r in ok}):
        a = next((r for r in ok if r["engine"] == engine and r["batch_size"] == b), None)
        z = next((r for r in ok if r["engine"] == baseline and r["batch_size"] == b), None)
        if a and z:
            lines.append(
                f"batch {b}: {engine} / {baseline} throughput {a['throughput_per_s'] / z['throughput_per_s']:.2f}x, "
                f"p50 latency {z['latency_ms']['p50'] / a['latency_ms']['p50']:.2f}x lower"
            )
    return lines


@contextmanager
def progress_bar(console: Console, description: str) -> Iterator[Any]:
    """Yields ``update(what, done, total)`` that drives one Rich progress bar."""
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[what]}"), console=console, transient=True,
    ) as bar:
        task = bar.add_task(description, total=None, what="")

        def update(what: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, what=what)

        yield update
