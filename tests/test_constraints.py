"""One constraint table per options object: every declared rule is checked when its object is built, through
the same builder the CLI and the Python face use, with one message style."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from lepton.constraints import Constraint, Interval, OneOf, check_value
from lepton.errors import UserError
from lepton.measure.bench import BENCH_CONSTRAINTS, BenchOptions
from lepton.navigate.options import OPTIMIZE_CONSTRAINTS, OptimizeOptions
from lepton.serve.config import SERVE_CONSTRAINTS, SERVE_FLAGS, ServeConfig
from lepton.serve.generation.layout import GENERATION_CONSTRAINTS, GENERATION_FLAGS, GenerationSettings
from lepton.training.options import TRAIN_CONSTRAINTS, TrainOptions

Build = Callable[[str, Any], object]


def _train(name: str, value: Any) -> object:
    extra = {"ray": "auto"} if name == "workers" else {}
    return TrainOptions.build("classify", example="digits", **extra, **{name: value})


def _serve(name: str, value: Any) -> object:
    return ServeConfig.build(**{("timeout" if name == "timeout_s" else name): value})


TABLES: dict[str, tuple[type[Any], Mapping[str, Constraint], Build, Mapping[str, str]]] = {
    "optimize": (OptimizeOptions, OPTIMIZE_CONSTRAINTS, lambda n, v: OptimizeOptions.build(**{n: v}), {}),
    "bench": (BenchOptions, BENCH_CONSTRAINTS, lambda n, v: BenchOptions.build(**{n: v}), {}),
    "serve": (ServeConfig, SERVE_CONSTRAINTS, _serve, SERVE_FLAGS),
    "train": (TrainOptions, TRAIN_CONSTRAINTS, _train, {}),
    "generation": (
        GenerationSettings,
        GENERATION_CONSTRAINTS,
        lambda n, v: GenerationSettings(**{n: v}),
        GENERATION_FLAGS,
    ),
}


def _bad_values(c: Constraint) -> list[Any]:
    """Values just outside each bound (and a word for a set of words)."""
    if isinstance(c, OneOf):
        return ["nonsense"]
    out: list[Any] = []
    if c.low is not None:
        out.append(c.low if c.closed in ("right", "neither") else c.low - 1)
    if c.high is not None:
        out.append(c.high if c.closed in ("left", "neither") else c.high + 1)
    if c.integer:
        out.append(2.5)
    return [int(v) if c.integer and isinstance(v, float) and v.is_integer() else v for v in out]


def _cases() -> list[tuple[str, str, Any]]:
    return [
        (command, name, bad)
        for command, (_, table, _, _) in TABLES.items()
        for name, c in table.items()
        for bad in _bad_values(c)
    ]


@pytest.mark.parametrize("command", sorted(TABLES))
def test_every_constrained_name_is_a_field_of_its_options(command: str) -> None:
    cls, table, _, _ = TABLES[command]
    assert set(table) <= {f.name for f in dataclasses.fields(cls)}


@pytest.mark.parametrize(("command", "name", "bad"), _cases())
def test_each_declared_rule_refuses_a_value_outside_it_in_one_line(command: str, name: str, bad: Any) -> None:
    _, table, build, flags = TABLES[command]
    flag = flags.get(name, "--" + name.replace("_", "-"))
    with pytest.raises(UserError) as e:
        build(name, bad)
    assert str(e.value).startswith(f"{flag} must be {table[name].text()}; got ")
    assert "\n" not in str(e.value)


def test_the_defaults_pass_their_own_tables() -> None:
    OptimizeOptions.build()
    BenchOptions.build()
    ServeConfig.build()
    TrainOptions.build("classify", example="digits")


def test_interval_bounds_and_words() -> None:
    positive = Interval(0, None, closed="neither")
    assert not positive.admits(0) and positive.admits(1e-9) and not positive.admits(math.nan)
    assert not positive.admits(True) and not positive.admits("3")  # a bool or a string is not a number
    whole = Interval(1, 4096, integer=True)
    assert whole.admits(1) and whole.admits(4096) and not whole.admits(4097) and not whole.admits(2.0)
    assert whole.text() == "an integer in 1..4096"
    assert Interval(0, 1, closed="left", note="a fraction").text() == "a number in [0, 1) (a fraction)"
    assert Interval(0, None, closed="neither", note="seconds").text() == "a number > 0 (seconds)"
    assert OneOf(("auto", "on", "off")).text() == "one of auto, on, off"
    check_value("trials", None, whole)  # None is "not set"
    with pytest.raises(UserError, match=r"^--trials must be an integer in 1\.\.4096; got 0$"):
        check_value("trials", 0, whole)
