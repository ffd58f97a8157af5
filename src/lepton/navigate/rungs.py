"""The rungs of a search and the constants each one's measurements follow."""

from __future__ import annotations

SCREEN, QUICK, PRECISE = 0, 1, 2  # the rungs of a search: every setting, the promising ones, the recommendation
SCREEN_ROWS = 64  # rows screens and quick measurements judge fidelity on (precise ones: every row)
CALIBRATION_ROWS = 8  # rows per calibration batch (passes re-cut them for a model with a smaller fixed batch)
HOPELESS = 3.0  # a screen slower than this many times the fastest at its batch size stops after one run
