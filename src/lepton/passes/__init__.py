"""The algorithm library: passes that turn one Artifact into a faster or smaller one.

``PASSES`` is the registry (third parties add theirs through the ``lepton.passes`` entry-point group); a pass is
``Params`` + ``check`` + ``build``, and ``runner.apply_pass`` / ``apply_chain`` apply passes with caching;
``sensitivity`` ranks quantizable nodes so the most sensitive can stay in float.
"""

from lepton.passes.base import PASSES, Pass, PassContext, check_step, create, describe, synthesize_feeds
from lepton.passes.params import PassParams

# Importing the modules registers the built-in passes.
from lepton.passes import genai as _genai  # noqa: E402,F401  isort: skip
from lepton.passes import graph as _graph  # noqa: E402,F401  isort: skip
from lepton.passes import opset as _opset  # noqa: E402,F401  isort: skip
from lepton.passes import openvino as _openvino  # noqa: E402,F401  isort: skip
from lepton.passes import openvino_lm as _openvino_lm  # noqa: E402,F401  isort: skip
from lepton.passes import precision as _precision  # noqa: E402,F401  isort: skip
from lepton.passes import prune as _prune  # noqa: E402,F401  isort: skip
from lepton.passes import quantize as _quantize  # noqa: E402,F401  isort: skip
from lepton.passes.runner import apply_chain, apply_pass  # noqa: E402  isort: skip

__all__ = [
    "PASSES",
    "Pass",
    "PassContext",
    "PassParams",
    "apply_chain",
    "apply_pass",
    "check_step",
    "create",
    "describe",
    "synthesize_feeds",
]
