"""The rollout's sequential test: a Wald SPRT on "the candidate agrees with the incumbent", with Ville's bounds.

Each compared request is one Bernoulli trial: the candidate *disagrees* when its fidelity to the incumbent's
answer on the same request (the row cosine of ``lepton.similarity``, read as the navigator reads it:
``Headline("cosine", c).drop_from(1.0)``) drops by more than ``--max-drop``. A good candidate disagrees at a rate
of at most ``q0``; a bad one at ``q1`` or more. The log-likelihood ratio after ``n`` trials with ``d``
disagreements is ``d*log(q1/q0) + (n-d)*log((1-q1)/(1-q0))``.

Why an SPRT, and why these bounds: the server looks at the evidence after every request. A fixed-sample test
read that often would reject far more often than its level. Under H0 the likelihood ratio is a non-negative
martingale with mean 1, so by Ville's inequality P(it ever reaches 1/alpha) <= alpha, however often it is
looked at and whenever the look stops; under H1 the inverse ratio is one too, so P(it ever falls to beta) <=
beta. Rolling back at ``log(1/alpha)`` and promoting at ``log(beta)`` (Wald's approximate bounds tightened to
these exact ones) keeps both error rates valid under continuous monitoring, and an SPRT stops soonest on
average among tests with the error rates it achieves (Wald-Wolfowitz). The hypotheses are composite (q <= q0 against
q >= q1); the Bernoulli family has a monotone likelihood ratio, so the error rates are largest at q0 and q1.

No decision is taken before ``min_samples`` comparisons, whatever the ratio says. Latency is a guard, not a
test: once the candidate has ``min_latency`` answers, its latency above the bound (an absolute ``--latency-bound``
or, by default, ``latency_ratio`` times the incumbent's on the same traffic) rolls it back at once, as any error
or timeout does; the test's promotion waits until the guard has those ``min_latency`` answers. Like is compared
with like: the p95 of answers given to clients once the candidate has given ``min_latency`` of them (canary,
ramp; against the incumbent, its median must breach too), else (shadow only) the median of each session's batch
run time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lepton.quality import Headline

PROMOTE = "promote"
ROLLBACK = "rollback"


def agrees(cosine: float, max_drop: float) -> bool:
    """The navigator's rule for one request: the fidelity drop from a perfect 1.0 is within ``max_drop``."""
    return Headline("cosine", cosine, True).drop_from(1.0) <= max_drop + 1e-12


@dataclass(frozen=True)
class Sprt:
    """Thresholds of the test. ``alpha``: the chance of rolling back a good candidate; ``beta``: of promoting a
    bad one. ``q0``/``q1``: the disagreement rates of a good and of a bad candidate."""

    q0: float = 0.01
    q1: float = 0.10
    alpha: float = 0.05
    beta: float = 0.05
    min_samples: int = 50

    def __post_init__(self) -> None:
        if not 0 < self.q0 < self.q1 < 1:
            raise ValueError(f"the SPRT needs 0 < q0 < q1 < 1; got q0={self.q0}, q1={self.q1}")
        if not (0 < self.alpha < 1 and 0 < self.beta < 1):
            raise ValueError(f"alpha and beta are probabilities in (0, 1); got {self.alpha}, {self.beta}")

    @property
    def upper(self) -> float:
        """Roll back at or above this log ratio (Ville: log(1/alpha))."""
        return math.log(1.0 / self.alpha)

    @property
    def lower(self) -> float:
        """Promote at or below this log ratio (Ville, for the inverse ratio: log(beta))."""
        return math.log(self.beta)

    def llr(self, n: int, disagreements: int) -> float:
        agree = n - disagreements
        return disagreements * math.log(self.q1 / self.q0) + agree * math.log((1 - self.q1) / (1 - self.q0))

    def decide(self, n: int, disagreements: int) -> str | None:
        """PROMOTE, ROLLBACK, or None (not enough evidence yet, or fewer than ``min_samples`` trials)."""
        if n < self.min_samples:
            return None
        ratio = self.llr(n, disagreements)
        if ratio >= self.upper:
            return ROLLBACK
        if ratio <= self.lower:
            return PROMOTE
        return None


def latency_breach(
    candidate_p95_ms: float | None,
    incumbent_p95_ms: float | None,
    *,
    bound_ms: float | None,
    ratio: float,
    floor_ms: float = 1.0,
    statistic: str = "p95",
) -> str | None:
    """Why the candidate's p95 breaks the latency bound (None: it does not, or there is no figure yet).

    With ``bound_ms`` (``--latency-bound``) the bound is absolute; else it is ``ratio`` times the incumbent's p95
    on the same window, never below the incumbent's p95 plus ``floor_ms`` (sub-millisecond models jitter by more
    than their own latency on a shared machine)."""
    if candidate_p95_ms is None:
        return None
    if bound_ms is not None:
        return f"{statistic} {candidate_p95_ms:.2f} ms > bound {bound_ms:g} ms" if candidate_p95_ms > bound_ms else None
    if incumbent_p95_ms is None:
        return None
    limit = max(incumbent_p95_ms * ratio, incumbent_p95_ms + floor_ms)
    if candidate_p95_ms > limit:
        return f"{statistic} {candidate_p95_ms:.2f} ms > {ratio:g}x the incumbent's {incumbent_p95_ms:.2f} ms"
    return None
