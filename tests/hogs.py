"""A real CPU hog for the interference tests: another process, bounded in time, that is not a descendant of the
test process (as on a shared machine, where the busy process belongs to someone else)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def hog(tmp_path: Path, seconds: float) -> Iterator[int]:
    """A busy loop in a detached process (``sh`` starts it in the background and exits, so it is not this
    process's descendant); it ends by itself after ``seconds`` and is killed on the way out. Yields its pid."""
    script = tmp_path / "hog.py"
    script.write_text(f"import time\nend = time.time() + {seconds}\nwhile time.time() < end:\n    pass\n")
    pid_file = tmp_path / "hog.pid"
    subprocess.run(["sh", "-c", f"{sys.executable} {script} & echo $! > {pid_file}"], check=True)
    pid = int(pid_file.read_text())
    time.sleep(0.3)  # let it start spinning
    try:
        yield pid
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
