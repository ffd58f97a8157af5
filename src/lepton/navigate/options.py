"""``OptimizeOptions``: what ``lepton optimize`` and ``lepton.optimize`` accept, read and checked in one place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lepton.constraints import POSITIVE_INT, SECONDS, Constraint, Interval, OneOf, check_constraints
from lepton.errors import UserError
from lepton.navigate.targets import OBJECTIVES, Targets
from lepton.options import check_known, int_list, option_names, optional_path, ray_address, shape_pins
from lepton.slo import Slo, parse_slo

SENSITIVITY = ("auto", "on", "off")


@dataclass(frozen=True)
class OptimizeOptions:
    """The options of ``lepton optimize``; field names are the CLI's option names (``max_drop`` is ``--max-drop``)."""

    example: str | None = None
    data: Path | None = None
    shape: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    batch: tuple[int, ...] | None = None
    slo: Slo | None = None
    max_drop: float = 0.01
    qps: float | None = None
    budget: float | None = None
    objective: str = "cost"
    trials: int = 80
    time_budget: float | None = None
    instance: str | None = None
    price_per_hour: float | None = None
    sensitivity: str = "auto"
    exhaustive: bool = False
    html: Path | None = None
    json: Path | None = None
    resume: str | None = None
    ray: str | None = None  # a Ray cluster's address ("auto": the one this machine belongs to)
    hardware_price: Mapping[str, float] = field(default_factory=dict)  # cluster kind -> USD per hour
    max_memory: float | None = None  # GB the search may take (None: a safe share of this machine's, see hardware)
    streams: int | None = None  # a causal LM's target load in concurrent streams (replicas sized for it)

    @classmethod
    def build(cls, **values: Any) -> OptimizeOptions:
        """Read options as the CLI gives them (strings) or as Python callers do (lists, mappings, numbers)."""
        check_known(values, option_names(cls), "optimize")
        v = dict(values)
        if "data" in v:
            v["data"] = optional_path(v["data"])
        for key in ("html", "json"):
            if key in v:
                v[key] = optional_path(v[key])
        if "shape" in v:
            v["shape"] = shape_pins(v["shape"])
        if "batch" in v:
            v["batch"] = int_list(v["batch"], "--batch")
        if isinstance(v.get("slo"), str):
            v["slo"] = parse_slo(v["slo"])
        if "ray" in v:
            v["ray"] = ray_address(v["ray"])
        if "hardware_price" in v:
            v["hardware_price"] = kind_prices(v["hardware_price"])
        opts = cls(**v)
        opts.targets  # noqa: B018  validate the targets now, before anything is measured
        check_constraints(opts, OPTIMIZE_CONSTRAINTS)
        if opts.ray and (opts.instance or opts.price_per_hour is not None):
            flag = "--instance" if opts.instance else "--price-per-hour"
            raise UserError(
                f"{flag} prices this machine; with --ray each kind of node is priced by its name in the catalog, "
                "or by --hardware-price KIND=USD_PER_HOUR"
            )
        if opts.streams is not None and opts.qps is not None:
            raise UserError(
                f"--streams {opts.streams} and --qps {opts.qps:g} both set the load; give one (--qps is output "
                "tokens/s for a causal LM)"
            )
        if opts.hardware_price and not opts.ray:
            raise UserError(
                "--hardware-price prices the kinds of node of a Ray cluster; add --ray, or use --price-per-hour"
            )
        return opts

    def to_json(self) -> dict[str, Any]:
        """What a run was asked, stored with it so ``--resume`` continues with the same options."""
        return {
            "example": self.example,
            "data": str(self.data) if self.data else None,
            "shape": {k: list(v) for k, v in self.shape.items()},
            "batch": list(self.batch) if self.batch else None,
            "slo": str(self.slo) if self.slo else None,
            "max_drop": self.max_drop,
            "max_memory": self.max_memory,
            "streams": self.streams,
            "qps": self.qps,
            "budget": self.budget,
            "objective": self.objective,
            "trials": self.trials,
            "time_budget": self.time_budget,
            "instance": self.instance,
            "price_per_hour": self.price_per_hour,
            "sensitivity": self.sensitivity,
            "exhaustive": self.exhaustive,
            "ray": self.ray,
            "hardware_price": dict(self.hardware_price),
        }

    @property
    def targets(self) -> Targets:
        return Targets(self.slo, self.max_drop, self.qps, self.budget, self.objective)

    def batch_sizes(self, fixed: int | None = None) -> tuple[list[int], int]:
        """The batch sizes to measure (the SLO's included) and the one the SLO applies to; a model whose batch
        dim is ``fixed`` is measured at that size only (asking for another is a mistake said in one line)."""
        slo_batch = self.slo.batch_size if self.slo and self.slo.batch_size else None
        if fixed is not None:
            asked = sorted({*(self.batch or ()), *([slo_batch] if slo_batch else [])} - {fixed})
            if asked:
                raise UserError(
                    f"--batch {','.join(map(str, asked))}: this model takes batches of exactly {fixed} rows (its "
                    f"inputs' first dim is fixed); leave --batch out or give --batch {fixed}"
                )
            return [fixed], fixed
        batches = sorted(set(self.batch or ([slo_batch] if slo_batch else [1])))
        if slo_batch is None:
            slo_batch = batches[0]
        return sorted({*batches, slo_batch}), slo_batch


OPTIMIZE_CONSTRAINTS: dict[str, Constraint] = {
    "sensitivity": OneOf(SENSITIVITY),
    "objective": OneOf(OBJECTIVES),
    "trials": POSITIVE_INT,
    "time_budget": SECONDS,
    "price_per_hour": Interval(0, None, closed="neither", note="USD per hour"),
    "max_memory": Interval(0, None, closed="neither", note="GB"),
    "streams": POSITIVE_INT,
}


def optimize_option_names() -> Sequence[str]:
    return option_names(OptimizeOptions)


def kind_prices(value: Mapping[str, float] | Sequence[str] | str | None) -> dict[str, float]:
    """``--hardware-price KIND=USD`` values (``["lab/box=0.12"]``) or a mapping ``{"lab/box": 0.12}``."""
    if not value:
        return {}
    pairs: list[tuple[str, object]]
    if isinstance(value, Mapping):
        pairs = [(str(k), v) for k, v in value.items()]
    else:
        items = [value] if isinstance(value, str) else list(value)
        pairs = []
        for item in items:
            name, sep, text = str(item).rpartition("=")
            if not sep or not name.strip():
                raise UserError(f"--hardware-price: expected KIND=USD_PER_HOUR like lab/big-box=0.42; got {item!r}")
            pairs.append((name.strip(), text))
    out = {}
    for kind, usd in pairs:
        try:
            price = float(usd)  # type: ignore[arg-type]  # a str or a number; anything else is said below
        except (TypeError, ValueError):
            price = -1.0
        if not price > 0:
            raise UserError(
                f"--hardware-price {kind}: the price must be a positive number of USD per hour; got {usd!r}"
            )
        out[kind] = price
    return out
