"""The ``lepton`` command line: a Typer app mirroring ``lepton.api``, one module per command."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from lepton.cli import bench, models, optimize, serve
from lepton.cli.common import console, state
from lepton.errors import LeptonError
from lepton.settings import offline_hub

app = typer.Typer(
    name="lepton",
    help="Take a trained model to production at the best trade-off of speed, cost and accuracy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    state["debug"] = debug


for _command in (models, bench, optimize, serve):
    _command.register(app)


def main() -> None:
    offline_hub()
    try:
        app(standalone_mode=False)
    except LeptonError as e:
        if state["debug"]:
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


__all__ = ["app", "main"]
