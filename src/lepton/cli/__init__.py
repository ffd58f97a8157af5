"""The ``lepton`` command line: a Typer app mirroring ``lepton.api``, one module per command."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from lepton.cli import bench, check, drift, explain, models, optimize, rollout, serve, train
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


for _command in (models, bench, optimize, train, serve, explain, check, drift, rollout):
    _command.register(app)


def main() -> None:
    offline_hub()
    try:
        app(args=ray_flag(sys.argv[1:]), standalone_mode=False)
    except LeptonError as e:
        if state["debug"]:
            raise
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]")
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        console.print("[yellow]interrupted[/yellow]")
        sys.exit(130)
    except typer.TyperException as e:  # click's usage errors: an unknown option or command, a bad value
        if state["debug"]:
            raise
        console.print(f"[red]error:[/red] {escape(usage_line(e))}", highlight=False, soft_wrap=True)
        sys.exit(2)


def ray_flag(argv: list[str]) -> list[str]:
    """``--ray`` takes an optional address: alone (last, or before another option or a MODEL) it means the cluster
    this machine joined with ``ray start`` (``--ray auto``). An address is ``auto``, ``HOST:PORT`` or
    ``ray://...``; anything else after ``--ray`` is the next argument."""
    import re

    out: list[str] = []
    for i, arg in enumerate(argv):
        out.append(arg)
        if arg == "--ray":
            following = argv[i + 1] if i + 1 < len(argv) else ""
            if not re.fullmatch(r"auto|ray://\S+|[\w.\-]+:\d+|\[[0-9a-fA-F:]+\]:\d+", following):
                out.append("auto")
    return out


def usage_line(e: typer.TyperException) -> str:
    """Click's message (with its "did you mean") on one line, and where to look."""
    message = " ".join(str(getattr(e, "format_message", lambda: str(e))()).split())
    ctx = getattr(e, "ctx", None)
    path = ctx.command_path if ctx is not None else "lepton"
    return f"{message} (see `{path} --help`)"


__all__ = ["app", "main"]
