"""``lepton ARGS`` in this process, through the same ``main()`` the console script runs (its error handling, exit
codes and output), without the interpreter start and imports each ``python -m lepton`` pays (seconds each).
Tests about the process itself (the console script, --debug, kill -9) keep a real one."""

from __future__ import annotations

import io
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from unittest.mock import patch

from lepton.cli import main


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with patch.object(sys, "argv", ["lepton", *args]), redirect_stdout(out), redirect_stderr(err):
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return subprocess.CompletedProcess(["lepton", *args], code, out.getvalue(), err.getvalue())
