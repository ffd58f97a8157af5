"""``lepton optimize`` and ``lepton report``: registered on the main Typer app by ``lepton.cli``."""

import sys
from pathlib import Path
from typing import Annotated, Any

import typer


def register(app: typer.Typer) -> None:
    from lepton.cli import DataOpt, ExampleOpt, ModelArg, ShapeOpt, console, parse_int_list, write_json

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
        time_budget: Annotated[float | None, typer.Option(help="Stop screening after this many seconds.")] = None,
        instance: Annotated[str | None, typer.Option(help="Price as this catalog instance.")] = None,
        price_per_hour: Annotated[float | None, typer.Option(help="Price one replica at this USD/hour.")] = None,
        json_path: Annotated[Path | None, typer.Option("--json", help="Write the result as JSON here.")] = None,
        html: Annotated[Path | None, typer.Option(help="Write the HTML report here.")] = None,
        sensitivity: Annotated[
            str, typer.Option(help="Keep the most sensitive int8 nodes in float: auto | on | off.")
        ] = "auto",
    ) -> None:
        """Build optimized variants, measure and price them, and recommend one (exit 3 when none fits)."""
        from lepton.ir.signature import parse_shape_pins
        from lepton.navigate.navigator import optimize as run_optimize
        from lepton.navigate.targets import Targets, parse_slo
        from lepton.report.terminal import progress_bar

        targets = Targets(parse_slo(slo) if slo else None, max_drop, qps, budget, objective)
        with progress_bar(console, "optimizing") as update:
            result = run_optimize(
                model,
                example=example,
                data=data,
                shapes=parse_shape_pins(shape or []) or None,
                targets=targets,
                batch_sizes=parse_int_list(batch, "--batch") if batch else None,
                trials=trials,
                time_budget=time_budget,
                instance=instance,
                price_per_hour=price_per_hour,
                progress=update,
                html=html,
                sensitivity=sensitivity,
            )
        print_summary(console, result.to_json())
        if json_path:
            write_json(json_path, result.to_json())
            console.print(f"wrote {json_path}")
        if html:
            console.print(f"report: {html}")
        if result.exit_code:
            sys.exit(result.exit_code)

    @app.command()
    def report(
        run: Annotated[str, typer.Argument(help="A run id from `lepton runs` (or 'latest').")],
        html: Annotated[Path, typer.Option(help="Where to write the HTML report.")] = Path("lepton-report.html"),
    ) -> None:
        """Write the self-contained HTML report of an optimize run."""
        from lepton.errors import UserError
        from lepton.report.html import write_html
        from lepton.store import Store

        store = Store()
        if run == "latest":
            runs = [r for r in store.runs() if r["kind"] == "optimize"]
            if not runs:
                raise UserError("no optimize run in the store yet; run `lepton optimize` first")
            run = runs[0]["id"]
        data = run_data(store.run(run))
        write_html(data, html)
        console.print(f"report: {html}")


def run_data(stored: dict[str, Any]) -> dict[str, Any]:
    """The optimize result as it was, rebuilt from the run summary and its trial rows."""
    from lepton.errors import UserError

    if stored["kind"] != "optimize":
        raise UserError(f"run {stored['id']} is a {stored['kind']} run; `lepton report` needs an optimize run")
    data = dict(stored["summary"])
    data["trials"] = sorted(stored["trials"], key=lambda t: int(str(t["id"]).lstrip("t") or 0))
    data.setdefault("run_id", stored["id"])
    return data


def condensed(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows a person reads first: baselines, then each variant's cheapest record per batch size."""
    rec_id = data.get("recommended")
    current = [t for t in data["trials"] if "superseded_by" not in t]
    best: dict[tuple[str, int], dict[str, Any]] = {}
    for t in current:
        key = (t.get("variant", ""), t["batch_size"])
        if "latency_ms" not in t:
            best.setdefault(key, t)
            continue
        old = best.get(key)
        if (
            t["id"] == rec_id
            or old is None
            or "latency_ms" not in old
            or (old["id"] != rec_id and t["cost"]["usd_per_1m"] < old["cost"]["usd_per_1m"])
        ):
            best[key] = t
    rows = sorted(best.values(), key=lambda t: (t["batch_size"], t.get("cost", {}).get("usd_per_1m", float("inf"))))
    return [t for t in current if t.get("role") == "baseline"] + [t for t in rows if t.get("role") != "baseline"]


def print_summary(console: Any, data: dict[str, Any]) -> None:
    from lepton.report.terminal import trials_table

    shown = condensed(data)
    hidden = sum(1 for t in data["trials"] if "superseded_by" not in t) - len(shown)
    name = data["model"].get("name") or data["model"]["artifact_id"]
    title = f"{name}: best setting of each variant per batch size" + (
        f" ({hidden} more in --json/--html)" if hidden else ""
    )
    console.print(trials_table(shown, show_variant=True, title=title))
    for note in data.get("notes", []):
        console.print(f"[dim]note: {note}[/dim]")
    for t in shown:
        if t.get("status") == "rejected":
            console.print(f"[yellow]{t['id']} rejected:[/yellow] {'; '.join(t.get('reasons', []))}")
    sens = data.get("sensitivity") or {}
    if sens.get("seconds") is not None:
        kept = len(sens.get("kept_float") or [])
        console.print(
            f"sensitivity: {sens['why']}; ranked the int8 nodes in {sens['seconds']:.0f} s; "
            + (
                f"keeping {kept} in float reaches fidelity {sens['target']:g}"
                if sens["reached"]
                else f"fidelity {sens['target']:g} not reached by the k tried"
            )
        )
    s = data["search"]
    console.print(
        f"search: {s['strategy']}, {s['candidates']} candidates, {s['measured']} measurements "
        f"({s['precise']} precise) in {s['seconds']:.0f} s"
    )
    if data.get("recommended"):
        console.print(f"[bold green]recommended {data['recommended']}:[/bold green] {data['reason']}")
        for g in data.get("gains", []):
            console.print(
                f"  vs baseline at batch {g['batch_size']} ({g.get('threads', '?')} threads): "
                f"{g['single_stream_throughput_x']:.2f}x throughput single-stream, {g['throughput_x']:.2f}x loaded, "
                f"{g['p50_x']:.2f}x lower p50, {g['cost_x']:.2f}x cheaper per 1M"
            )
        console.print(f"frontier: {', '.join(data['frontier'])}")
    else:
        console.print(f"[bold red]no candidate meets the targets:[/bold red] {data['closest_miss']['text']}")
