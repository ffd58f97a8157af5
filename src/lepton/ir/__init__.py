"""Intermediate representation: an Artifact is an ONNX model on disk with its signature and lineage."""

from lepton.ir.artifact import Artifact, Lineage
from lepton.ir.signature import Dim, Signature, TensorSpec

__all__ = ["Artifact", "Dim", "Lineage", "Signature", "TensorSpec"]
