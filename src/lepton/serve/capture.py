"""Captured traffic (``--capture 1%``): a bounded, rotating sample of live requests kept in the store.

Each sampled request keeps its inputs, the output it was served, its latency in the server and its arrival
(Unix time), as ``.npz`` bytes in the store's ``captures`` table (``store.rollouts``). Off by default.
Retention: per model, the newest ``--capture-max-rows`` requests (default 10,000) and at most
``--capture-max-mb`` of tensors (default 256 MB); older ones are deleted as new ones arrive, in the same
transaction. Writes run on one thread of their own, everything waiting in one transaction, with at most
``max_pending`` requests waiting, so capturing never delays an answer (a sample beyond that is skipped).

Captured traffic is data like any other: ``lepton optimize NAME --data captured:NAME`` measures on its inputs, so do
``lepton check NAME --data captured:NAME`` and ``lepton drift NAME --data/--reference captured:NAME`` (``data_path``
reads the prefix for every face); ``lepton replay NAME URL`` sends them again at their recorded arrival times.
"""

from __future__ import annotations

import io
import logging
import random
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from lepton.errors import UserError
from lepton.store import rollouts as stored
from lepton.store.store import Store

PREFIX = "captured:"
log = logging.getLogger("lepton.serve")


def to_npz(arrays: Mapping[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, *(), **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]
    return buf.getvalue()


def from_npz(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


class Capture:
    max_pending = 512  # requests waiting for the writer; beyond it a sample is skipped

    def __init__(
        self, store: Store, model: str, rate: float, max_rows: int, max_mb: float, *, seed: int | None = None
    ) -> None:
        self.store, self.model, self.rate = store, model, rate
        self.max_rows, self.max_bytes = max_rows, int(max_mb * 1e6)
        self._rng = random.Random(seed)
        self._pending: list[tuple[dict[str, np.ndarray], dict[str, np.ndarray], float, float]] = []
        self._flushing = False
        self._lock = threading.Lock()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lepton-capture")

    def maybe(
        self, feeds: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray], arrival: float, latency_s: float
    ) -> bool:
        """Keep this request with probability ``rate``; True when it was queued for the store."""
        if self._rng.random() >= self.rate:
            return False
        with self._lock:
            if len(self._pending) >= self.max_pending:
                return False
            self._pending.append((dict(feeds), dict(outputs), arrival, latency_s))
            if self._flushing:
                return True
            self._flushing = True
        self._writer.submit(self._flush)
        return True

    def _flush(self) -> None:
        """Write everything queued in one transaction; again while more arrived meanwhile."""
        while True:
            with self._lock:
                batch, self._pending = self._pending, []
                if not batch:
                    self._flushing = False
                    return
            new = [stored.NewCapture(t, lat, to_npz(f), to_npz(o)) for f, o, t, lat in batch]
            try:
                stored.add_captures(self.store, self.model, new, max_rows=self.max_rows, max_bytes=self.max_bytes)
            except Exception:  # noqa: BLE001 - capture is best effort: serving goes on, the log says why
                log.exception("capture of %s: %d requests not stored", self.model, len(new))

    def close(self) -> None:
        self._writer.shutdown(wait=True)


def captured_inputs(store: Store, model: str) -> list[dict[str, np.ndarray]]:
    """The inputs of a model's captured requests, oldest first."""
    return [from_npz(c.inputs) for c in stored.captures(store, model)]


def export_npz(store: Store, model: str, path: Path) -> Path:
    """Write a model's captured inputs as one ``.npz`` of rows (what ``--data`` reads): requests are stacked along
    the first axis; where their other dims differ (token sequences), shorter ones are padded with 0 at the end
    (the pad id and a masked position)."""
    requests = captured_inputs(store, model)
    if not requests:
        raise UserError(
            f"--data {PREFIX}{model}: nothing is captured for {model!r}; serve it with --capture 1% first "
            "(the store keeps what a server captured)"
        )
    out: dict[str, np.ndarray] = {}
    for name in requests[0]:
        arrays = [r[name] for r in requests]
        ndim = arrays[0].ndim
        longest = [max(a.shape[i] for a in arrays) for i in range(ndim)]
        padded = [np.pad(a, [(0, 0)] + [(0, longest[i] - a.shape[i]) for i in range(1, ndim)]) for a in arrays]
        out[name] = np.concatenate(padded, axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, *(), **out)  # type: ignore[arg-type]
    return path


def data_path(data: str | Path | None, store: Store) -> Path | None:
    """A ``--data`` (or ``--reference``) value as a file: ``captured:NAME`` becomes NAME's captured inputs
    (``captured_data``); anything else is a path as given."""
    if data is None:
        return None
    if str(data).startswith(PREFIX):
        return captured_data(store, str(data))
    return Path(data)


def captured_data(store: Store, spec: str) -> Path:
    """``--data captured:NAME``: NAME's captured inputs written as ``captures/NAME.npz`` in the store, read as
    any ``.npz`` is."""
    name = spec.removeprefix(PREFIX)
    if not name:
        raise UserError(f"--data {spec}: name the model whose capture to use, e.g. --data {PREFIX}minilm")
    return export_npz(store, name, store.home / "captures" / f"{name}.npz")
