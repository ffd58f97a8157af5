"""Lepton: take a trained model to production at the best trade-off of speed, cost and accuracy.

``lepton.import_model``, ``lepton.bench``, ``lepton.optimize``, ``lepton.train``, ``lepton.check`` and
``lepton.drift`` mirror the CLI;
``lepton.Client`` talks to ``lepton serve``. They are imported on first use so that ``import lepton`` stays light.
"""

from typing import Any

from lepton.errors import LeptonError, UserError
from lepton.settings import VERSION

__version__ = VERSION

__all__ = [
    "Client",
    "LeptonError",
    "UserError",
    "__version__",
    "bench",
    "check",
    "drift",
    "import_model",
    "optimize",
    "train",
]


def __getattr__(name: str) -> Any:
    if name in ("bench", "check", "drift", "import_model", "optimize", "train"):
        from lepton import api

        return getattr(api, name)
    if name == "Client":
        from lepton.client import Client

        return Client
    raise AttributeError(f"module 'lepton' has no attribute {name!r}")
