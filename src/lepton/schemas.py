"""The published JSON Schemas of the commands' ``--json`` output (``lepton schema NAME``, ``docs/schema/``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def optimize_schema() -> dict[str, Any]:
    from lepton.navigate.result import OptimizeResult

    return OptimizeResult.json_schema()


def bench_schema() -> dict[str, Any]:
    from lepton.measure.bench import BenchResult

    schema = BenchResult.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "lepton bench --json"
    return schema


def check_schema() -> dict[str, Any]:
    from lepton.navigate.check import CheckResult

    schema = CheckResult.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "lepton check --json"
    return schema


SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "optimize": optimize_schema,
    "bench": bench_schema,
    "check": check_schema,
}
