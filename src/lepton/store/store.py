"""``LEPTON_HOME``: ``artifacts/<id>/`` folders and ``lepton.db`` (SQLite, WAL).

Writes are atomic: an artifact is built in ``tmp/`` and renamed into place once complete, and index rows
are written in one transaction, so a killed process never leaves a half-written entry.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lepton.contract import Contract
from lepton.errors import UserError
from lepton.fileio import publish_dir
from lepton.ir.artifact import Artifact, Lineage, content_id
from lepton.ir.signature import Signature
from lepton.ir.source import Source
from lepton.settings import lepton_home
from lepton.store.liveness import owner_alive, owner_tag, remove_stale_scratch, scratch_prefix
from lepton.store.runs import Record, RunSummary, StoredRun

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
CREATE TABLE IF NOT EXISTS explanations (
  run_id TEXT NOT NULL, trial_id TEXT NOT NULL, record TEXT, PRIMARY KEY (run_id, trial_id));
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
            have = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
            for column, kind in (("owner", "TEXT"), ("heartbeat", "REAL")):  # stores made by older versions
                if column not in have:
                    db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
        remove_stale_scratch(self.tmp_dir)

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
        path = Path(tempfile.mkdtemp(prefix=scratch_prefix(), dir=self.tmp_dir))
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
        source: Source | None = None,
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
        art = Artifact(final, aid, signature, task, source, lineage, dict(files or {}), name, format)
        if not final.exists():
            staged = Path(tempfile.mkdtemp(prefix=scratch_prefix().replace("build", "stage"), dir=self.tmp_dir))
            for p in folder.iterdir():
                shutil.move(str(p), staged / p.name)
            art.with_(path=staged).write_meta()
            publish_dir(staged, final)  # False: another process committed the same content first
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
        now = time.time()
        with self._db() as db:
            db.execute(
                f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (run_id, kind, model, artifact_id, "running", now, None, None, owner_tag(), now),
            )
        return run_id

    def reopen_run(self, run_id: str) -> None:
        """Take over an interrupted run (``--resume``): running again, owned by this process."""
        with self._db() as db:
            db.execute(
                "UPDATE runs SET status='running', finished=NULL, owner=?, heartbeat=? WHERE id=?",
                (owner_tag(), time.time(), run_id),
            )

    def add_trial(self, run_id: str, record: Record) -> None:
        """Insert or replace one trial of a run (a trial updated by the navigator is written again)."""
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO trials VALUES (?,?,?,?,?)",
                (record.id, run_id, record.artifact_id, record.status, json.dumps(record.to_json())),
            )
            db.execute("UPDATE runs SET heartbeat=? WHERE id=?", (time.time(), run_id))

    def save_payload(self, run_id: str, payload: Mapping[str, Any]) -> None:
        """Record what a run was asked to do before it measures anything (what ``--resume`` reads back)."""
        with self._db() as db:
            db.execute("UPDATE runs SET summary=? WHERE id=?", (json.dumps(payload, default=str), run_id))

    def add_explanation(self, run_id: str, trial_id: str, record: Contract) -> None:
        """Keep a trial's explanation (``navigate.explain_run.Explanation``) with its run, so the run's report is
        rebuilt from the store with the same figures it printed the first time."""
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO explanations VALUES (?,?,?)",
                (run_id, trial_id, json.dumps(record.to_json(), default=str)),
            )

    def explanations(self, run_id: str) -> list[dict[str, Any]]:
        """The explanations kept with run ``run_id``, in trial order."""
        with self._db() as db:
            rows = db.execute("SELECT trial_id, record FROM explanations WHERE run_id=?", (run_id,)).fetchall()
        return [json.loads(r[1]) for r in sorted(rows, key=lambda r: int(str(r[0]).lstrip("t") or 0))]

    def clear_trials(self, run_id: str) -> None:
        """Forget a run's trials (a resumed run writes back the ones it reuses, with their ids)."""
        with self._db() as db:
            db.execute("DELETE FROM trials WHERE run_id=?", (run_id,))

    def finish_run(
        self, run_id: str, status: str, payload: Mapping[str, Any], deployment: Contract | None = None
    ) -> None:
        """Close a run: its status, the stage's result payload, and what it recommends to serve (the stage's
        record, ``navigate.deployment.Deployment`` for optimize runs; ``StoredRun.deployment`` gives it back)."""
        summary = {**payload, "deployment": deployment.to_json() if deployment else None}
        with self._db() as db:
            db.execute(
                "UPDATE runs SET status=?, finished=?, summary=? WHERE id=?",
                (status, time.time(), json.dumps(summary, default=str), run_id),
            )

    def runs(self, model: str | None = None) -> list[RunSummary]:
        q = f"SELECT {_RUN_COLUMNS} FROM runs"
        args: tuple[Any, ...] = ()
        if model:
            q += " WHERE model=?"
            args = (model,)
        with self._db() as db:
            rows = db.execute(q + " ORDER BY created DESC", args).fetchall()
        return [_summary(r) for r in rows]

    def run(self, run_id: str) -> StoredRun:
        with self._db() as db:
            row = db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id=?", (run_id,)).fetchone()
            if row is None:
                raise UserError(f"no run {run_id!r} in {self.home}; `lepton runs` lists them")
            trials = db.execute("SELECT record FROM trials WHERE run_id=?", (run_id,)).fetchall()
        stored = json.loads(row[7]) if row[7] else {}
        payload = {k: v for k, v in stored.items() if k not in _DEPLOYMENT_KEYS}
        deployment = {k: v for k, v in stored.items() if k in _DEPLOYMENT_KEYS}
        records = sorted((json.loads(t[0]) for t in trials), key=lambda t: int(str(t["id"]).lstrip("t") or 0))
        return StoredRun(_summary(row), payload, records, deployment)

    def latest_run(self, model: str, kind: str = "optimize", status: str = "done") -> StoredRun | None:
        with self._db() as db:
            row = db.execute(
                "SELECT id FROM runs WHERE model=? AND kind=? AND status=? ORDER BY created DESC LIMIT 1",
                (model, kind, status),
            ).fetchone()
        return self.run(row[0]) if row else None


_RUN_COLUMNS = "id, kind, model, artifact_id, status, created, finished, summary, owner, heartbeat"
# what a summary says about serving: today's key, and the keys runs written by older versions used
_DEPLOYMENT_KEYS = ("deployment", "recommended_artifact", "recommended_runtime", "recommended_engine", "prediction")


def _summary(row: Sequence[Any]) -> RunSummary:
    status = row[4]
    if status == "running" and not owner_alive(row[8], row[9]):
        status = "interrupted"  # its process died (kill -9, a crash, a reboot) without closing the run
    return RunSummary(
        id=row[0],
        kind=row[1],
        model=row[2],
        artifact_id=row[3],
        status=status,
        created=row[5],
        finished=row[6],
    )
