"""Typed pass params: each pass declares a pydantic ``Params`` model with its constraints, checked once.

The constraints live on the fields (``Literal`` choices, ``Field(gt=0, lt=1)``), the scikit-learn
``_parameter_constraints`` way: declared once, checked once, when the pass is made. A bad value is a
``UserError`` of one line (what was wrong, what was found, what to do), never a "not applicable" later.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from lepton.errors import UserError


class PassParams(BaseModel):
    """The params of a pass: frozen, no unknown names; ``to_json`` is the cache key's and the chain's form."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_json(self) -> dict[str, Any]:
        """The JSON-able params, sorted by name (tuples become lists): what a trial's chain records."""
        return dict(sorted(self.model_dump(mode="json").items()))


def validate_params(pass_name: str, model: type[PassParams], params: Mapping[str, Any]) -> PassParams:
    """``params`` checked against ``model``; a UserError naming the first bad param when they do not fit."""
    try:
        return model.model_validate(dict(params))
    except ValidationError as e:
        raise UserError(_message(pass_name, model, e)) from None


def _message(pass_name: str, model: type[PassParams], error: ValidationError) -> str:
    first = error.errors()[0]
    name = ".".join(str(part) for part in first["loc"]) or "params"
    known = ", ".join(sorted(model.model_fields)) or "none"
    if first["type"] == "extra_forbidden":
        return f"{pass_name}: unknown param {name!r}; its params are: {known}"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{pass_name}: param {name} {_lower(first['msg'])}; got {first['input']!r}{more}"


def _lower(msg: str) -> str:
    """Pydantic's "Input should be ..." read as part of a sentence: "should be ..."."""
    for prefix in ("Input should", "Value should", "Value error, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :].strip() if prefix.endswith(", ") else "should" + msg[len(prefix) :]
    return msg[:1].lower() + msg[1:]
