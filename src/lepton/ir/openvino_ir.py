"""OpenVINO IR (``model.xml`` + ``model.bin``): one shared OpenVINO Core, reading, and the signature of an IR.

OpenVINO reads ONNX as well, so the OpenVINO engine and the OpenVINO passes open every artifact through here.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from lepton.errors import IntakeError, LeptonError
from lepton.ir.signature import Dim, Signature, TensorSpec

OPENVINO_MISSING = "the openvino package is not installed; pip install openvino==2026.4.1"


@functools.cache
def ov_core() -> Any:
    """The process's OpenVINO Core (thread-safe; reading and compiling go through it)."""
    import openvino as ov

    return ov.Core()


def ov_message(error: BaseException) -> str:
    """The informative line of an OpenVINO exception (its first lines are C++ source locations)."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("Exception from", "Check '")) and "src/" not in ln]
    return (useful[-1] if useful else (lines[-1] if lines else type(error).__name__))[:300]


def read_model(path: Path, error: type[LeptonError] = IntakeError) -> Any:
    """An ``openvino.Model`` from ``model.onnx`` or ``model.xml`` (+ ``model.bin``); ``error`` when it cannot."""
    core = ov_core()
    try:
        if path.suffix == ".xml":
            return core.read_model(str(path), str(path.with_suffix(".bin")))
        return core.read_model(str(path))
    except RuntimeError as e:
        raise error(f"OpenVINO cannot read {path}: {ov_message(e)}") from None


def _dtype_name(element_type: Any) -> str:
    name = element_type.get_type_name()
    if name == "bf16":
        return "bfloat16"
    try:
        return str(element_type.to_dtype().name)
    except (RuntimeError, TypeError, ValueError):
        return f"openvino:{name}"


def _spec(port: Any, index: int) -> TensorSpec:
    names = sorted(port.get_names())
    pshape = port.get_partial_shape()
    dims: list[Dim] = []
    if pshape.rank.is_static:
        for i, d in enumerate(pshape):
            dims.append(int(d.get_length()) if d.is_static else f"dim{i}")
    return TensorSpec(names[0] if names else f"tensor{index}", _dtype_name(port.get_element_type()), tuple(dims))


def signature_of(model: Any) -> Signature:
    """The signature an ``openvino.Model`` declares; dynamic dims are named ``dim<i>`` (IR keeps no dim names)."""
    return Signature(
        tuple(_spec(p, i) for i, p in enumerate(model.inputs)),
        tuple(_spec(p, i) for i, p in enumerate(model.outputs)),
    )


def port_name(port: Any, wanted: list[str]) -> str:
    """The name of an OpenVINO port that the artifact's signature uses (a port may carry several names)."""
    names = port.get_names()
    for w in wanted:
        if w in names:
            return w
    return str(port.get_any_name())
