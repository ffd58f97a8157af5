"""Who else used the CPU while a block was timed: interference detection.

Around each timed block Lepton reads the machine's CPU time (``/proc/stat``: busy time of every CPU, and steal time,
the time a hypervisor gave this VM's CPUs to someone else) and this process tree's own CPU time. What the machine
spent beyond this process tree is *other* CPU time. A block during which others used more than
``DISTURBED_SHARE`` of a core (beyond the cores this measurement leaves idle) is *disturbed*: its figures are not
quoted as facts; it is dropped and measured again, or flagged.

Why 0.10 of a core: on 2 vCPUs a measurement that keeps both cores busy loses about half of what another process
takes, so another process using a tenth of a core skews a well-behaved engine by up to ~5%, the size of
``MIN_GAIN`` (what a rerun moves anyway); OpenMP-synchronised engines (PyTorch eager) lose far more per unit of
stolen time, so the threshold sits near the quiet floor (daemons, the kernel: a few hundredths of a core here,
see BENCHMARKS.md) rather than higher.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from lepton.contract import Contract

DISTURBED_SHARE = 0.10  # cores' worth of other CPU use over a block's wall time that makes it disturbed
_TICK_S = 1.0 / (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)
_PROC = Path("/proc")


class Disturbance(Contract):
    """Other processes' CPU use during a measurement's disturbed blocks (what a flag on a figure says)."""

    other_cpu_s: float  # CPU seconds other processes used during the disturbed blocks
    steal_s: float  # CPU seconds the hypervisor gave to other machines then
    seconds: float  # wall seconds of the disturbed blocks
    blocks: int  # disturbed blocks
    of_blocks: int  # blocks timed in all
    busiest: str | None = None  # the process that used the most CPU then: "python pytest (pid 123)"
    also: tuple[str, ...] = ()  # the next busiest ones (two at most)
    load_before: float | None = None  # 1-minute load average before and after the measurement
    load_after: float | None = None

    @property
    def share(self) -> float:
        """Cores' worth of other use over the disturbed time."""
        return (self.other_cpu_s + self.steal_s) / self.seconds if self.seconds > 0 else 0.0

    @property
    def text(self) -> str:
        who = f"; busiest: {self.busiest}" if self.busiest else ""
        return (
            f"disturbed: other processes used {self.share:.2f} of a CPU in {self.blocks} of {self.of_blocks} "
            f"timed blocks{who}"
        )

    @staticmethod
    def merge(parts: list[Disturbance]) -> Disturbance | None:
        """One record for several measurements (a paired comparison's sides)."""
        if not parts:
            return None
        top = max(parts, key=lambda d: d.other_cpu_s)
        return Disturbance(
            other_cpu_s=round(sum(d.other_cpu_s for d in parts), 3),
            steal_s=round(sum(d.steal_s for d in parts), 3),
            seconds=round(sum(d.seconds for d in parts), 3),
            blocks=sum(d.blocks for d in parts),
            of_blocks=sum(d.of_blocks for d in parts),
            busiest=top.busiest,
            also=top.also,
            load_before=parts[0].load_before,
            load_after=parts[-1].load_after,
        )


@dataclass(frozen=True)
class CpuClock:
    """CPU time read at one moment: the machine's busy and steal seconds, and this process tree's own."""

    wall: float
    busy_s: float
    steal_s: float
    own_s: float

    @classmethod
    def now(cls) -> CpuClock:
        busy, steal = _machine_cpu()
        return cls(time.perf_counter(), busy, steal, _own_tree_cpu())


@dataclass(frozen=True)
class Block:
    """What others did to the CPU during one timed block."""

    seconds: float
    other_cpu_s: float
    steal_s: float
    own_cpu_s: float

    @property
    def other_share(self) -> float:
        return (self.other_cpu_s + self.steal_s) / self.seconds if self.seconds > 0 else 0.0

    def disturbed(self, cpus: int | None = None) -> bool:
        """More than ``DISTURBED_SHARE`` of a core used by others, beyond the cores this measurement left idle
        (on a machine with spare cores, others may use them without touching the measurement)."""
        if self.other_cpu_s + self.steal_s < 2 * _TICK_S:  # one stray tick of the kernel's clock is not a load
            return False
        cpus = cpus or machine_cpus()
        own_share = self.own_cpu_s / self.seconds if self.seconds > 0 else 0.0
        spare = max(0.0, cpus - own_share - 1.0)  # a whole core of margin: the measurement's own bursts
        return self.other_share > DISTURBED_SHARE + spare


