"""The price catalog: named instance types with an hourly price and where that price came from."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from lepton.errors import UserError
from lepton.hardware import Hardware


@dataclass(frozen=True)
class PricePoint:
    """What an hour of the assumed machine costs, and why Lepton assumed it."""

    instance: str
    usd_per_hour: float
    source: str
    matched: str  # how this price was chosen ("--price-per-hour", "--instance", "matched: intel, 2 vCPU")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class PriceCatalog:
    def __init__(self, entries: list[dict[str, Any]], hours_per_month: float = 730.0) -> None:
        self.entries = entries
        self.hours_per_month = hours_per_month

    @classmethod
    def load(cls, path: Path | None = None) -> PriceCatalog:
        """The bundled catalog, or a user's JSON file of the same shape."""
        try:
            text = (
                Path(path).read_text() if path else resources.files("lepton.cost").joinpath("prices.json").read_text()
            )
            data = json.loads(text)
            return cls(list(data["instances"]), float(data.get("hours_per_month", 730)))
        except (OSError, ValueError, KeyError) as e:
            raise UserError(
                f"price catalog {path}: cannot read it ({e}); it must be JSON with an 'instances' list"
            ) from None

    def names(self) -> list[str]:
        return [e["name"] for e in self.entries]

    def get(self, name: str) -> dict[str, Any]:
        for e in self.entries:
            if e["name"] == name or e["name"].split("/", 1)[-1] == name:
                return e
        raise UserError(f"--instance {name!r} is not in the price catalog; known: {', '.join(self.names())}")

    def match(self, hw: Hardware) -> dict[str, Any]:
        """The listed instance most like this machine.

        Same CPU vendor and arch, at least as many vCPUs as this process may use (its affinity mask or cgroup
        quota, rounded up), a GPU iff this machine has one; among those the
        same CPU generation (most shared VNNI/BF16/FP16/AMX flags), then the fewest vCPUs, then the cheapest.
        """

        def fits(e: dict[str, Any], same_vendor: bool) -> bool:
            return (
                bool(e.get("gpu")) == hw.has_gpu
                and e["vcpus"] >= hw.logical_cores
                and e.get("arch", "x86_64") == ("aarch64" if hw.arch in ("aarch64", "arm64") else "x86_64")
                and (not same_vendor or e.get("vendor") == hw.vendor)
            )

        for same_vendor in (True, False):
            options = [e for e in self.entries if fits(e, same_vendor)]
            if options:
                # the same CPU generation first (shared accelerator flags), then the smallest, then the cheapest
                return min(
                    options,
                    key=lambda e: (
                        -len(set(e.get("features", ())) & hw.flags),
                        e["vcpus"],
                        e["usd_per_hour"],
                    ),
                )
        return max(self.entries, key=lambda e: e["vcpus"])

    def price(self, hw: Hardware, *, instance: str | None = None, price_per_hour: float | None = None) -> PricePoint:
        """Resolve the hourly price: ``--price-per-hour`` wins, then ``--instance``, then the best match."""
        if price_per_hour is not None:
            if price_per_hour <= 0:
                raise UserError(f"--price-per-hour must be positive; got {price_per_hour}")
            return PricePoint(
                instance or "custom", float(price_per_hour), "given by --price-per-hour", "--price-per-hour"
            )
        if instance:
            e = self.get(instance)
            return PricePoint(
                e["name"], e["usd_per_hour"], f"{e['source']} ({e.get('as_of', 'undated')})", "--instance"
            )
        e = self.match(hw)
        how = f"matched this machine: {hw.vendor}, {hw.logical_cores} vCPU{', GPU' if hw.has_gpu else ''}"
        if hw.cpu_limit in ("affinity", "cgroup"):  # the CPUs this process may use, not the host's
            how += f" ({hw.cpu_note()})"
        return PricePoint(e["name"], e["usd_per_hour"], f"{e['source']} ({e.get('as_of', 'undated')})", how)
