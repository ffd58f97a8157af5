"""``lepton optimize``, ``lepton report`` and ``lepton schema``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from lepton.cli.common import (
    DataOpt,
    ExampleOpt,
    InstanceOpt,
    JsonOpt,
    ModelArg,
    PricePerHourOpt,
    RayOpt,
    ShapeOpt,
    console,
)


def register(app: typer.Typer) -> None:
    @app.command()
    def optimize(
        model: ModelArg = None,
        example: ExampleOpt = None,
        data: DataOpt = None,
        shape: ShapeOpt = None,
        batch: Annotated[str | None, typer.Option(help="Batch sizes to measure every candidate at: 1,32.")] = None,
        slo: Annotated[
            str | None,
            typer.Option(
                help="Latency target: any percentile or the mean, in ms or s, optionally at a batch size, e.g. "
                "'p95<=20ms', 'p99.9<=0.1s', 'mean<=5ms', 'p95<=20ms@8'. lepton serve --slo takes the same."
            ),
        ] = None,
        max_drop: Annotated[float, typer.Option(help="Largest quality drop allowed (fraction).")] = 0.01,
        qps: Annotated[float | None, typer.Option(help="Target load in requests/s.")] = None,
        budget: Annotated[float | None, typer.Option(help="Monthly budget in USD at --qps.")] = None,
        objective: Annotated[str, typer.Option(help="cost | latency | throughput")] = "cost",
        trials: Annotated[int, typer.Option(help="Most candidates to measure; above it Optuna searches.")] = 80,
        time_budget: Annotated[
            float | None,
            typer.Option(help="Seconds for the whole search; screening stops early enough to verify the choice."),
        ] = None,
        instance: InstanceOpt = None,
        price_per_hour: PricePerHourOpt = None,
        sensitivity: Annotated[
            str, typer.Option(help="Keep the most sensitive int8 nodes in float: auto | on | off.")
        ] = "auto",
        exhaustive: Annotated[
            bool,
            typer.Option(
                help="Measure every setting quickly and everything near the frontier precisely, instead of "
                "successive halving (slower; the reference the default search is checked against)."
            ),
        ] = False,
        html: Annotated[Path | None, typer.Option(help="Write the HTML report here.")] = None,
        json: JsonOpt = None,
        resume: Annotated[
            str | None,
            typer.Option(help="Continue an interrupted run (see `lepton runs`) with its model and options."),
        ] = None,
        ray: RayOpt = None,
        hardware_price: Annotated[
            list[str] | None,
            typer.Option(
                help="With --ray: USD per hour of a kind of node the price catalog does not list, KIND=USD "
                "(repeatable), e.g. lab/big-box=0.42."
            ),
        ] = None,
        max_memory: Annotated[
            float | None,
            typer.Option(
                help="GB the search may take: calibration batches are cut, or a pass whose build would not fit "
                "skipped with its reason, to stay under it (default: 60% of the memory this process may use, the "
                "cgroup limit when lower)"
            ),
        ] = None,
        streams: Annotated[
            int | None,
            typer.Option(
                help="A causal LM's target load in concurrent streams: replicas are sized for it at the rate each "
                "stream had when the capacity was measured (--qps is output tokens/s for a causal LM)"
            ),
        ] = None,
    ) -> None:
        """Build optimized variants, measure and price them, and recommend one (exit 3 when none fits)."""
        from lepton.api import optimize as run_optimize
        from lepton.report.summary import print_summary
        from lepton.report.terminal import progress_bar

        with progress_bar(console, "optimizing") as update:
            result = run_optimize(
                model,
                example=example,
                data=data,
                shape=shape,
                batch=batch,
                slo=slo,
                max_drop=max_drop,
                qps=qps,
                budget=budget,
                objective=objective,
                trials=trials,
                time_budget=time_budget,
                instance=instance,
                price_per_hour=price_per_hour,
                sensitivity=sensitivity,
                exhaustive=exhaustive,
                html=html,
                json=json,
                resume=resume,
                ray=ray,
                hardware_price=hardware_price,
                max_memory=max_memory,
                streams=streams,
                progress=update,
            )
        print_summary(console, result)
        if json:
            console.print(f"wrote {json}")
        if html:
            console.print(f"report: {html}")
        if result.exit_code:
            sys.exit(result.exit_code)

    @app.command()
    def report(
        run: Annotated[str, typer.Argument(help="A run id from `lepton runs` (or 'latest').")],
        html: Annotated[Path, typer.Option(help="Where to write the HTML report.")] = Path("lepton-report.html"),
    ) -> None:
        """Write the self-contained HTML report of an optimize or train run."""
        from lepton.navigate.stored import stored_result
        from lepton.report.html import write_html
        from lepton.store import Store

        store = Store()
        if run != "latest" and store.run(run).summary.kind == "train":
            from lepton.report.html.train import write_train_html
            from lepton.training.run import stored_train_result

            write_train_html(stored_train_result(store.run(run).payload, run), html)
        else:
            from lepton.navigate.explain_run import stored_explanations

            result = stored_result(store, run)
            write_html(result, html, stored_explanations(store, result.run_id))
        console.print(f"report: {html}")

    @app.command()
    def schema(
        what: Annotated[str, typer.Argument(help="Which JSON output: optimize | bench | check.")] = "optimize",
    ) -> None:
        """Print the JSON Schema of a command's --json output."""
        import json

        from lepton.errors import UserError
        from lepton.schemas import SCHEMAS

        if what not in SCHEMAS:
            raise UserError(f"no schema {what!r}; the schemas are: {', '.join(sorted(SCHEMAS))}")
        typer.echo(json.dumps(SCHEMAS[what](), indent=2, sort_keys=True))
