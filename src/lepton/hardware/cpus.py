"""The CPUs this process may use: the lower of its affinity mask and its cgroup's CPU quota.

A container's quota is invisible to ``os.cpu_count()`` (and to ONNX Runtime's, OpenMP's and PyTorch's own
defaults): a 2-CPU pod on a 64-core host would start 64 threads and be throttled. The quota is read from the
process's cgroup and every ancestor up to the hierarchy's root (the tightest wins), cgroup v2 (``cpu.max``) or
v1 (``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``), found through ``/proc/self/cgroup`` and
``/proc/self/mountinfo``. Every path is read under ``root``, so tests point it at a fixture tree.

A fractional quota (1.5 CPUs) is reported as it is and rounded two ways: *up* for the vCPUs a machine must
have to host it (the priced instance, the ``vCPU`` figure), and *down*, at least 1, for the threads that run
busy at once. The kernel enforces a quota per period (100 ms): two busy threads under 1.5 CPUs spend the
period's 150 ms in 75 ms and then all stall for 25 ms, a pause that lands on whichever inference straddles it
(the tail) and that every OpenMP barrier then waits for; one thread never reaches the quota.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

CpuLimit = Literal["host", "affinity", "cgroup"]
_EPS = 1e-9


@dataclass(frozen=True)
class CpuBudget:
    """``cpus`` the process may use (fractional under a quota), what set it, and the host's CPU count."""

    cpus: float
    limit: CpuLimit
    host_cpus: int

    @property
    def threads(self) -> int:
        """Busy threads that fit: a fractional quota rounded down, at least 1 (see the module's docstring)."""
        return max(1, math.floor(self.cpus + _EPS))

    @property
    def vcpus(self) -> int:
        """The vCPUs a machine needs to give this process as much: rounded up."""
        return max(1, math.ceil(self.cpus - _EPS))

    def describe(self) -> str:
        """Where the figure came from, e.g. ``2.0 CPUs: cgroup quota on a 64-CPU host``."""
        if self.limit == "cgroup":
            return f"{self.cpus:.1f} CPUs: cgroup quota on a {self.host_cpus}-CPU host"
        if self.limit == "affinity":
            return f"{self.vcpus} CPUs: affinity mask on a {self.host_cpus}-CPU host"
        return f"{self.vcpus} CPUs: all of the host"


def cpu_budget(root: Path = Path("/"), *, affinity: int | None = None, host: int | None = None) -> CpuBudget:
    """This process's CPUs: the affinity mask's size or the cgroup quota, whichever is lower."""
    host = host or os.cpu_count() or 1
    if affinity is None:
        affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else host
    quota = cgroup_quota(root)
    if quota is not None and quota < affinity:
        return CpuBudget(round(quota, 3), "cgroup", host)
    return CpuBudget(float(affinity), "affinity" if affinity < host else "host", host)


def cgroup_quota(root: Path = Path("/")) -> float | None:
    """The tightest CPU quota, in CPUs, over this process's cgroup and its ancestors; None: no quota (or no
    cgroup filesystem readable)."""
    try:
        memberships = (root / "proc/self/cgroup").read_text().splitlines()
        mounts = (root / "proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    quotas: list[float] = []
    for line in memberships:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            version = 2
        elif "cpu" in controllers.split(","):
            version = 1
        else:
            continue
        for mount_root, mount_point in _mounts(mounts, version):
            quotas += [q for d in _up_to(root, mount_root, mount_point, path) if (q := _quota(d, version)) is not None]
    return min(quotas) if quotas else None


def _mounts(mountinfo: list[str], version: int, controller: str = "cpu") -> list[tuple[str, str]]:
    """(root within the hierarchy, mount point) of each mount of the cgroup v2 hierarchy, or of the v1 hierarchy
    that holds ``controller`` (cpu, memory)."""
    out = []
    for line in mountinfo:
        fields = line.split()
        if "-" not in fields:
            continue
        sep = fields.index("-")
        if sep < 5 or len(fields) < sep + 4:
            continue
        fstype, superopts = fields[sep + 1], fields[sep + 3]
        if (version == 2 and fstype == "cgroup2") or (
            version == 1 and fstype == "cgroup" and controller in superopts.split(",")
        ):
            out.append((_unescape(fields[3]), _unescape(fields[4])))
    return out


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (``\\040``)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def _up_to(root: Path, mount_root: str, mount_point: str, path: str) -> list[Path]:
    """The cgroup's directory and each parent up to the mount point (the hierarchy's top visible here).

    A cgroup path outside the mount's root (a container that sees only its own subtree, without a cgroup
    namespace) is the mount point itself."""
    top = root / mount_point.lstrip("/")
    mount_root = mount_root.rstrip("/")
    if path == mount_root or path.startswith(mount_root + "/"):
        rel = path[len(mount_root) :].strip("/")
    else:
        rel = ""
    parts = [p for p in rel.split("/") if p and p not in (".", "..")]
    return [top.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]


def _quota(directory: Path, version: int) -> float | None:
    """The quota one cgroup directory sets, in CPUs; None: none set (or unreadable)."""
    try:
        if version == 2:
            quota, _, period = (directory / "cpu.max").read_text().strip().partition(" ")
            if quota == "max":
                return None
            q, p = int(quota), int(period or 100_000)
        else:
            q = int((directory / "cpu.cfs_quota_us").read_text().strip())
            p = int((directory / "cpu.cfs_period_us").read_text().strip())
    except (OSError, ValueError):
        return None
    return q / p if q > 0 and p > 0 else None
