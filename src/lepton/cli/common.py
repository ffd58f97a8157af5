"""What every command shares: the console, the option types a user meets on several commands, and --debug."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(width=None if sys.stdout.isatty() else 140)
state = {"debug": False}

ModelArg = Annotated[str | None, typer.Argument(help="A model: .onnx file, Hugging Face folder, or stored name.")]
ExampleOpt = Annotated[
    str | None, typer.Option("--example", help="A bundled model instead of MODEL: minilm, smollm2, gemma3.")
]
ShapeOpt = Annotated[list[str] | None, typer.Option("--shape", help="Pin an input's shape: NAME=D1,D2 (repeatable).")]
DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Evaluation data: .npz .npy .parquet .csv or .txt (a causal LM: a text file or JSONL of prompts).",
    ),
]
InstanceOpt = Annotated[str | None, typer.Option(help="Price as this catalog instance (e.g. aws/c7i.large).")]
PricePerHourOpt = Annotated[float | None, typer.Option(help="Price one replica at this USD/hour.")]
QpsOpt = Annotated[float | None, typer.Option(help="Target load: replicas and USD/month at this QPS.")]
JsonOpt = Annotated[Path | None, typer.Option("--json", help="Write the result as JSON here.")]
RayOpt = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="[ADDRESS]",
        help="Run on a Ray cluster: its address (HOST:PORT or ray://HOST:PORT), or none for the cluster this "
        "machine joined with `ray start` (needs Lepton's optional ray extra).",
    ),
]
