"""Probe, don't trust, the batch axis: a graph may declare ``x: [batch, seq]`` and still fix the batch inside
(a Reshape to ``[1, seq, 3, 192]``). Before the search the model runs at batch 2, at the largest batch asked
for and at the sizes the stages feed at once; when one fails, the largest that ran is the most any stage
(reference, quality, calibration, sensitivity, screens) feeds at once, and larger batch sizes are left out."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lepton.engines.base import RuntimeConfig, Session, open_session
from lepton.errors import EngineError
from lepton.ir.artifact import Artifact
from lepton.measure.failures import inputs_rejected, run_failure
from lepton.measure.workload import Workload

_SOURCE = re.compile(r"/onnxruntime_src/\S+ .*? (was false|failed)\. ")  # "file.h:91 Class::f(...) X was false. "
FED = (8, 32)  # rows fed at once besides the batch sizes: a calibration batch, a quality chunk (run_all)


@dataclass(frozen=True)
class BatchLimit:
    """The largest batch the model runs at, and why no larger one (the failing node, in one line)."""

    largest: int
    failed_at: int
    why: str  # run_failure's line: "node 'node_view' (Reshape): ..."

    @property
    def node(self) -> str:
        """The failing node as ``node 'X' (Op)`` (the whole reason when ONNX Runtime named none)."""
        head, sep, _ = self.why.partition(": ")
        return head if sep and head.startswith(("node ", "a ")) else self.why

    def note(self) -> str:
        """``runs only at batch 1: node 'node_view' (Reshape) fixes it (at batch 2: the input tensor ...)``."""
        upto = "only at batch 1" if self.largest == 1 else f"at batches up to {self.largest}"
        message = self.why.removeprefix(f"{self.node}: ") if self.node != self.why else self.why
        return f"runs {upto}: {self.node} fixes it (at batch {self.failed_at}: {message})"


def probe_batch(
    artifact: Artifact, workload: Workload, batch_sizes: Sequence[int], engine: str = "onnxruntime"
) -> BatchLimit | None:
    """Run ``artifact`` at batch 2, at the largest of ``batch_sizes`` and at the sizes the stages feed at once
    (``FED``), smallest first, up to the first that fails; None when every one runs or the signature fixes the
    batch itself. A model that fails at batch 1 too is the user's to fix (``inputs_rejected``: one line naming
    the node)."""
    if artifact.signature.fixed_batch() is not None or workload.n_rows < 1:
        return None
    session = open_session(engine, artifact, RuntimeConfig())
    try:
        largest = 1
        fed = {min(f, workload.n_rows) for f in FED}  # a stage never feeds more rows than the workload has
        for size in sorted({2, max(batch_sizes, default=1), *fed} - {1}):
            try:
                session.run(workload.batch(size))
            except Exception as e:  # noqa: BLE001  every engine raises its own types
                if largest == 1:
                    _check_one(session, workload, artifact)
                return BatchLimit(largest=largest, failed_at=size, why=_reason(e))
            largest = size
        return None
    finally:
        session.close()


def _reason(error: BaseException) -> str:
    """run_failure's line for the engine's own error, without ONNX Runtime's C++ source location."""
    cause = error.__cause__ if isinstance(error, EngineError) and error.__cause__ else error
    return _SOURCE.sub("", run_failure(cause))


def _check_one(session: Session, workload: Workload, artifact: Artifact) -> None:
    """Batch 1 must run: when it does not, the inputs are wrong, not the batch."""
    try:
        session.run(workload.batch(1))
    except Exception as e:  # noqa: BLE001  every engine raises its own types
        raise inputs_rejected(e, workload, artifact.signature.input_names) from None
