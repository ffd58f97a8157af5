"""``lepton bench``: one model under several engines and batch sizes."""

from __future__ import annotations

from typing import Annotated

import typer

from lepton.cli.common import (
    DataOpt,
    ExampleOpt,
    InstanceOpt,
    JsonOpt,
    ModelArg,
    PricePerHourOpt,
    QpsOpt,
    ShapeOpt,
    console,
)


def register(app: typer.Typer) -> None:
    @app.command()
    def bench(
        model: ModelArg = None,
        example: ExampleOpt = None,
        engine: Annotated[
            str | None,
            typer.Option(help="Engines, comma-separated: onnxruntime,torch (default: all that run it)."),
        ] = None,
        batch: Annotated[
            str | None, typer.Option(help="Batch sizes, comma-separated: 1,32 (default: 1, or a fixed batch dim).")
        ] = None,
        threads: Annotated[int, typer.Option(help="Intra-op threads (0: the engine's default).")] = 0,
        data: DataOpt = None,
        shape: ShapeOpt = None,
        instance: InstanceOpt = None,
        price_per_hour: PricePerHourOpt = None,
        qps: QpsOpt = None,
        seconds: Annotated[float, typer.Option(help="Minimum measuring time per configuration (s).")] = 2.0,
        json: JsonOpt = None,
    ) -> None:
        """Measure a model under one or more engines and batch sizes: latency, throughput, memory, quality, cost."""
        from lepton.api import bench as run_bench
        from lepton.report.terminal import engine_ratios, progress_bar, trials_table

        with progress_bar(console, "measuring") as update:
            result = run_bench(
                model,
                example=example,
                engine=engine,
                batch=batch,
                threads=threads,
                data=data,
                shape=shape,
                instance=instance,
                price_per_hour=price_per_hour,
                qps=qps,
                seconds=seconds,
                json=json,
                progress=update,
            )
        console.print(trials_table(result.trials, title=f"{result.model.display_name} on {result.hardware.summary()}"))
        p = result.price
        console.print(f"price: {p.instance} at ${p.usd_per_hour}/h ({p.matched}; {p.source})")
        console.print(f"workload: {result.workload}")
        for line in engine_ratios(result.trials):
            console.print(line)
        if json:
            console.print(f"wrote {json}")
