"""``lepton train``: data preparation -> training (PyTorch recipes: classify, forecast, finetune) -> evaluation
against simple baselines -> export to an ONNX Artifact that carries its held-out test split.

The package is also callable, ``lepton.train("classify", example="digits")``: ``lepton.train`` is this package
once any of its modules has been imported, so calling it forwards to :func:`lepton.train.run.train` through
:func:`lepton.api.train`'s implementation (the same keyword options as the CLI).
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallablePackage(types.ModuleType):
    def __call__(self, recipe: str, data: Any = None, **options: Any) -> Any:
        from lepton.train.face import train

        return train(recipe, data, **options)


sys.modules[__name__].__class__ = _CallablePackage
