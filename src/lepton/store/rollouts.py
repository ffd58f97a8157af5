"""Rollout events and captured traffic, in the store's SQLite index (tables of their own, made on first use).

Serve owns the types (``serve.rollout_state.RolloutEvent``; a capture's tensors are ``.npz`` bytes): the store
keeps their JSON and bytes and gives them back. Each write is one transaction, so a killed server leaves either
the whole event (or capture) or none of it, and what was written survives a restart.

Captures rotate: each insert deletes the oldest rows of that model beyond ``max_rows`` and beyond ``max_bytes``
in the same transaction (retention: the newest ``max_rows`` requests, at most ``max_bytes`` of tensors, per
model; nothing older is kept).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from lepton.store.store import Store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rollout_events (
  rollout_id TEXT NOT NULL, seq INTEGER NOT NULL, model TEXT NOT NULL, t REAL NOT NULL, event TEXT NOT NULL,
  PRIMARY KEY (rollout_id, seq));
CREATE INDEX IF NOT EXISTS rollout_events_model ON rollout_events (model, t);
CREATE TABLE IF NOT EXISTS captures (
  id INTEGER PRIMARY KEY AUTOINCREMENT, model TEXT NOT NULL, t REAL NOT NULL, latency_s REAL NOT NULL,
  nbytes INTEGER NOT NULL, inputs BLOB NOT NULL, outputs BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS captures_model ON captures (model, id);
"""


@contextmanager
def _db(store: Store) -> Iterator[sqlite3.Connection]:
    with store._db() as db:  # the store's connection rule (WAL, one transaction)
        db.executescript(_SCHEMA)
        yield db


# -- rollout events ------------------------------------------------------------------------------
def add_event(store: Store, rollout_id: str, seq: int, model: str, t: float, event: Mapping[str, Any]) -> None:
    with _db(store) as db:
        db.execute(
            "INSERT OR REPLACE INTO rollout_events VALUES (?,?,?,?,?)",
            (rollout_id, seq, model, t, json.dumps(dict(event))),
        )


def events(store: Store, model: str | None = None, rollout_id: str | None = None) -> list[dict[str, Any]]:
    """Stored events, oldest first (all, one model's, or one rollout's)."""
    q, args = "SELECT event FROM rollout_events", []
    where = [(c, v) for c, v in (("model", model), ("rollout_id", rollout_id)) if v is not None]
    if where:
        q += " WHERE " + " AND ".join(f"{c}=?" for c, _ in where)
        args = [v for _, v in where]
    with _db(store) as db:
        rows = db.execute(q + " ORDER BY t, seq", args).fetchall()
    return [json.loads(r[0]) for r in rows]


# -- captured traffic ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Captured:
    """One captured request: arrival (Unix time), the server's latency, and its tensors as ``.npz`` bytes."""

    id: int
    model: str
    t: float
    latency_s: float
    inputs: bytes
    outputs: bytes


@dataclass(frozen=True)
class NewCapture:
    """A request to keep: arrival (Unix time), the server's latency, inputs and outputs as ``.npz`` bytes."""

    t: float
    latency_s: float
    inputs: bytes
    outputs: bytes


def add_captures(store: Store, model: str, new: Sequence[NewCapture], *, max_rows: int, max_bytes: int) -> None:
    """Keep requests (one transaction), then drop that model's oldest beyond ``max_rows`` and ``max_bytes``."""
    with _db(store) as db:
        db.executemany(
            "INSERT INTO captures (model, t, latency_s, nbytes, inputs, outputs) VALUES (?,?,?,?,?,?)",
            [(model, c.t, c.latency_s, len(c.inputs) + len(c.outputs), c.inputs, c.outputs) for c in new],
        )
        db.execute(
            "DELETE FROM captures WHERE model=? AND id NOT IN "
            "(SELECT id FROM captures WHERE model=? ORDER BY id DESC LIMIT ?)",
            (model, model, max_rows),
        )
        total = db.execute("SELECT COALESCE(SUM(nbytes), 0) FROM captures WHERE model=?", (model,)).fetchone()[0]
        while total > max_bytes:
            row = db.execute("SELECT id, nbytes FROM captures WHERE model=? ORDER BY id LIMIT 1", (model,)).fetchone()
            if row is None:
                break
            db.execute("DELETE FROM captures WHERE id=?", (row[0],))
            total -= row[1]


def captures(store: Store, model: str, limit: int | None = None) -> list[Captured]:
    """A model's captured requests in arrival order (the newest ``limit`` when given)."""
    with _db(store) as db:
        rows = db.execute(
            "SELECT id, model, t, latency_s, inputs, outputs FROM captures WHERE model=? ORDER BY id DESC LIMIT ?",
            (model, -1 if limit is None else limit),
        ).fetchall()
    return [Captured(*r) for r in reversed(rows)]


def capture_count(store: Store, model: str) -> int:
    with _db(store) as db:
        return int(db.execute("SELECT COUNT(*) FROM captures WHERE model=?", (model,)).fetchone()[0])
