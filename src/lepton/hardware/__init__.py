"""Hardware detection (CPU model and instruction flags, the CPUs this process may use, memory, GPU) and the
thread policy that follows from it: how many intra-op threads a session gets when nobody said, which thread
counts the search measures, how many serving lanes run side by side. Every engine, the search, the server and
training ask here, so a container's CPU quota reaches all of them."""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from lepton.hardware.cpus import CpuBudget, CpuLimit, cpu_budget

# Flags that decide whether a precision pass pays off on a CPU.
INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
FP16_FLAGS = ("avx512_fp16", "amx_fp16")


@dataclass(frozen=True)
class Hardware:
    cpu_model: str
    vendor: str  # "intel", "amd", "arm", "unknown"
    arch: str
    logical_cores: int
    physical_cores: int
    memory_gb: float
    flags: frozenset[str] = field(default_factory=frozenset)
    gpus: tuple[str, ...] = ()
    # The CPUs this process may use (the affinity mask or the cgroup quota, whichever is lower; fractional under
    # a quota), what set the figure, and the host's CPU count; None: a record made before they were recorded.
    # ``logical_cores`` is ``cpus`` rounded up (what an instance must have), ``physical_cores`` the busy threads.
    cpus: float | None = None
    cpu_limit: CpuLimit | None = None
    host_cpus: int | None = None

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpus)

    @property
    def int8_accel(self) -> str | None:
        """The CPU feature that makes int8 matrix math fast here (VNNI/AMX), or None."""
        return next((f for f in INT8_FLAGS if f in self.flags), None)

    @property
    def bf16_native(self) -> str | None:
        return next((f for f in BF16_FLAGS if f in self.flags), None)

    @property
    def fp16_native(self) -> str | None:
        return next((f for f in FP16_FLAGS if f in self.flags), None)

    @property
    def cpu_budget(self) -> CpuBudget | None:
        if self.cpus is None or self.cpu_limit is None:
            return None
        return CpuBudget(self.cpus, self.cpu_limit, self.host_cpus or self.logical_cores)

    def cpu_note(self) -> str:
        """Where the CPU figure came from (``2.0 CPUs: cgroup quota on a 64-CPU host``); '' when not recorded."""
        budget = self.cpu_budget
        return budget.describe() if budget else ""

    def capabilities(self) -> frozenset[str]:
        """Tags passes and engines declare they need: ``cpu``, ``gpu``, ``int8``, ``bf16``, ``fp16``."""
        caps = {"cpu"}
        if self.has_gpu:
            caps |= {"gpu", "fp16", "bf16", "int8"}
        if self.int8_accel:
            caps.add("int8")
        if self.bf16_native:
            caps.add("bf16")
        if self.fp16_native:
            caps.add("fp16")
        return frozenset(caps)

    def summary(self) -> str:
        accel = [f for f in (self.int8_accel, self.bf16_native, self.fp16_native) if f]
        gpu = f", GPU: {', '.join(self.gpus)}" if self.gpus else ", no GPU"
        limited = self.cpu_budget is not None and self.cpu_limit != "host"
        return (
            f"{self.cpu_model} ({self.cpu_note() if limited else f'{self.logical_cores} vCPU'}, "
            f"{self.memory_gb:.0f} GiB"
            f"{', ' + ' '.join(accel) if accel else ''}{gpu})"
        )

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["flags"] = sorted(f for f in self.flags if f.startswith(("avx", "amx", "sse4", "fma", "f16c", "neon", "sve")))
        d["int8_accel"] = self.int8_accel
        d["bf16_native"] = self.bf16_native
        d["fp16_native"] = self.fp16_native
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Hardware:
        """Read what ``to_json`` wrote (the derived ``*_accel``/``*_native`` keys are recomputed)."""
        return cls(
            cpu_model=str(d.get("cpu_model", "")),
            vendor=str(d.get("vendor", "unknown")),
            arch=str(d.get("arch", "")),
            logical_cores=int(d.get("logical_cores", 1)),
            physical_cores=int(d.get("physical_cores", d.get("logical_cores", 1))),
            memory_gb=float(d.get("memory_gb", 0.0)),
            flags=frozenset(d.get("flags", ())),
            gpus=tuple(d.get("gpus", ())),
            cpus=None if d.get("cpus") is None else float(d["cpus"]),
            cpu_limit=d.get("cpu_limit") if d.get("cpu_limit") in ("host", "affinity", "cgroup") else None,
            host_cpus=None if d.get("host_cpus") is None else int(d["host_cpus"]),
        )


