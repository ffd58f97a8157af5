"""The price catalog: named instance types with an hourly price and where that price came from."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import PositiveFloat, PositiveInt, ValidationError

from lepton.contract import Contract
from lepton.errors import UserError
from lepton.hardware import Hardware

HOURS_PER_MONTH = 730.0  # 365 * 24 / 12: a catalog may say otherwise (its ``hours_per_month``)


@dataclass(frozen=True)
class PricePoint:
    """What an hour of the assumed machine costs, why Lepton assumed it, and how many hours its month has."""

    instance: str
    usd_per_hour: float
    source: str
    matched: str  # how this price was chosen ("--price-per-hour", "--instance", "matched: intel, 2 vCPU")
    hours_per_month: float = HOURS_PER_MONTH  # the catalog's; what $/month multiplies the hourly price by

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class CatalogEntry(Contract):
    """One instance type of the price catalog (``prices.json`` or a user's file of the same shape)."""

    name: str
    vcpus: PositiveInt
    usd_per_hour: PositiveFloat
    source: str
    as_of: str = "undated"
    memory_gb: float | None = None
    vendor: str | None = None
    arch: Literal["x86_64", "aarch64"] = "x86_64"
    cpu: str | None = None
    gpu: str | None = None
    features: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        """Where its price came from: ``AWS EC2 on-demand price list, us-east-1, Linux (2025-01)``."""
        return f"{self.source} ({self.as_of})"


def _entry(data: Any, i: int, path: Path | None) -> CatalogEntry:
    try:
        return CatalogEntry.from_json(data)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        raise UserError(
            f"price catalog {path}: instance {i} has a bad {field!r} ({err['msg']}); "
            "each needs name, vcpus, usd_per_hour and source"
        ) from None


class PriceCatalog:
    def __init__(self, entries: list[CatalogEntry], hours_per_month: float = HOURS_PER_MONTH) -> None:
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
            entries = [_entry(e, i, path) for i, e in enumerate(data["instances"])]
            hours = float(data.get("hours_per_month", HOURS_PER_MONTH))
            if not 0 < hours <= 744:
                raise ValueError(f"hours_per_month must be in (0, 744]; got {hours}")
            return cls(entries, hours)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UserError(
                f"price catalog {path}: cannot read it ({e}); it must be JSON with an 'instances' list"
            ) from None

    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def get(self, name: str) -> CatalogEntry:
        for e in self.entries:
            if e.name == name or e.name.split("/", 1)[-1] == name:
                return e
        raise UserError(f"--instance {name!r} is not in the price catalog; known: {', '.join(self.names())}")

    def point(self, e: CatalogEntry, matched: str) -> PricePoint:
        """The price of entry ``e``, chosen as ``matched`` says, with this catalog's month."""
        return PricePoint(e.name, e.usd_per_hour, e.where, matched, self.hours_per_month)

    def given(self, instance: str, usd_per_hour: float, source: str, matched: str) -> PricePoint:
        """A price the user gave (``--price-per-hour``, ``--hardware-price``), with this catalog's month."""
        return PricePoint(instance, float(usd_per_hour), source, matched, self.hours_per_month)

    def match(self, hw: Hardware) -> CatalogEntry:
        """The listed instance most like this machine.

        Same CPU vendor and arch, at least as many vCPUs as this process may use (its affinity mask or cgroup
        quota, rounded up), a GPU iff this machine has one; among those the
        same CPU generation (most shared VNNI/BF16/FP16/AMX flags), then the fewest vCPUs, then the cheapest.
        """

        def fits(e: CatalogEntry, same_vendor: bool) -> bool:
            return (
                bool(e.gpu) == hw.has_gpu
                and e.vcpus >= hw.logical_cores
                and e.arch == ("aarch64" if hw.arch in ("aarch64", "arm64") else "x86_64")
                and (not same_vendor or e.vendor == hw.vendor)
            )

        for same_vendor in (True, False):
            options = [e for e in self.entries if fits(e, same_vendor)]
            if options:
                # the same CPU generation first (shared accelerator flags), then the smallest, then the cheapest
                return min(
                    options,
                    key=lambda e: (
                        -len(set(e.features) & hw.flags),
                        e.vcpus,
                        e.usd_per_hour,
                    ),
                )
        return max(self.entries, key=lambda e: e.vcpus)

    def price(self, hw: Hardware, *, instance: str | None = None, price_per_hour: float | None = None) -> PricePoint:
        """Resolve the hourly price: ``--price-per-hour`` wins, then ``--instance``, then the best match."""
        if price_per_hour is not None:
            if price_per_hour <= 0:
                raise UserError(f"--price-per-hour must be positive; got {price_per_hour}")
            return self.given(instance or "custom", price_per_hour, "given by --price-per-hour", "--price-per-hour")
        if instance:
            return self.point(self.get(instance), "--instance")
        how = f"matched this machine: {hw.vendor}, {hw.logical_cores} vCPU{', GPU' if hw.has_gpu else ''}"
        if hw.cpu_limit in ("affinity", "cgroup"):  # the CPUs this process may use, not the host's
            how += f" ({hw.cpu_note()})"
        return self.point(self.match(hw), how)
