"""Declared constraints on option values, checked in one place (the scikit-learn way).

Each options object declares one table, ``CONSTRAINTS: {field: constraint}``, next to its fields, and calls
``check_constraints`` once after it is built; rules that tie two options together stay code beside it. One table
means one message style for every command and a test can walk every declared rule (``tests/test_constraints.py``).
A value of ``None`` means "not set" and is never checked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from lepton.errors import UserError

Closed = Literal["both", "left", "right", "neither"]


@dataclass(frozen=True)
class Interval:
    """A number between ``low`` and ``high`` (None: unbounded), ``closed`` on the named ends; ``integer``: whole
    numbers only. ``note`` says what the value means (``seconds``, ``0: the engine's default``)."""

    low: float | None = None
    high: float | None = None
    closed: Closed = "both"
    integer: bool = False
    note: str = ""

    def admits(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if isinstance(value, float) and math.isnan(value):
            return False
        if self.low is not None and (value < self.low or (value == self.low and self.closed in ("right", "neither"))):
            return False
        return not (
            self.high is not None and (value > self.high or (value == self.high and self.closed in ("left", "neither")))
        )

    def text(self) -> str:
        kind = "an integer" if self.integer else "a number"
        low_in = self.closed in ("both", "left")
        high_in = self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            if self.integer and low_in and high_in:
                bound = f"in {_num(self.low)}..{_num(self.high)}"
            else:
                bound = f"in {'[' if low_in else '('}{_num(self.low)}, {_num(self.high)}{']' if high_in else ')'}"
        elif self.low is not None:
            bound = f"{'>=' if low_in else '>'} {_num(self.low)}"
        elif self.high is not None:
            bound = f"{'<=' if high_in else '<'} {_num(self.high)}"
        else:
            bound = ""
        return f"{kind} {bound}".strip() + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of words."""

    values: tuple[str, ...]

    def admits(self, value: Any) -> bool:
        return value in self.values

    def text(self) -> str:
        return "one of " + ", ".join(self.values)


Constraint = Interval | OneOf

POSITIVE = Interval(0, None, closed="neither")
POSITIVE_INT = Interval(1, None, integer=True)
NON_NEGATIVE_INT = Interval(0, None, integer=True)
SECONDS = Interval(0, None, closed="neither", note="seconds")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def flag(name: str) -> str:
    """The CLI spelling of a field name: ``time_budget`` -> ``--time-budget``."""
    return "--" + name.replace("_", "-")


def check_value(name: str, value: Any, constraint: Constraint, *, flags: Mapping[str, str] | None = None) -> None:
    """One line naming the option, what it must be and what it got (``--trials must be an integer >= 1; got 0``)."""
    if value is None or constraint.admits(value):
        return
    shown = (flags or {}).get(name) or flag(name)
    raise UserError(f"{shown} must be {constraint.text()}; got {value!r}")


def check_constraints(obj: Any, table: Mapping[str, Constraint], *, flags: Mapping[str, str] | None = None) -> None:
    """Check every field of ``obj`` that ``table`` constrains; the first that fails raises a UserError.

    ``flags`` spells a field whose CLI option has another name (``timeout_s`` is ``--timeout``)."""
    for name, constraint in table.items():
        check_value(name, getattr(obj, name), constraint, flags=flags)
