"""``Prediction``: what the navigator measured for the configuration it recommends, as the server compares it.

The server's live figures (``serve.metrics.LivePoint``) use the same field names for the same quantities
(``throughput_per_s``, ``usd_per_1m``), so the dashboard draws the prediction beside the live line by name.
"""

from __future__ import annotations

from lepton.contract import Contract
from lepton.measure.timing import Latency


class Prediction(Contract):
    """The recommended configuration's measured figures, per replica."""

    throughput_per_s: float | None = None
    latency_ms: Latency | None = None
    usd_per_1m: float | None = None
