"""Which process owns a run or a scratch folder, and whether it is still alive.

A run records its owner (``host:pid``) and a heartbeat (refreshed on every trial it stores). A ``running`` run
whose owner is gone is shown as ``interrupted``; scratch folders left by a killed process are removed.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

HEARTBEAT_STALE_S = 30 * 60  # a run on another host with no trial for this long is taken as interrupted
SCRATCH_STALE_S = 60 * 60  # scratch folders without an owner tag (older versions) are removed after this


def owner_tag() -> str:
    """This process: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def owner_alive(owner: str | None, heartbeat: float | None, now: float | None = None) -> bool:
    """Whether the process that owns a run is still there: its pid on this host, else a recent heartbeat."""
    if not owner:
        return True  # runs written before owners were recorded: trust their status
    host, _, pid = owner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        return pid_alive(int(pid))
    return heartbeat is not None and (now or time.time()) - heartbeat < HEARTBEAT_STALE_S


def scratch_prefix() -> str:
    """Scratch folder names carry their owner's pid: ``build-<pid>-...``."""
    return f"build-{os.getpid()}-"


def remove_stale_scratch(tmp_dir: Path) -> list[str]:
    """Remove scratch folders whose owner process is gone (or, untagged, that are old); returns their names."""
    removed = []
    now = time.time()
    for path in tmp_dir.iterdir() if tmp_dir.exists() else ():
        if not path.is_dir():
            continue
        parts = path.name.split("-")
        if len(parts) >= 3 and parts[1].isdigit():
            stale = not pid_alive(int(parts[1]))
        else:
            try:
                stale = now - path.stat().st_mtime > SCRATCH_STALE_S
            except OSError:
                continue
        if stale:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed
