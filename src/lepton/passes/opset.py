"""Opset conversion: a recorded step that brings an old export up to the opset a later pass needs.

Per-channel ``DequantizeLinear`` (its ``axis``) needs opset 13; the ``LayerNormalization`` that transformer
fusion writes needs 17 (FACTS.md). A pass that needs more declares ``min_opset``; the runner
(``lepton.passes.runner``) then applies ``convert-opset`` first through the cache, so the variant's parent is the
converted model.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import onnx
from pydantic import Field

from lepton.errors import PassError, first_line
from lepton.hardware import Hardware
from lepton.ir.artifact import Artifact
from lepton.ir.onnx_intake import default_opset, ort_max_opset
from lepton.passes.base import PASSES, Pass, PassContext, load_model, save_model
from lepton.passes.params import PassParams


class OpsetConversionError(PassError):
    """``onnx.version_converter`` could not convert the model (an op without an adapter, a bad graph)."""


def newest_opset() -> int:
    """The newest default-domain opset both the onnx converter and the installed onnxruntime support."""
    return min(onnx.defs.onnx_opset_version(), ort_max_opset())


def model_opset(artifact: Artifact) -> int | None:
    return default_opset(onnx.load(str(artifact.model_path), load_external_data=False))


class OpsetParams(PassParams):
    opset: int = Field(0, ge=0, description="the default-domain opset to reach; 0: the newest supported")


@PASSES.register("convert-opset")
class ConvertOpset(Pass[OpsetParams]):
    """Convert the model to a newer default-domain opset with ``onnx.version_converter``.

    ``opset`` 0 means the newest opset both onnx and the installed onnxruntime support. Only upgrades:
    a model already at ``opset`` or above is left as it is.
    """

    Params = OpsetParams
    family: ClassVar[str] = "graph"
    needs: ClassVar[frozenset[str]] = frozenset({"cpu"})

    def target(self) -> int:
        return self.params.opset or newest_opset()

    def check(self, artifact: Artifact, hw: Hardware) -> str | None:
        why = super().check(artifact, hw)
        if why:
            return why
        if self.target() > newest_opset():
            return f"opset {self.target()} is newer than onnx and onnxruntime here support ({newest_opset()})"
        current = model_opset(artifact)
        if current is None:
            return "the model imports no default-domain (ai.onnx) opset: nothing to convert"
        if current >= self.target():
            return f"the model is already at opset {current} (asked for {self.target()}); only upgrades are made"
        return None

    def build(self, artifact: Artifact, ctx: PassContext, work: Path) -> None:
        from onnx import version_converter

        model = load_model(artifact)
        current = default_opset(model)
        try:
            converted = version_converter.convert_version(model, self.target())
            converted.ir_version = max(converted.ir_version, _ir_version_for(self.target()))
            onnx.checker.check_model(converted)
        except Exception as e:  # noqa: BLE001  the converter raises RuntimeError, ValidationError, ...
            raise OpsetConversionError(
                f"{self.name}: onnx.version_converter cannot take this model from opset {current} to "
                f"{self.target()}: {first_line(e, 200)}"
            ) from e
        save_model(converted, work)


def _ir_version_for(opset: int) -> int:
    """The IR version the ONNX release that introduced ``opset`` wrote (some runtimes check the pair)."""
    for row in onnx.helper.VERSION_TABLE:  # (release, ir_version, ai.onnx opset, ai.onnx.ml opset, ...)
        if int(row[2]) >= opset:
            return int(row[1])
    return int(onnx.IR_VERSION)
