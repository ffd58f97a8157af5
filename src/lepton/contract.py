"""The base of the typed contracts between stages: frozen pydantic models with one JSON serializer.

Each stage owns the contracts it produces (``measure.Trial``, ``navigate.OptimizeResult``, ``store.RunSummary``,
``ir.ArtifactSummary``); they all derive from ``Contract`` so that they serialize the same way, and ``from_json``
reads what ``to_json`` wrote, including records written by older versions (unknown keys are ignored, new fields
have defaults).

The None rule, one for every contract at every depth: a field that is None is absent (a failed trial has no
latency, a run without a recommendation has no ``recommended``); it is left out of the JSON, not written as
null, and a reader treats a missing key as None. Values inside a plain ``dict`` field are data and kept as they
are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    model_serializer,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema


class Contract(BaseModel):
    """A frozen, typed record passed between stages and written as JSON."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, arbitrary_types_allowed=False)

    @model_serializer(mode="wrap")
    def _absent_is_left_out(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        # The None rule (see the module): applied wherever a contract is dumped, nested ones included.
        # (No return annotation: pydantic would publish it as the schema of every contract.)
        data = handler(self)
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data

    def to_json(self) -> dict[str, Any]:
        """The JSON form (field names as published; None fields left out, at every depth)."""
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls.model_validate(dict(data))

    def with_(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied and validated (contracts are immutable)."""
        return type(self).model_validate({**dict(self), **changes})


@dataclass(frozen=True)
class JsonForm:
    """``Annotated[Hardware, JsonForm(Hardware)]``: a contract field holding a stage's own frozen dataclass that
    has ``to_json()`` and ``from_json()``; the contract writes exactly that dataclass's own JSON form."""

    cls: type[Any]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        cls = self.cls

        def validate(value: Any) -> Any:
            if isinstance(value, cls):
                return value
            if isinstance(value, Mapping):
                return cls.from_json(value)
            raise ValueError(f"expected a {cls.__name__} or its JSON object; got {type(value).__name__}")

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda v: v.to_json()),
        )

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return _inline_refs(TypeAdapter(self.cls).json_schema())


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its local ``$defs`` references replaced by their content (so it can nest anywhere)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(dict(defs[ref.rsplit("/", 1)[-1]]))
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return dict(walk(schema))
