"""The drift monitor of a served model (``lepton serve --drift``): live rows against the model's stored evaluation
data, off the request path.

A request hands its inputs and outputs to ``DriftMonitor.observe``, which only queues them (a bounded queue: when
it is full the rows are skipped and counted, never waited for). One thread per model turns them into features
(``measure.drift``), keeps the last ``window`` rows, and judges the window every ``every`` new rows; each report
goes to the metrics (Prometheus gauges per model and feature) and is kept as ``latest``.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from fastapi import APIRouter, Request
from starlette.responses import Response

from lepton.contract import Contract
from lepton.errors import ServeError, UserError
from lepton.ir.artifact import Artifact
from lepton.measure.drift import DriftReport, Features, Profile, Window, compare, features, merged, profile
from lepton.measure.workload import load_workload, make_workload
from lepton.serve.limits import json_response
from lepton.serve.openapi import answers, ok
from lepton.serve.protocols.common import server_of
from lepton.store.store import Store

log = logging.getLogger("lepton.serve")
router = APIRouter(tags=["Observability"])
Run = Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray]]


def stored_data(model: str, store: Store | None = None) -> Path | None:
    """The data the model's latest optimize run measured on (its ``--data``), while that file still exists."""
    try:
        run = (store or Store()).latest_run(model)
    except UserError:
        return None
    data = (run.payload.get("options") or {}).get("data") if run else None
    return Path(data) if data and Path(data).exists() else None


def reference_profile(artifact: Artifact, run: Run, data: Path | None = None, batch: int = 32) -> Profile:
    """The reference: the model's evaluation data (``--drift-data``; else the data its optimize run measured on;
    else what ``make_workload`` finds: the held-out split a trained model keeps, the bundled sentences, else inputs
    synthesized from the signature) and the model's outputs on it."""
    if data is None and artifact.name:
        data = stored_data(artifact.name)
    workload = make_workload(artifact, data)
    parts: dict[str, list[np.ndarray]] = {}
    for chunk in workload.chunks(batch):
        for k, v in run(chunk).items():
            parts.setdefault(k, []).append(np.asarray(v))
    outputs = {k: np.concatenate(v) for k, v in parts.items()}
    return profile(features(workload.rows, outputs, artifact.task), workload.source)


class DriftMonitor:
    def __init__(
        self,
        model: str,
        reference: Profile,
        task: str,
        report: Callable[[DriftReport], None],
        *,
        window: int = 500,
        every: int = 50,
        max_pending: int = 256,
    ) -> None:
        self.model = model
        self.reference = reference
        self.task = task
        self.report = report
        self.window = Window(window)
        self.every = every
        self.latest: DriftReport | None = None
        self.skipped = 0  # requests left out because the queue was full
        self._queue: queue.Queue[tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None] = queue.Queue(max_pending)
        self._since = 0
        self._lock = threading.Lock()  # the window: the monitor's thread adds, the drift route reads
        self._thread = threading.Thread(target=self._loop, name=f"lepton-drift-{model}", daemon=True)
        self._thread.start()

    def observe(self, feeds: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray]) -> None:
        """Queue a request's rows (never blocks)."""
        try:
            self._queue.put_nowait((dict(feeds), dict(outputs)))
        except queue.Full:
            self.skipped += 1

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.task_done()
                return
            try:
                f = features(item[0], item[1], self.task)
                with self._lock:
                    self.window.add(f)
                self._since += f.rows
                if self._since >= self.every:
                    self._since = 0
                    self.judge()
            except Exception:  # a request the features cannot read must not stop the monitor
                log.exception("drift monitor of %s: a request's rows could not be read", self.model)
            finally:
                self._queue.task_done()

    def judge(self) -> DriftReport:
        """The current window against the reference (also published)."""
        with self._lock:
            rows = self.window.features()
        rep = compare(self.model, self.reference, rows)
        self.latest = rep
        self.report(rep)
        return rep

    def flush(self, timeout: float = 5.0) -> None:
        """Wait (at most ``timeout`` s) until every queued request was read."""
        end = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < end:
            time.sleep(0.01)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5.0)


