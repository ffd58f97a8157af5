"""Lepton on a Ray cluster, when one machine is not enough: every setting measured on each kind of node
(``measurer``), the server as a Ray Serve deployment sized by the navigator's figures (``serving``), and
data-parallel training with Ray Train (``training``).

Ray is an optional extra (``pip install 'lepton-navigator[ray]'``); nothing here is imported unless ``--ray`` is
given, and without Ray ``--ray`` says how to install it in one line.
"""

from __future__ import annotations

from types import ModuleType

from lepton.errors import UserError

RAY_VERSION = "2.60.0"
INSTALL = f"pip install 'lepton-navigator[ray]' (ray[serve,train]=={RAY_VERSION})"


def require_ray() -> ModuleType:
    """The ``ray`` module, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UserError(f"--ray needs Ray, which is not installed here; install it with {INSTALL}") from None
    return ray