def between(start: CpuClock, end: CpuClock) -> Block:
    """The block from ``start`` to ``end``; the machine's clock and the process's tick at different moments, so
    other use is clamped at zero (it is never negative)."""
    own = max(0.0, end.own_s - start.own_s)
    busy = max(0.0, end.busy_s - start.busy_s)
    return Block(
        seconds=max(end.wall - start.wall, 1e-9),
        other_cpu_s=max(0.0, busy - own),
        steal_s=max(0.0, end.steal_s - start.steal_s),
        own_cpu_s=own,
    )


def _machine_cpu() -> tuple[float, float]:
    """(busy, steal) seconds of every CPU since boot; (0, 0) where ``/proc/stat`` does not exist."""
    try:
        first = (_PROC / "stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return 0.0, 0.0
    # cpu user nice system idle iowait irq softirq steal guest guest_nice (guest time is inside user already)
    v = [int(x) for x in first[1:]] + [0] * 10
    user, nice, system, _idle, _iowait, irq, softirq, steal = v[:8]
    return (user + nice + system + irq + softirq) * _TICK_S, steal * _TICK_S


def _own_tree_cpu() -> float:
    """CPU seconds of this process, its reaped children and its live descendants."""
    me = psutil.Process()
    t = me.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    try:
        for child in me.children(recursive=True):
            try:
                ct = child.cpu_times()
                total += ct.user + ct.system
            except psutil.Error:
                continue
    except psutil.Error:
        pass
    return float(total)


def machine_cpus() -> int:
    """The CPUs ``/proc/stat`` counts (the whole machine the busy time is summed over)."""
    try:
        lines = (_PROC / "stat").read_text().splitlines()
    except OSError:
        return os.cpu_count() or 1
    return max(1, sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit()))


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


class ProcessTicks:
    """Every other process's CPU ticks at one moment, to name the busiest one over a span."""

    def __init__(self) -> None:
        self.ticks = _all_ticks()

    def busiest_since(self, n: int = 3) -> list[str]:
        """The ``n`` processes (not of this process tree) that used the most CPU since this snapshot, busiest
        first."""
        mine = {os.getpid()}
        try:
            mine |= {p.pid for p in psutil.Process().children(recursive=True)}
        except psutil.Error:
            pass
        now = _all_ticks()
        used = {pid: t - self.ticks.get(pid, 0) for pid, t in now.items() if pid not in mine}
        top = sorted((p for p in used if used[p] > 0), key=lambda p: -used[p])[:n]
        return [f"{_describe(pid)} (pid {pid})" for pid in top]


def _all_ticks() -> dict[int, int]:
    out: dict[int, int] = {}
    for entry in _PROC.glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        out[int(entry.name)] = int(fields[11]) + int(fields[12])  # utime + stime
    return out


def _describe(pid: int) -> str:
    """``python pytest`` from the command line: the program and its first argument that is not an option."""
    try:
        argv = (_PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    words = [Path(a.decode(errors="replace")).name for a in argv if a]
    if not words:
        try:
            return (_PROC / str(pid) / "comm").read_text().strip()
        except OSError:
            return "?"
    rest = [w for w in words[1:] if not w.startswith("-")]
    return " ".join(words[:1] + rest[:1])


class Watch:
    """Interference over one measurement, block by block: ``start_block()`` / ``end_block()`` around each timed
    block; ``disturbance()`` sums the disturbed ones and names the busiest other process."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.disturbed: list[Block] = []
        self._cpus = machine_cpus()
        self._start: CpuClock | None = None
        self._ticks: ProcessTicks | None = None
        self._busiest: list[str] = []
        self.load_before = load_average()

    def start_block(self) -> None:
        self._start = CpuClock.now()
        if self._ticks is None:
            self._ticks = ProcessTicks()

    def end_block(self) -> bool:
        """Close the block; True when it was disturbed."""
        assert self._start is not None, "end_block() without start_block()"
        block = between(self._start, CpuClock.now())
        self._start = None
        self.blocks.append(block)
        if block.disturbed(self._cpus):
            self.disturbed.append(block)
            if self._ticks is not None:  # name the culprit while it is still running
                self._busiest = self._ticks.busiest_since() or self._busiest
                self._ticks = ProcessTicks()
            return True
        return False

    def disturbance(self, *, only_if: bool = True) -> Disturbance | None:
        """The disturbed blocks as one record (None when none was, or ``only_if`` is False)."""
        if not self.disturbed or not only_if:
            return None
        return Disturbance(
            other_cpu_s=round(sum(b.other_cpu_s for b in self.disturbed), 3),
            steal_s=round(sum(b.steal_s for b in self.disturbed), 3),
            seconds=round(sum(b.seconds for b in self.disturbed), 3),
            blocks=len(self.disturbed),
            of_blocks=len(self.blocks),
            busiest=self._busiest[0] if self._busiest else None,
            also=tuple(self._busiest[1:]),
            load_before=self.load_before,
            load_after=load_average(),
        )
