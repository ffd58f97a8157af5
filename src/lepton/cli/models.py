"""``lepton import``, ``lepton models`` and ``lepton runs``: what is in the store."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from lepton.cli.common import ShapeOpt, console


def register(app: typer.Typer) -> None:
    @app.command("import")
    def import_cmd(
        model: Annotated[str, typer.Argument(help="An .onnx file or a Hugging Face encoder folder.")],
        name: Annotated[str | None, typer.Option(help="The name to store it under.")] = None,
        shape: ShapeOpt = None,
    ) -> None:
        """Import a model into the store as an ONNX artifact with its signature."""
        from lepton.api import import_model

        art = import_model(Path(model), name=name, shape=shape)
        console.print(
            f"[green]imported[/green] {art.name or model} as artifact {art.id} ({art.size_mb:.1f} MB, task {art.task})"
        )
        for t in art.signature.inputs:
            console.print(f"  input  {t.name}: {t.dtype} {list(t.shape)}")
        for t in art.signature.outputs:
            console.print(f"  output {t.name}: {t.dtype} {list(t.shape)}")

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
        from rich.table import Table

        from lepton.store import Store

        t = Table("run", "kind", "model", "status", "started", header_style="bold")
        listed = Store().runs(model)
        for r in listed:
            started = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created))
            t.add_row(r.id, r.kind, r.model or "-", r.status, started)
        console.print(t)
        stopped = [r.id for r in listed if r.kind == "optimize" and r.status in ("interrupted", "failed")]
        if stopped:
            console.print(f"continue an interrupted run with `lepton optimize --resume {stopped[0]}`")
