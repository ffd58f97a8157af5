"""``lepton drift``: live inputs and outputs against the model's evaluation data (exit 1 when they drifted)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lepton.cli.common import JsonOpt, console


def register(app: typer.Typer) -> None:
    @app.command()
    def drift(
        name: Annotated[str, typer.Argument(help="A stored model (NAME or NAME:recommended) or an .onnx file.")],
        data: Annotated[
            str | None,
            typer.Option(
                "--data",
                help="Live inputs to judge (.npz .npy .parquet .csv or .txt), or captured:NAME (a server's capture).",
            ),
        ] = None,
        url: Annotated[
            str | None, typer.Option("--url", help="A server started with --drift: its current window instead.")
        ] = None,
        reference: Annotated[
            str | None,
            typer.Option(
                "--reference",
                help="Reference data (default: the model's own evaluation data), or captured:NAME (a capture).",
            ),
        ] = None,
        window: Annotated[int, typer.Option(help="Rows per sliding window of --data.")] = 500,
        html: Annotated[Path | None, typer.Option("--html", help="Write the HTML report here.")] = None,
        json: JsonOpt = None,
    ) -> None:
        """Compare live inputs and outputs with the model's evaluation data, per feature (PSI and KS)."""
        import sys

        from lepton import api
        from lepton.report.drift import drift_table, first_alarm, verdict_line

        result = api.drift(name, data=data, url=url, reference=reference, window=window, html=html, json=json)
        report, timeline = result.report, result.timeline
        console.print(drift_table(report))
        if report.reference == "synthesized":
            console.print("note: the reference is synthesized from the signature; give --reference for real data")
        if timeline:
            console.print(
                first_alarm(timeline, window) or f"no window of {window} rows alarmed ({len(timeline)} judged)"
            )
        console.print(verdict_line(report), highlight=False)
        alarmed = result.alarmed
        if alarmed is not None and not report.alert:  # a monitor would have alarmed on the way
            console.print(f"in window {timeline.index(alarmed) + 1}: {verdict_line(alarmed)}", highlight=False)
        if html:
            console.print(f"wrote {html}")
        if result.exit_code:
            sys.exit(result.exit_code)