@router.get(
    "/v1/models/{name}/drift",
    summary="The model's live window against its reference, feature by feature (lepton serve --drift)",
    responses=answers(ok({"type": "object"}, "A DriftReport (lepton schema: measure.drift.DriftReport)"), 404),
)
async def drift_report(request: Request, name: str) -> Response:
    model = server_of(request).registry.get(name)
    if model.drift is None:
        raise ServeError(f"drift is not watched for {name!r}: start the server with --drift", 404)
    monitor = model.drift

    def current() -> DriftReport:
        monitor.flush()
        return monitor.judge()

    return json_response((await asyncio.to_thread(current)).to_json())


def drift_of_file(
    model: str, artifact: Artifact, run: Run, live: Path, *, reference: Path | None = None, window: int = 500
) -> tuple[DriftReport, list[DriftReport], Profile]:
    """``lepton drift NAME --data LIVE``: the whole file against the reference, and the file's sliding windows of
    ``window`` rows (half a window apart, in the file's order) as the server would have judged them."""
    ref = reference_profile(artifact, run, reference)
    rows = load_workload(artifact, live)
    parts: list[Features] = []
    for chunk in rows.chunks(32):
        parts.append(features(chunk, dict(run(chunk)), artifact.task))
    whole = compare(model, ref, merged(parts))
    timeline: list[DriftReport] = []
    win = Window(window)
    step = max(1, window // 2)
    since = 0
    for p in parts:
        win.add(p)
        since += p.rows
        if since >= step and win.count >= min(window, whole.window_rows):
            since = 0
            timeline.append(compare(model, ref, win.features()))
    if since and win.count >= min(window, whole.window_rows):  # the file's last rows
        timeline.append(compare(model, ref, win.features()))
    return whole, timeline, ref


class DriftResult(Contract):
    """What ``lepton drift`` judged: the whole of the live data (or a server's window) against the reference, and
    the sliding windows of a file as a server would have judged them."""

    report: DriftReport
    timeline: list[DriftReport] = []
    window: int = 500

    @property
    def alarmed(self) -> DriftReport | None:
        """The first window that alarmed (None: none did)."""
        return next((t for t in self.timeline if t.alert), None)

    @property
    def exit_code(self) -> int:
        """1 when the data drifted (as a whole, or in any window on the way), else 0."""
        return 1 if self.report.alert or self.alarmed is not None else 0


def judge_drift(
    name: str,
    *,
    data: Path | None = None,
    url: str | None = None,
    reference: Path | None = None,
    window: int = 500,
    store: Store | None = None,
) -> DriftResult:
    """``lepton drift``: the live ``data`` file (its windows too) against ``reference`` (default: the model's own
    evaluation data), or the current window of a server started with ``--drift`` at ``url``."""
    if (data is None) == (url is None):
        raise UserError("lepton drift: give either --data LIVE_FILE or --url of a server started with --drift")
    if window < 20:
        raise UserError(f"--window must be at least 20 rows; got {window}")
    if url is not None:
        import httpx

        model = name.partition(":")[0]
        try:
            r = httpx.get(f"{url.rstrip('/')}/v1/models/{model}/drift", timeout=30)
        except httpx.HTTPError as e:
            raise UserError(f"--url {url}: no answer ({e}); is `lepton serve --drift` running there?") from None
        if r.status_code != 200:
            raise UserError(f"--url {url}: {r.status_code} {r.text.strip()}")
        return DriftResult(report=DriftReport.from_json(r.json()), window=window)
    assert data is not None
    from lepton.engines.base import open_session
    from lepton.serve.refs import resolve_ref

    resolved = resolve_ref(name, store)
    session = open_session(resolved.engine, resolved.artifact, resolved.runtime)
    try:
        base = resolved.reference or resolved.artifact
        report, timeline, _ = drift_of_file(resolved.name, base, session.run, data, reference=reference, window=window)
    finally:
        session.close()
    return DriftResult(report=report, timeline=timeline, window=window)
