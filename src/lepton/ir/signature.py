"""Model signatures: input/output names, dtypes and shapes whose dims may be symbolic (``batch``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from lepton.errors import UserError

Dim = int | str  # an int is a fixed size; a str names a symbolic dim ("batch", "sequence", "?")
MAX_DIM = 2**31 - 1  # --shape: larger dims cannot be allocated, whatever the model

_ONNX_TO_NUMPY = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.DOUBLE: "float64",
    onnx.TensorProto.FLOAT16: "float16",
    onnx.TensorProto.BFLOAT16: "bfloat16",
    onnx.TensorProto.INT64: "int64",
    onnx.TensorProto.INT32: "int32",
    onnx.TensorProto.INT16: "int16",
    onnx.TensorProto.INT8: "int8",
    onnx.TensorProto.UINT8: "uint8",
    onnx.TensorProto.BOOL: "bool",
    onnx.TensorProto.STRING: "str",
}


@dataclass(frozen=True)
class TensorSpec:
    """One named tensor of a signature."""

    name: str
    dtype: str  # numpy dtype name, "str" for strings
    shape: tuple[Dim, ...]

    @property
    def symbolic(self) -> list[int]:
        """Indices of the dims that are not fixed."""
        return [i for i, d in enumerate(self.shape) if not isinstance(d, int)]

    def concrete(self, **sizes: int) -> tuple[int, ...] | None:
        """The shape with symbolic dims filled from ``sizes`` by name; None if one is unknown."""
        out = []
        for d in self.shape:
            if isinstance(d, int):
                out.append(d)
            elif d in sizes:
                out.append(sizes[d])
            else:
                return None
        return tuple(out)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TensorSpec:
        return cls(d["name"], d["dtype"], tuple(d["shape"]))


@dataclass(frozen=True)
class Signature:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    pinned: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def input(self, name: str) -> TensorSpec:
        for t in self.inputs:
            if t.name == name:
                return t
        names = ", ".join(t.name for t in self.inputs)
        raise UserError(f"the model has no input {name!r}; its inputs are: {names}")

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.outputs]

    def with_pins(self, pins: Mapping[str, Sequence[int]]) -> Signature:
        """Pin concrete shapes for inputs (``--shape input_ids=1,128``), checked against the dims."""
        merged = dict(self.pinned)
        for name, values in pins.items():
            spec = self.input(name)
            values = tuple(int(v) for v in values)
            if len(values) != len(spec.shape):
                dims = ", ".join(str(d) for d in spec.shape)
                example = ",".join(str(d) if isinstance(d, int) else "1" for d in spec.shape)
                raise UserError(
                    f"--shape: input {name!r} has {len(spec.shape)} dims ({dims}); got {len(values)} "
                    f"values {','.join(map(str, values))!r}. Example: --shape {name}={example}"
                )
            for want, got in zip(spec.shape, values, strict=True):
                if isinstance(want, int) and want != got:
                    raise UserError(
                        f"--shape: input {name!r} has a fixed dim of {want}; got {got}. Give {want} for that dim."
                    )
                if got <= 0:
                    raise UserError(f"--shape: input {name!r}: dims must be positive; got {got}")
                if got > MAX_DIM:
                    raise UserError(f"--shape: input {name!r}: a dim of {got} is too large (at most {MAX_DIM})")
            merged[name] = values
        return Signature(self.inputs, self.outputs, merged)

    def fixed_batch(self) -> int | None:
        """The batch size a model takes when every input's first dim is a fixed size (the first input's)."""
        dims = [s.shape[0] for s in self.inputs if s.shape]
        if dims and all(isinstance(d, int) for d in dims):
            return int(dims[0])
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs": [t.to_json() for t in self.inputs],
            "outputs": [t.to_json() for t in self.outputs],
            "pinned": {k: list(v) for k, v in self.pinned.items()},
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Signature:
        return cls(
            tuple(TensorSpec.from_json(t) for t in d["inputs"]),
            tuple(TensorSpec.from_json(t) for t in d["outputs"]),
            {k: tuple(v) for k, v in d.get("pinned", {}).items()},
        )

    @classmethod
    def from_onnx(cls, model: onnx.ModelProto) -> Signature:
        initializers = {i.name for i in model.graph.initializer}

        def spec(v: onnx.ValueInfoProto) -> TensorSpec:
            tt = v.type.tensor_type
            dtype = _ONNX_TO_NUMPY.get(tt.elem_type) or f"onnx:{tt.elem_type}"  # type: ignore[call-overload]
            dims: list[Dim] = []
            for i, d in enumerate(tt.shape.dim):
                if d.HasField("dim_value") and d.dim_value > 0:
                    dims.append(int(d.dim_value))
                elif d.dim_param:
                    dims.append(d.dim_param)
                else:
                    dims.append(f"dim{i}")
            return TensorSpec(v.name, dtype, tuple(dims))

        inputs = tuple(spec(v) for v in model.graph.input if v.name not in initializers)
        outputs = tuple(spec(v) for v in model.graph.output)
        return cls(inputs, outputs)


def numpy_dtype(dtype: str) -> np.dtype[Any]:
    if dtype == "bfloat16":
        raise UserError("bfloat16 inputs cannot be fed from numpy; give float32 inputs to this model")
    if dtype == "str":
        return np.dtype(object)
    return np.dtype(dtype)
