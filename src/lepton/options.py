"""Readers shared by the options objects of the CLI and the Python API: one vocabulary, one set of messages.

Each command has one frozen options object (``navigate.options.OptimizeOptions``, ``measure.bench.BenchOptions``)
whose field names are the CLI's option names; the CLI and ``lepton.api`` both build it, so a value is read and
checked the same way whichever face it came through.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lepton.constraints import Interval, check_value
from lepton.errors import UserError


def int_list(value: str | int | Sequence[int] | None, flag: str) -> tuple[int, ...] | None:
    """``"1,8,32"``, ``8`` or ``[1, 8]`` -> ``(1, 8, 32)``; every value an integer >= 1."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            values = [int(x) for x in value.replace(" ", "").split(",") if x]
        except ValueError:
            raise UserError(f"{flag}: expected a comma-separated list of integers like 1,8,32; got {value!r}") from None
    elif isinstance(value, bool) or not isinstance(value, (int, Sequence)):
        raise UserError(f"{flag}: expected integers like [1, 8, 32]; got {value!r}")
    elif isinstance(value, int):
        values = [value]
    else:
        items = list(value)
        if not items or not all(isinstance(x, int) and not isinstance(x, bool) for x in items):
            raise UserError(f"{flag}: expected integers like [1, 8, 32]; got {value!r}")
        values = [x for x in items if isinstance(x, int)]
    if not values or any(v < 1 for v in values):
        raise UserError(f"{flag}: values must be integers >= 1; got {value!r}")
    return tuple(values)


def shape_pins(value: Mapping[str, Sequence[int]] | Sequence[str] | str | None) -> dict[str, tuple[int, ...]]:
    """``--shape`` values (``["input_ids=1,128"]``) or a mapping ``{"input_ids": (1, 128)}``."""
    if not value:
        return {}
    if isinstance(value, str):
        return parse_shape_pins([value])
    if isinstance(value, Mapping):
        out = {}
        for name, dims in value.items():
            try:
                out[str(name)] = tuple(int(d) for d in dims)
            except (TypeError, ValueError):
                raise UserError(f"--shape: dims of {name!r} must be integers; got {dims!r}") from None
        return out
    return parse_shape_pins(list(value))


def parse_shape_pins(items: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """Parse ``["input_ids=1,128", ...]`` into ``{"input_ids": (1, 128)}`` with clear errors."""
    pins: dict[str, tuple[int, ...]] = {}
    for item in items:
        for part in item.split(";"):
            part = part.strip()
            if not part:
                continue
            name, sep, dims = part.partition("=")
            if not sep or not name or not dims:
                raise UserError(f"--shape: expected NAME=D1,D2,...; got {part!r}. Example: --shape input_ids=1,128")
            name = name.strip()
            if name in pins:
                raise UserError(f"--shape: input {name!r} is given twice; give each input once")
            try:
                pins[name] = tuple(int(x) for x in dims.replace("x", ",").split(","))
            except ValueError:
                shown = name if name.isprintable() else "NAME"
                raise UserError(
                    f"--shape: dims of {name!r} must be integers; got {dims!r}. Example: --shape {shown}=1,128"
                ) from None
    return pins


def optional_path(value: str | Path | None) -> Path | None:
    return Path(value).expanduser() if value is not None and str(value) != "" else None


def check_known(given: Iterable[str], valid: Iterable[str], what: str) -> None:
    """An unknown keyword gets one line naming the valid ones."""
    valid = sorted(valid)
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise UserError(
            f"{what}: unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"the options are: {', '.join(valid)}"
        )


def option_names(options_type: type[Any]) -> list[str]:
    """The field names of an options dataclass: the CLI's option names with ``_`` for ``-``."""
    return [f.name for f in dataclasses.fields(options_type)]


def ray_address(value: str | bool | None) -> str | None:
    """``--ray`` as given: an address (``HOST:PORT``, ``ray://HOST:PORT``), ``auto`` (the cluster this machine
    joined with ``ray start``), True (auto), or None / False (no cluster)."""
    if value is None or value is False:
        return None
    if value is True:
        return "auto"
    if not isinstance(value, str):
        raise UserError(
            f"--ray: expected a cluster address like 10.0.0.5:6379, ray://10.0.0.5:10001 or auto; got {value!r}"
        )
    return value.strip() or "auto"


def positive_qps(value: float | None) -> float | None:
    """``--qps`` (a target load in requests/s): None (no target) or a positive number; the one check that
    ``optimize``, ``bench``, the cost model and ``serve --ray`` share."""
    check_value("qps", value, QPS)
    return value


QPS = Interval(0, None, closed="neither", note="requests/s")
