"""``lepton rollout`` (a model's rollout history) and ``lepton replay`` (captured traffic against a server)."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("rollout")
    def rollout_cmd(
        name: Annotated[str, typer.Argument(help="The served model name")],
        json_out: Annotated[bool, typer.Option("--json", help="Print the events as JSON")] = False,
    ) -> None:
        """Every stored step and decision of a model's gated rollouts (lepton serve --candidate), with evidence."""
        from lepton.serve.rollout_history import history, lines
        from lepton.store.store import Store

        events = history(Store(), name)
        if json_out:
            typer.echo(json.dumps([e.to_json() for e in events], indent=2))
            return
        for line in lines(events):
            typer.echo(line)

    @app.command("replay")
    def replay_cmd(
        name: Annotated[str, typer.Argument(help="The model whose captured traffic to send (lepton serve --capture)")],
        url: Annotated[str, typer.Argument(help="Server URL, e.g. http://127.0.0.1:8000")],
        speed: Annotated[str, typer.Option(help="Faster or slower than recorded: 2x, 0.5x")] = "1x",
        model: Annotated[str | None, typer.Option(help="The served model to send to (default: NAME)")] = None,
        limit: Annotated[int, typer.Option(help="At most this many requests (the newest captured)")] = 10_000,
        max_in_flight: Annotated[int, typer.Option(help="Requests in flight at once")] = 64,
        timeout: Annotated[float, typer.Option(help="Per-request timeout, seconds")] = 60.0,
        json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
    ) -> None:
        """Send a model's captured requests to a server at their recorded arrival times."""
        from lepton.serve.replay import ReplaySpec, parse_speed, replay

        spec = ReplaySpec(name, url, model, parse_speed(speed), limit, max_in_flight, timeout)
        result = replay(spec)
        typer.echo(json.dumps(result.to_json(), indent=2) if json_out else result.summary())
