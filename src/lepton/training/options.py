"""What a ``lepton train`` run was asked to do: one frozen options object, checked once when built.

Field names are the CLI's option names (``--batch-size`` is ``batch_size``). Hyper-parameters left as None
take the recipe's default, so a run records both what was asked and what was used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from lepton.constraints import (
    NON_NEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    SECONDS,
    Constraint,
    Interval,
    OneOf,
    check_constraints,
)
from lepton.errors import UserError
from lepton.options import ray_address

HYPER = ("epochs", "batch_size", "lr", "weight_decay", "dropout", "patience", "width", "depth")
AUGMENTATIONS = ("flip", "shift", "noise")


@dataclass(frozen=True)
class TrainOptions:
    recipe: str
    data: Path | None = None
    example: str | None = None
    target: str | None = None
    name: str | None = None
    # data preparation
    categorical: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    missing: str = "impute"
    duplicates: str = "drop"
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    folds: int = 0
    seed: int = 0
    augment: str | None = None  # images: "flip,shift,noise" or "none"; None: the recipe's choice
    image_size: int | None = None
    # hyper-parameters (None: the recipe's default)
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    dropout: float | None = None
    patience: int | None = None
    width: int | None = None
    depth: int | None = None
    # forecast
    time_column: str | None = None
    group: str | None = None
    horizon: int = 3
    lags: int | None = None
    season: int | None = None
    conv: bool = False
    # finetune
    text_column: str = "text"
    max_length: int | None = None
    freeze: int | None = None
    # tuning
    tune: int = 0
    time_budget: float | None = None
    # on a Ray cluster
    ray: str | None = None  # the cluster's address ("auto": the one this machine joined)
    workers: int | None = None  # data-parallel workers (with --ray; default 2)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(self)

    @classmethod
    def build(cls, recipe: str, data: str | Path | None = None, **options: Any) -> TrainOptions:
        """From keyword options as the Python face and the CLI give them (lists or comma strings)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise UserError(
                f"lepton.train: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known - {'extra'}))}"
            )
        for key in ("categorical", "ignore"):
            if key in options:
                options[key] = _names(options[key], key)
        if "ray" in options:
            options["ray"] = ray_address(options["ray"])
        return cls(recipe=recipe, data=Path(data).expanduser() if data is not None else None, **options)

    def hyper(self) -> dict[str, Any]:
        """The hyper-parameters the user set (the rest come from the recipe)."""
        return {k: getattr(self, k) for k in HYPER if getattr(self, k) is not None}

    def augmentations(self, default: Sequence[str]) -> tuple[str, ...]:
        if self.augment is None:
            return tuple(default)
        if self.augment.strip().lower() in ("", "none", "off"):
            return ()
        return tuple(a.strip().lower() for a in self.augment.split(",") if a.strip())

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["data"] = str(self.data) if self.data else None
        d["categorical"], d["ignore"] = list(self.categorical), list(self.ignore)
        return {k: v for k, v in d.items() if v not in (None, (), [], {})}


def _names(value: Any, flag: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, Sequence):
        out: list[str] = []
        for v in value:
            out += list(_names(str(v), flag))
        return tuple(out)
    raise UserError(f"--{flag}: expected column names (a list or 'a,b'); got {value!r}")


FRACTION_OF_ROWS = Interval(0, 0.6, closed="neither", note="a fraction of the rows")
TRAIN_CONSTRAINTS: dict[str, Constraint] = {
    **dict.fromkeys(
        ("epochs", "batch_size", "width", "depth", "horizon", "lags", "season", "image_size", "max_length", "workers"),
        POSITIVE_INT,
    ),
    **dict.fromkeys(("patience", "folds", "tune", "freeze"), NON_NEGATIVE_INT),
    "lr": POSITIVE,
    "time_budget": SECONDS,
    "weight_decay": Interval(0, None),
    "dropout": Interval(0, 1, closed="left", note="a fraction"),
    "val_fraction": FRACTION_OF_ROWS,
    "test_fraction": FRACTION_OF_ROWS,
    "missing": OneOf(("impute", "drop")),
    "duplicates": OneOf(("drop", "keep")),
}


def _check(o: TrainOptions) -> None:
    from lepton.training.recipe import recipes

    recipe = recipes().get(o.recipe)  # an unknown name: a UserError naming the registered recipes
    if o.data is None and o.example is None:
        examples = " or ".join(recipe.examples) or "none bundled"
        raise UserError(f"lepton train {o.recipe}: give DATA (a file or folder) or --example ({examples})")
    if o.data is not None and o.example is not None:
        raise UserError("give either DATA or --example, not both")
    check_constraints(o, TRAIN_CONSTRAINTS)
    if o.folds == 1:
        raise UserError("--folds: k-fold cross-validation needs at least 2 folds (or 0 for none); got 1")
    bad = [a for a in o.augmentations(()) if a not in AUGMENTATIONS]
    if bad:
        raise UserError(f"--augment: unknown {', '.join(bad)}; use a comma list of {', '.join(AUGMENTATIONS)}, or none")
    if o.workers is not None and not o.ray:
        raise UserError(f"--workers {o.workers}: data-parallel workers run on a Ray cluster; add --ray")
    if o.ray and o.tune:
        raise UserError("--tune with --ray: tuning runs on this machine only for now; leave out --tune or --ray")
    if o.name is not None and (not o.name.strip() or ":" in o.name or "/" in o.name):
        raise UserError(f"--name: {o.name!r} cannot be a model name (no ':' or '/', not empty); pick another")
    _only_for(o)


_FORECAST_ONLY = ("time_column", "group", "lags", "season")
_FINETUNE_ONLY = ("max_length", "freeze")


def _only_for(o: TrainOptions) -> None:
    if o.recipe != "forecast":
        used = [n for n in _FORECAST_ONLY if getattr(o, n) is not None] + (["conv"] if o.conv else [])
        if used:
            flags = ", ".join("--" + n.replace("_", "-") for n in used)
            raise UserError(f"{flags}: for the forecast recipe only; this run is {o.recipe}")
    if o.recipe != "finetune":
        used = [n for n in _FINETUNE_ONLY if getattr(o, n) is not None]
        if used:
            flags = ", ".join("--" + n.replace("_", "-") for n in used)
            raise UserError(f"{flags}: for the finetune recipe only; this run is {o.recipe}")
