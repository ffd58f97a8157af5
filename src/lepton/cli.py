"""The ``lepton`` command line: a Typer app mirroring ``lepton.api``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from lepton.errors import LeptonError, UserError
from lepton.settings import offline_hub

app = typer.Typer(
    name="lepton",
    help="Take a trained model to production at the best trade-off of speed, cost and accuracy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(width=None if sys.stdout.isatty() else 140)
_state = {"debug": False}


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    _state["debug"] = debug


def parse_int_list(text: str, flag: str) -> list[int]:
    try:
        values = [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise UserError(f"{flag}: expected a comma-separated list of integers like 1,8,32; got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise UserError(f"{flag}: values must be integers >= 1; got {text!r}")
    return values


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically, so an interrupted run never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    tmp.replace(path)


ModelArg = Annotated[str | None, typer.Argument(help="A model: .onnx file, Hugging Face folder, or stored name.")]
ExampleOpt = Annotated[str | None, typer.Option("--example", help="A bundled model instead of MODEL: minilm.")]
ShapeOpt = Annotated[list[str] | None, typer.Option("--shape", help="Pin an input's shape: NAME=D1,D2 (repeatable).")]
DataOpt = Annotated[Path | None, typer.Option("--data", help="Evaluation data: .npz .npy .parquet .csv or .txt.")]


@app.command("import")
def import_cmd(
    model: Annotated[str, typer.Argument(help="An .onnx file or a Hugging Face encoder folder.")],
    name: Annotated[str | None, typer.Option(help="The name to store it under.")] = None,
    shape: ShapeOpt = None,
) -> None:
    """Import a model into the store as an ONNX artifact with its signature."""
    from lepton.api import import_model
    from lepton.ir.signature import parse_shape_pins

    art = import_model(Path(model), name=name, shapes=parse_shape_pins(shape or []) or None)
    console.print(
        f"[green]imported[/green] {art.name or model} as artifact {art.id} ({art.size_mb:.1f} MB, task {art.task})"
    )
    for t in art.signature.inputs:
        console.print(f"  input  {t.name}: {t.dtype} {list(t.shape)}")
    for t in art.signature.outputs:
        console.print(f"  output {t.name}: {t.dtype} {list(t.shape)}")


@app.command()
def bench(
    model: ModelArg = None,
    example: ExampleOpt = None,
    engine: Annotated[
        str | None,
        typer.Option(help="Engines, comma-separated: onnxruntime,torch (default: all that run it)."),
    ] = None,
    batch: Annotated[str, typer.Option(help="Batch sizes, comma-separated: 1,32.")] = "1",
    threads: Annotated[int, typer.Option(help="Intra-op threads (0: the engine's default).")] = 0,
    data: DataOpt = None,
    shape: ShapeOpt = None,
    instance: Annotated[str | None, typer.Option(help="Price as this catalog instance (e.g. aws/c7i.large).")] = None,
    price_per_hour: Annotated[float | None, typer.Option(help="Price one replica at this USD/hour.")] = None,
    qps: Annotated[float | None, typer.Option(help="Target load: replicas and USD/month at this QPS.")] = None,
    seconds: Annotated[float, typer.Option(help="Minimum measuring time per configuration (s).")] = 2.0,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the result as JSON here.")] = None,
) -> None:
    """Measure a model under one or more engines and batch sizes: latency, throughput, memory, quality, cost."""
    from lepton.api import bench as run_bench
    from lepton.ir.signature import parse_shape_pins
    from lepton.measure.timing import TimingPlan
    from lepton.report.terminal import engine_ratios, progress_bar, trials_table

    batches = parse_int_list(batch, "--batch")
    engines = [e.strip() for e in engine.split(",") if e.strip()] if engine else None
    plan = TimingPlan(min_seconds=seconds, max_seconds=max(10 * seconds, 20.0))
    with progress_bar(console, "measuring") as update:
        result = run_bench(
            model,
            example=example,
            engines=engines,
            batch_sizes=batches,
            threads=threads,
            data=data,
            shapes=parse_shape_pins(shape or []) or None,
            instance=instance,
            price_per_hour=price_per_hour,
            qps=qps,
            plan=plan,
            progress=update,
        )
    name = result.model.get("name") or result.model["artifact_id"]
    console.print(trials_table(result.trials, title=f"{name} on {result.hardware.summary()}"))
    p = result.price
    console.print(f"price: {p.instance} at ${p.usd_per_hour}/h ({p.matched}; {p.source})")
    console.print(f"workload: {result.workload}")
    for line in engine_ratios(result.trials):
        console.print(line)
    if json_path:
        write_json(json_path, result.to_json())
        console.print(f"wrote {json_path}")


@app.command()
def models() -> None:
    """List the models in the store."""
    from rich.table import Table

    from lepton.store import Store

    store = Store()
    t = Table("name", "artifact", "task", "MB", header_style="bold")
    for m in store.models():
        art = store.artifact(m["artifact_id"])
        t.add_row(m["name"], m["artifact_id"], art.task, f"{art.size_mb:.1f}")
    console.print(t)


@app.command()
def runs(model: Annotated[str | None, typer.Argument(help="Only this model's runs.")] = None) -> None:
    """List bench and optimize runs."""
    import time

    from rich.table import Table

    from lepton.store import Store

    t = Table("run", "kind", "model", "status", "started", header_style="bold")
    for r in Store().runs(model):
        t.add_row(
            r["id"],
            r["kind"],
            r["model"] or "-",
            r["status"],
            time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created"])),
        )
    console.print(t)


def _register_optional() -> None:
    """Commands from other rooms register themselves when their module exists."""
    import importlib

    for module in ("lepton.navigate.cli", "lepton.serve.cli", "lepton.train.command"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name and module.startswith(e.name):
                continue
            raise
        mod.register(app)


_register_optional()


def main() -> None:
    offline_hub()
    try:
        app(standalone_mode=False)
    except LeptonError as e:
        if _state["debug"]:
            raise
        console.print(f"[red]error:[/red] {e}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]")
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(2)
        if isinstance(e, click.exceptions.Abort):
            sys.exit(130)
        raise
