"""``LEPTON_HOME``: ``artifacts/<id>/`` folders and ``lepton.db`` (SQLite, WAL).

Writes are atomic: an artifact is built in ``tmp/`` and renamed into place once complete, and index rows
are written in one transaction, so a killed process never leaves a half-written entry.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lepton.errors import UserError
from lepton.ir.artifact import Artifact, Lineage, content_id
from lepton.ir.signature import Signature
from lepton.settings import lepton_home

_SCHEMA = """
CREATE TABLE IF NOT EXISTS artifacts (
  id TEXT PRIMARY KEY, name TEXT, parent TEXT, pass TEXT, params TEXT, task TEXT, created REAL);
CREATE TABLE IF NOT EXISTS models (
  name TEXT PRIMARY KEY, artifact_id TEXT NOT NULL, created REAL);
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, kind TEXT, model TEXT, artifact_id TEXT, status TEXT, created REAL,
  finished REAL, summary TEXT);
CREATE TABLE IF NOT EXISTS trials (
  id TEXT NOT NULL, run_id TEXT NOT NULL, artifact_id TEXT, status TEXT, record TEXT,
  PRIMARY KEY (run_id, id));
"""


class Store:
    def __init__(self, home: Path | None = None) -> None:
        self.home = Path(home) if home else lepton_home()
        self.artifacts_dir = self.home / "artifacts"
        self.tmp_dir = self.home / "tmp"
        try:
            self.artifacts_dir.mkdir(parents=True, exist_ok=True)
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(
                f"LEPTON_HOME {self.home} is not writable ({e.strerror}); set LEPTON_HOME to a writable folder"
            ) from None
        self.db_path = self.home / "lepton.db"
        with self._db() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.db_path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            with db:  # one transaction
                yield db
        finally:
            db.close()

    # -- artifacts -------------------------------------------------------------------------------
    @contextmanager
    def workdir(self) -> Iterator[Path]:
        """A scratch folder inside the store (same filesystem, so the final rename is atomic)."""
        path = Path(tempfile.mkdtemp(prefix="build-", dir=self.tmp_dir))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def commit_artifact(
        self,
        folder: Path,
        *,
        signature: Signature,
        task: str = "generic",
        source: Mapping[str, Any] | None = None,
        lineage: Lineage | None = None,
        files: Mapping[str, str] | None = None,
        name: str | None = None,
        torch_module: Any = None,
        format: str = "onnx",
    ) -> Artifact:
        """Move a complete artifact folder into the store; content-identical artifacts are shared.

        ``format``: "onnx" (``model.onnx``) or "openvino" (``model.xml`` + ``model.bin``).
        """
        lineage = lineage or Lineage()
        aid = content_id(folder, {"pinned": signature.to_json()["pinned"], "lineage": lineage.to_json()})
        final = self.artifacts_dir / aid
        art = Artifact(final, aid, signature, task, dict(source or {}), lineage, dict(files or {}), name, format)
        if not final.exists():
            staged = Path(tempfile.mkdtemp(prefix="stage-", dir=self.tmp_dir))
            for p in folder.iterdir():
                shutil.move(str(p), staged / p.name)
            art.with_(path=staged).write_meta()
            try:
                os.rename(staged, final)
            except OSError:  # another process committed the same content first
                shutil.rmtree(staged, ignore_errors=True)
        with self._db() as db:
            db.execute(
                "INSERT OR IGNORE INTO artifacts VALUES (?,?,?,?,?,?,?)",
                (
                    aid,
                    name,
                    lineage.parent,
                    lineage.pass_name,
                    json.dumps(dict(lineage.pass_params)),
                    task,
                    time.time(),
                ),
            )
        return art.with_(torch_module=torch_module)

    def artifact(self, aid: str) -> Artifact:
        folder = self.artifacts_dir / aid
        if not folder.exists():
            raise UserError(f"no artifact {aid!r} in {self.home}; `lepton models` lists what is stored")
        return Artifact.load(folder)

    def find_cached(self, parent: str, pass_name: str, params: Mapping[str, Any]) -> Artifact | None:
        """The artifact a pass made from ``parent`` with ``params`` before, if it is still stored."""
        with self._db() as db:
            row = db.execute(
                "SELECT id FROM artifacts WHERE parent=? AND pass=? AND params=?",
                (parent, pass_name, json.dumps(dict(params))),
            ).fetchone()
        if row and (self.artifacts_dir / row[0]).exists():
            return self.artifact(row[0])
        return None

    # -- named models ----------------------------------------------------------------------------
    def name_model(self, name: str, artifact_id: str) -> None:
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO models VALUES (?,?,?)", (name, artifact_id, time.time()))

    def models(self) -> list[dict[str, Any]]:
        with self._db() as db:
            rows = db.execute("SELECT name, artifact_id, created FROM models ORDER BY name").fetchall()
        return [{"name": n, "artifact_id": a, "created": c} for n, a, c in rows]

    def model_artifact(self, name: str) -> Artifact | None:
        with self._db() as db:
            row = db.execute("SELECT artifact_id FROM models WHERE name=?", (name,)).fetchone()
        return self.artifact(row[0]) if row else None

    # -- runs and trials -------------------------------------------------------------------------
    def start_run(self, kind: str, model: str | None, artifact_id: str | None) -> str:
        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        with self._db() as db:
            db.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?)",
                (run_id, kind, model, artifact_id, "running", time.time(), None, None),
            )
        return run_id

    def add_trial(self, run_id: str, record: Mapping[str, Any]) -> None:
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO trials VALUES (?,?,?,?,?)",
                (
                    record["id"],
                    run_id,
                    record.get("artifact_id"),
                    record.get("status", "ok"),
                    json.dumps(record, default=str),
                ),
            )

    def finish_run(self, run_id: str, status: str, summary: Mapping[str, Any]) -> None:
        with self._db() as db:
            db.execute(
                "UPDATE runs SET status=?, finished=?, summary=? WHERE id=?",
                (status, time.time(), json.dumps(summary, default=str), run_id),
            )

    def runs(self, model: str | None = None) -> list[dict[str, Any]]:
        q = "SELECT id, kind, model, artifact_id, status, created, finished FROM runs"
        args: tuple[Any, ...] = ()
        if model:
            q += " WHERE model=?"
            args = (model,)
        with self._db() as db:
            rows = db.execute(q + " ORDER BY created DESC", args).fetchall()
        keys = ("id", "kind", "model", "artifact_id", "status", "created", "finished")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def run(self, run_id: str) -> dict[str, Any]:
        with self._db() as db:
            row = db.execute(
                "SELECT id, kind, model, artifact_id, status, created, finished, summary FROM runs WHERE id=?",
                (run_id,),
            ).fetchone()
            if row is None:
                raise UserError(f"no run {run_id!r} in {self.home}; `lepton runs` lists them")
            trials = db.execute("SELECT record FROM trials WHERE run_id=?", (run_id,)).fetchall()
        keys = ("id", "kind", "model", "artifact_id", "status", "created", "finished")
        out = dict(zip(keys, row[:7], strict=True))
        out["summary"] = json.loads(row[7]) if row[7] else {}
        out["trials"] = [json.loads(t[0]) for t in trials]
        return out

    def latest_run(self, model: str, kind: str = "optimize", status: str = "done") -> dict[str, Any] | None:
        with self._db() as db:
            row = db.execute(
                "SELECT id FROM runs WHERE model=? AND kind=? AND status=? ORDER BY created DESC LIMIT 1",
                (model, kind, status),
            ).fetchone()
        return self.run(row[0]) if row else None
