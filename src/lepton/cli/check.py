"""``lepton check``: a regression gate for CI (exit 0 pass, 1 regressed, 4 disturbed, 2 bad input)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lepton.cli.common import JsonOpt, console


def register(app: typer.Typer) -> None:
    @app.command()
    def check(
        name: Annotated[str, typer.Argument(help="A stored model with a finished optimize run.")],
        against: Annotated[
            str | None, typer.Option("--against", help="The run to compare with (default: the latest optimize run).")
        ] = None,
        model: Annotated[
            Path | None, typer.Option("--model", help="A new .onnx model measured in place of the deployed variant.")
        ] = None,
        data: Annotated[
            str | None,
            typer.Option(
                "--data",
                help="Measure on this data instead of the run's: a file, or captured:NAME (a server's capture).",
            ),
        ] = None,
        tolerance: Annotated[
            float, typer.Option(help="Paired: a candidate worse by more than this share (beyond the interval) fails.")
        ] = 0.05,
        recorded_tolerance: Annotated[
            float, typer.Option(help="Against the run's stored figures (another process, another time).")
        ] = 0.25,
        retries: Annotated[int, typer.Option(help="Measure again this many times while disturbed.")] = 1,
        if_disturbed: Annotated[
            str, typer.Option("--if-disturbed", help="exit: exit 4 with no verdict; judge: decide on flagged figures.")
        ] = "exit",
        seconds: Annotated[float, typer.Option(help="Minimum measuring time per side (s).")] = 3.0,
        junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here.")] = None,
        json: JsonOpt = None,
    ) -> None:
        """Measure the deployed variant (or --model) again here and exit 1 if p95, $/1M or quality regressed."""
        import sys

        from lepton import api
        from lepton.report.check import summary_lines

        with console.status("measuring"):
            result = api.check(
                name,
                against=against,
                model=model,
                data=data,
                tolerance=tolerance,
                recorded_tolerance=recorded_tolerance,
                retries=retries,
                if_disturbed=if_disturbed,
                seconds=seconds,
                junit=junit,
                json=json,
            )
        for line in summary_lines(result):
            console.print(line, highlight=False, soft_wrap=True, markup=False)
        if result.exit_code:
            sys.exit(result.exit_code)
