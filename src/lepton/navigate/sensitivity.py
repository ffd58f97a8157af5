"""The sensitivity stage: when a faster int8 variant only misses the quality bar, keep its worst nodes in float.

Works for any pass that declares ``keeps_nodes_in_float`` (dynamic and static int8 today, plug-ins alike).
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable, Sequence

from lepton.errors import CandidateError
from lepton.navigate.judged import JudgedTrial
from lepton.navigate.result import NodeLoss, SensitivityInfo
from lepton.navigate.run import RunState, Variant
from lepton.navigate.rungs import CALIBRATION_ROWS
from lepton.navigate.space import Candidate, chain_label, passes_of
from lepton.passes import PASSES, Pass, PassContext, apply_chain
from lepton.passes.sensitivity import sensitivity_candidates

WORTH = 1.05  # the rejected variant must beat the best passing one by 5% somewhere to be worth the cost
BUDGET_S = 60.0  # the most the stage may take unless asked for (--sensitivity on): estimated before it starts


def _excludable(t: JudgedTrial) -> bool:
    """A variant whose last pass can keep nodes in float and keeps none yet."""
    if not t.chain or t.chain[-1].params.get("nodes_to_exclude"):
        return False
    name = t.chain[-1].pass_
    return name in PASSES and PASSES.get(name).keeps_nodes_in_float


def faster_but_rejected(
    run: RunState, screened: Sequence[JudgedTrial], eligible: Callable[[JudgedTrial], bool]
) -> tuple[JudgedTrial, str] | None:
    """The ``eligible`` variant that misses the quality target but beats the best passing variant by the most
    (at least ``WORTH``) at some batch size, and a sentence that says so."""
    ok = [t for t in screened if t.measured]
    passing = [t for t in ok if (t.quality_drop or 0) <= run.targets.max_drop]
    failing = [t for t in ok if (t.quality_drop or 0) > run.targets.max_drop and eligible(t)]
    best_pass = {
        b: max((t.throughput for t in passing if t.batch_size == b), default=0.0) for b in {t.batch_size for t in ok}
    }
    gainers = [t for t in failing if t.throughput > WORTH * best_pass.get(t.batch_size, 0.0)]
    if not gainers:
        return None
    top = max(gainers, key=lambda t: t.throughput / max(best_pass[t.batch_size], 1e-9))
    gain = top.throughput / max(best_pass[top.batch_size], 1e-9)
    why = (
        f"{top.variant} is {gain:.2f}x the best passing variant at batch {top.batch_size} but drops quality "
        f"by {top.quality_drop:.4f}"
    )
    return top, why


def pick(
    run: RunState, screened: Sequence[JudgedTrial], variants: Sequence[Variant], always: bool
) -> tuple[list[Pass], str] | None:
    """The chain to analyse and why: the fastest rejected int8 variant that beats the best passing variant by
    ``WORTH`` at some batch size, or (``always``) the first int8 variant there is."""
    found = faster_but_rejected(run, screened, _excludable)
    if found is not None:
        return passes_of(found[0].chain), found[1]
    if always:
        for cand, _ in variants:
            last = cand.passes[-1] if cand.passes else None
            if last is not None and last.keeps_nodes_in_float and not last.params.to_json().get("nodes_to_exclude"):
                return list(cand.passes), "asked for (--sensitivity on)"
    return None


def sensitivity_stage(
    run: RunState,
    screened: Sequence[JudgedTrial],
    variants: list[Variant],
    always: bool,
    budget_s: float | None = BUDGET_S,
) -> tuple[list[Variant], SensitivityInfo | None]:
    """Rank the chosen variant's quantized nodes by sensitivity and build the variants keeping the worst few in
    float (for the fewest that reach the fidelity target, and its neighbours)."""
    picked = pick(run, screened, variants, always)
    if picked is None:
        return [], None
    chain, why = picked
    prefix, quant = chain[:-1], chain[-1]
    target = 1.0 - run.targets.max_drop
    feeds = run.workload.batches(run.calibration_batch, max(4, 4 * CALIBRATION_ROWS // run.calibration_batch))
    ctx = PassContext(store=run.store, hardware=run.build_hardware, calibration=feeds)
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            report, chains = sensitivity_candidates(
                run.artifact,
                ctx,
                prefix,
                quant,
                feeds=feeds,
                target=target,
                extra_ks=(),
                budget_s=None if always else budget_s,
            )
    except CandidateError as e:
        return [], SensitivityInfo(why=why, error=str(e))
    info = SensitivityInfo(
        why=why,
        quant=quant.params.to_json(),
        target=target,
        seconds=round(time.perf_counter() - t0, 1),
        reached=report.reached,
        kept_float=tuple(report.exclude),
        tried={str(k): v for k, v in report.tried.items()},
        ranking=tuple(NodeLoss(node=n.node, loss=round(n.loss, 6)) for n in report.ranking[:8]),
    )
    known = {c.label for c, _ in variants}
    out: list[Variant] = []
    for passes in chains:
        label = chain_label(passes)
        if not passes[-1].params.to_json().get("nodes_to_exclude") or label in known:
            continue  # k = 0 is the variant already screened
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                art = apply_chain(run.artifact, passes, ctx)
        except CandidateError:
            continue
        out.append((Candidate(label, passes, chain_label(passes[:-1])), art))
    return out, info