def combined(machines: list[Hardware]) -> Hardware:
    """One Hardware with what any of ``machines`` has (flags, GPUs, the most cores): what variants are proposed
    and built for when they are measured on several kinds of machine, each then run only where it applies."""
    first = machines[0]
    if len(machines) == 1:
        return first
    models = list(dict.fromkeys(m.cpu_model for m in machines))
    vendors = {m.vendor for m in machines}
    return Hardware(
        cpu_model=" | ".join(models),
        vendor=first.vendor if len(vendors) == 1 else "mixed",
        arch=first.arch,
        logical_cores=max(m.logical_cores for m in machines),
        physical_cores=max(m.physical_cores for m in machines),
        memory_gb=max(m.memory_gb for m in machines),
        flags=frozenset().union(*(m.flags for m in machines)),
        gpus=tuple(dict.fromkeys(g for m in machines for g in m.gpus)),
        cpus=None if any(m.cpus is None for m in machines) else max(m.cpus or 0.0 for m in machines),
        cpu_limit=None,  # each kind of machine says its own
        host_cpus=None,
    )


def _cpuinfo() -> tuple[str, set[str]]:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model, flags = "", set[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model", "cpu model") and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model or platform.processor() or platform.machine(), flags


def _gpus() -> tuple[str, ...]:
    if not shutil.which("nvidia-smi"):
        return ()
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return tuple(line.strip() for line in out.stdout.splitlines() if line.strip()) if out.returncode == 0 else ()


@functools.cache
def detect_hardware() -> Hardware:
    return hardware_here(cpu_budget())


def hardware_here(budget: CpuBudget) -> Hardware:
    """This machine's Hardware with ``budget`` as the CPUs this process may use."""
    model, flags = _cpuinfo()
    low = model.lower()
    arch = platform.machine()
    vendor = (
        "intel" if "intel" in low else "amd" if "amd" in low else "arm" if arch in ("aarch64", "arm64") else "unknown"
    )
    physical = psutil.cpu_count(logical=False) or budget.host_cpus
    return Hardware(
        cpu_model=model,
        vendor=vendor,
        arch=arch,
        logical_cores=budget.vcpus,
        physical_cores=min(physical, budget.threads),
        memory_gb=round(psutil.virtual_memory().total / 2**30, 1),
        flags=frozenset(flags),
        gpus=_gpus(),
        cpus=budget.cpus,
        cpu_limit=budget.limit,
        host_cpus=budget.host_cpus,
    )


# The thread policy: every default thread count and lane count in Lepton comes from these three.

MAX_LANES = 4  # serving lanes side by side at most (more copies of a model rarely pay on a CPU)


def default_threads(hw: Hardware | None = None) -> int:
    """Intra-op threads for a session whose settings leave them open (0), and for training: one per physical
    core this process may use (under a fractional quota, rounded down: see ``lepton.hardware.cpus``). Without
    ``hw``, a positive ``OMP_NUM_THREADS`` caps it: Ray sets it to each task's CPUs, so a worker holding one CPU
    of a node does not start a thread per core of the node."""
    cores = max(1, (hw or detect_hardware()).physical_cores)
    told = os.environ.get("OMP_NUM_THREADS", "").strip()
    return min(cores, int(told)) if hw is None and told.isdigit() and int(told) > 0 else cores


def searched_threads(hw: Hardware) -> list[int]:
    """The thread counts the search measures: every core for one stream, and one thread per caller under load
    (a server runs one single-threaded lane per core side by side)."""
    return sorted({default_threads(hw), 1}, reverse=True)


def serving_lanes(threads: int, cores: int | None = None) -> int:
    """How many lanes may run a model's batches side by side: one per thread its session would use, but never
    more than the cores this process may use (``cores`` None: detected) nor ``MAX_LANES``."""
    return max(1, min(threads, default_threads() if cores is None else cores, MAX_LANES))
