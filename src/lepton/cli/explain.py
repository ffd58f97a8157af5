"""``lepton explain``: where a trial's time and accuracy go, per op and per layer, beside its parent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lepton.cli.common import DataOpt, JsonOpt, console


def register(app: typer.Typer) -> None:
    @app.command()
    def explain(
        run: Annotated[str, typer.Argument(help="An optimize run id from `lepton runs` (or 'latest').")],
        trial: Annotated[
            str | None, typer.Option("--trial", help="The trial to explain (default: the recommended variant).")
        ] = None,
        quality: Annotated[
            bool,
            typer.Option(
                "--quality",
                help="Also measure what keeping each quantized node in float recovers, and compare its output with "
                "the float model's.",
            ),
        ] = False,
        runs: Annotated[int, typer.Option(help="Profiled calls per model.", min=1)] = 10,
        rows: Annotated[int, typer.Option(help="Rows of each table shown.", min=1)] = 10,
        data: DataOpt = None,
        html: Annotated[Path | None, typer.Option(help="Write the run's HTML report with this section.")] = None,
        json: JsonOpt = None,
    ) -> None:
        """Profile a trial under its engine's own profiler beside its parent: time by op type and block, what the
        pass added, why it is slower; with --quality, which nodes lose the accuracy."""
        from lepton.fileio import write_atomic
        from lepton.navigate.explain_run import explain as explain_trial
        from lepton.report.explain import print_explanation
        from lepton.store import Store

        store = Store()
        e = explain_trial(store, run, trial, quality=quality, data=data, runs=runs)
        print_explanation(console, e, rows)
        if json:
            import json as json_module

            write_atomic(json, json_module.dumps(e.to_json(), indent=2))
            console.print(f"wrote {json}")
        if html:
            from lepton.navigate.stored import stored_result
            from lepton.report.html import write_html

            write_html(stored_result(store, e.run_id), html, explanations=(e,))
            console.print(f"report: {html}")
