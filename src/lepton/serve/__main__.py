"""``python -m lepton.serve serve MODEL ...``: the serve commands without the rest of the CLI."""

from __future__ import annotations

import sys

import typer

from lepton.errors import UserError
from lepton.serve.cli import register

app = typer.Typer(add_completion=False, no_args_is_help=True)
register(app)


def main() -> None:
    try:
        app(standalone_mode=False)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
