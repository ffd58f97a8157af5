"""The terminal face of a training run: a progress bar per epoch, and the summary with baselines beside it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lepton.training.loop import Event
from lepton.training.record import num
from lepton.training.run import TrainResult

SHORT = {"accuracy": "acc", "mae": "MAE"}
CLASS_COLUMNS = ("accuracy", "precision", "recall", "f1")
FORECAST_COLUMNS = ("mae", "rmse", "mape")


@contextmanager
def epoch_progress(console: Console) -> Iterator[Any]:
    """Yields a ``progress(Event)`` callback: one bar over the batches of the current epoch, with the running
    loss and the validation metric (and its best so far)."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[what]}"),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("preparing", total=None, what="")

        def update(e: Event) -> None:
            metric = SHORT.get(e.metric, e.metric)
            what = f"loss {e.loss:.4f}"
            if e.val is not None:
                what += f" · val {metric} {e.val:.4f}"
            if e.best is not None:
                what += f" (best {e.best:.4f})"
            head = f"{e.phase} · " if e.phase else ""
            bar.update(
                task, description=f"{head}epoch {e.epoch}/{e.epochs}", completed=e.step, total=e.steps, what=what
            )

        yield update


def _fmt(v: Any, key: str) -> str:
    if not isinstance(v, int | float):
        return "-"
    if key == "mape":
        return f"{v:.2f}%"
    return f"{v:.4f}" if key in CLASS_COLUMNS else f"{v:.4g}"


def results_table(r: TrainResult) -> Table:
    cols = CLASS_COLUMNS if r.task == "classification" else FORECAST_COLUMNS
    t = Table(
        title=f"{r.name}: test split ({r.split.get('test')} {'windows' if r.task == 'forecast' else 'rows'})",
        header_style="bold",
    )
    t.add_column("model")
    for c in cols:
        t.add_column(c.upper() if c in FORECAST_COLUMNS else c, justify="right")
    extra = r.task == "forecast"
    if extra:
        t.add_column("MAE / baseline", justify="right")
    else:
        t.add_column(f"{r.primary} vs model", justify="right")
    t.add_row(
        f"[bold]{r.architecture} (exported ONNX)[/bold]",
        *(_fmt(r.metrics.get(c), c) for c in cols),
        "",
    )
    for b in r.baselines:
        mine, theirs = r.metrics.get(r.primary), b.metrics.get(r.primary)
        if extra:
            ok = isinstance(theirs, float) and isinstance(mine, float) and theirs > 0
            rel = f"{mine / theirs:.3f}" if ok else "-"  # type: ignore[operator]
        else:
            rel = f"{mine - theirs:+.4f}" if isinstance(theirs, float) and isinstance(mine, float) else "-"
        t.add_row(f"{b.name} [dim](baseline)[/dim]", *(_fmt(b.metrics.get(c), c) for c in cols), rel)
    return t


def per_class_table(r: TrainResult) -> Table | None:
    per = r.metrics.get("per_class")
    if not isinstance(per, dict) or not per or len(per) > 12:
        return None
    t = Table(title="per class (test split)", header_style="bold")
    for c in ("class", "precision", "recall", "f1", "support"):
        t.add_column(c, justify="left" if c == "class" else "right")
    for name, m in per.items():
        if isinstance(m, dict):
            p, rc, f1, n = (num(m, k) or 0.0 for k in ("precision", "recall", "f1", "support"))
            t.add_row(name, f"{p:.3f}", f"{rc:.3f}", f"{f1:.3f}", str(int(n)))
    return t


def summary_lines(r: TrainResult) -> list[str]:
    d, tr, tm = r.data, r.training, r.timing
    lines = []
    prep = [f"{d.get('rows_read', '?')} rows read"]
    if d.get("duplicates_dropped"):
        prep.append(f"{d['duplicates_dropped']} duplicates dropped")
    missing = d.get("missing")
    if isinstance(missing, dict) and missing:
        total = sum(v for v in missing.values() if isinstance(v, int))
        prep.append(f"{total} missing values ({d.get('missing_policy')})")
    if d.get("dropped_no_target"):
        prep.append(f"{d['dropped_no_target']} rows without a target dropped")
    if d.get("max_length"):
        prep.append(f"max length {d['max_length']} tokens ({d.get('truncated', 0)} truncated)")
    if d.get("season") is not None:
        prep.append(f"lags {d.get('lags')}, horizon {d.get('horizon')}, season {d['season']} ({d.get('season_why')})")
    lines.append(f"data: {d.get('source')}: " + ", ".join(prep))
    s = r.split
    lines.append(
        f"split (seed {r.seed}{', by time' if r.task == 'forecast' else ', stratified'}): "
        f"train {s.get('train')}, validation {s.get('val')}, test {s.get('test')}"
    )
    params = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in r.params.items())
    lines.append(f"hyper-parameters: {params}")
    lines.append(
        f"training: {tm.epochs_run} epochs in {tm.train_seconds:.1f} s ({tm.epoch_seconds:.2f} s/epoch), "
        f"best epoch {tr.best_epoch} (val {r.primary if r.task == 'classification' else 'MAE'} "
        f"{tr.best_val_metric:.4g}), {tr.stopped}"
    )
    val_naive = [(b.name, float(b.metrics["val_mae"])) for b in r.baselines if "val_mae" in b.metrics]
    if val_naive:
        lines.append(
            f"validation MAE: model {tr.best_val_metric:.4g}, "
            + ", ".join(f"{n} {v:.4g} ({tr.best_val_metric / v:.3f}x)" for n, v in val_naive if v > 0)
        )
    if r.tuning:
        tu = r.tuning
        sign = "+" if tu.val_gain >= 0 else ""
        test = ""
        if tu.test_default is not None and tu.test_best is not None:
            test = f"; test {r.primary} {tu.test_default:.4g} -> {tu.test_best:.4g}"
        lines.append(
            f"tuning: {tu.trials} trials ({tu.pruned} pruned) in {tu.seconds:.0f} s; best trial "
            f"{tu.best_trial}: val {r.primary if r.task == 'classification' else 'MAE'} {tu.val_default:.4g} "
            f"(defaults) -> {tu.val_best:.4g} ({sign}{tu.val_gain:.4g}), val loss "
            f"{tu.val_loss_default:.4g} -> {tu.val_loss_best:.4g}{test}"
        )
    if r.cv:
        cv = r.cv
        lines.append(
            f"cross-validation: {cv.metric} {cv.mean:.4f} ± {cv.std:.4f} over {cv.completed} of "
            f"{cv.folds} folds ({cv.epochs} epochs each)"
        )
    lines.append(
        f"exported model: {tm.ms_per_row_batch1:.3f} ms/row at batch 1, {tm.ms_per_row_batched:.4f} ms/row at "
        f"batch {tm.batch} (ONNX Runtime, this machine)"
    )
    par = r.parity
    same = f", same class on {par.same_class:.1%}" if par.same_class is not None else ""
    lines.append(f"parity: ONNX vs PyTorch max abs error {par.max_abs_error:.2g} on {par.rows} test rows{same}")
    lines.extend(f"note: {n}" for n in r.notes)
    return lines


def print_summary(console: Console, r: TrainResult) -> None:
    console.print(results_table(r))
    per = per_class_table(r)
    if per is not None:
        console.print(per)
    for line in summary_lines(r):
        console.print(line, highlight=False)
    console.print(
        f"[bold green]stored[/bold green] {r.name} (artifact {r.artifact.id}) with its test split; "
        f"next: [bold]lepton optimize {r.name}[/bold]",
        highlight=False,
    )
