"""The memory this process may use: the machine's, or its cgroup's limit when lower (v2 ``memory.max``, v1
``memory.limit_in_bytes``, the tightest over the cgroup and its ancestors); and the share a search may take."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psutil

from lepton.hardware.cpus import _mounts, _up_to

SAFE_SHARE = 0.6  # of the memory this process may use: what a search takes by default (--max-memory)
_NO_LIMIT = 1 << 60  # cgroup v1 writes "no limit" as a huge number


@dataclass(frozen=True)
class MemoryBudget:
    """Bytes this process may use, and where the figure came from."""

    total: int
    source: str  # "cgroup limit" | "the machine's memory"

    def safe(self) -> int:
        """The default bound of a search: ``SAFE_SHARE`` of ``total``."""
        return int(self.total * SAFE_SHARE)

    def note(self) -> str:
        return f"{SAFE_SHARE:.0%} of {self.total / 1e9:.1f} GB ({self.source})"


def memory_budget(root: Path = Path("/")) -> MemoryBudget:
    machine = int(psutil.virtual_memory().total)
    limit = cgroup_memory_limit(root)
    if limit is not None and limit < machine:
        return MemoryBudget(limit, "cgroup limit")
    return MemoryBudget(machine, "the machine's memory")


def cgroup_memory_limit(root: Path = Path("/")) -> int | None:
    """The tightest memory limit in bytes over this process's cgroup and its ancestors; None: none set."""
    try:
        memberships = (root / "proc/self/cgroup").read_text().splitlines()
        mounts = (root / "proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    limits: list[int] = []
    for line in memberships:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        version = 2 if hierarchy == "0" and controllers == "" else 1 if "memory" in controllers.split(",") else 0
        if not version:
            continue
        for mount_root, mount_point in _mounts(mounts, version, "memory"):
            for d in _up_to(root, mount_root, mount_point, path):
                value = _limit(d, version)
                if value is not None:
                    limits.append(value)
    return min(limits) if limits else None


def _limit(directory: Path, version: int) -> int | None:
    name = "memory.max" if version == 2 else "memory.limit_in_bytes"
    try:
        text = (directory / name).read_text().strip()
    except OSError:
        return None
    if text == "max" or not text.isdigit():
        return None
    value = int(text)
    return value if value < _NO_LIMIT else None
