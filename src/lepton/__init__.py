"""Lepton: take a trained model to production at the best trade-off of speed, cost and accuracy."""

from lepton.errors import LeptonError, UserError

__version__ = "0.1.0"

__all__ = ["LeptonError", "UserError", "__version__"]
