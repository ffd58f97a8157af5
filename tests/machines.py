"""A made-up machine for tests that must not depend on the CPU they run on."""

from __future__ import annotations

from typing import Any

from lepton.hardware import Hardware


def fake_hardware(*, flags: tuple[str, ...] = (), gpus: tuple[str, ...] = (), **fields: Any) -> Hardware:
    """A 2-core Intel x86_64 with 8 GB and only the given CPU ``flags`` and ``gpus``; ``fields`` override."""
    base: dict[str, Any] = {
        "cpu_model": "Test CPU",
        "vendor": "intel",
        "arch": "x86_64",
        "logical_cores": 2,
        "physical_cores": 2,
        "memory_gb": 8.0,
        "flags": frozenset(flags),
        "gpus": tuple(gpus),
    }
    base.update(fields)
    return Hardware(**base)
