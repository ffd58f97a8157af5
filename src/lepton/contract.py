"""The base of the typed contracts between stages: frozen pydantic models with one JSON serializer.

Each stage owns the contracts it produces (``measure.Trial``, ``navigate.OptimizeResult``, ``store.RunSummary``,
``ir.ArtifactSummary``); they all derive from ``Contract`` so that they serialize the same way: ``to_json()``
leaves out fields that are None (a failed trial has no latency), and ``from_json`` reads what ``to_json`` wrote,
including records written by older versions (unknown keys are ignored, new fields have defaults).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Protocol, Self, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, TypeAdapter, WithJsonSchema


class Contract(BaseModel):
    """A frozen, typed record passed between stages and written as JSON."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, arbitrary_types_allowed=False)

    def to_json(self) -> dict[str, Any]:
        """The JSON form (field names as published; None fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls.model_validate(dict(data))

    def with_(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied and validated (contracts are immutable)."""
        return type(self).model_validate({**dict(self), **changes})


class JsonForm(Protocol):
    def to_json(self) -> dict[str, Any]: ...


T = TypeVar("T", bound=JsonForm)


def json_typed(cls: type[T], from_json: Callable[[Mapping[str, Any]], T]) -> Any:
    """A field type for a stage's own frozen dataclass that has ``to_json``/``from_json``: a contract holds the
    typed object and writes exactly the dataclass's own JSON form (``Annotated[cls, ...]``)."""
    return Annotated[
        cls,
        BeforeValidator(lambda v: from_json(v) if isinstance(v, Mapping) else v),
        PlainSerializer(lambda v: v.to_json(), return_type=dict[str, Any]),
        WithJsonSchema(_inline_refs(TypeAdapter(cls).json_schema())),
    ]


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
