"""The progress callback every long operation takes: ``progress(what, done, total)``."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]
