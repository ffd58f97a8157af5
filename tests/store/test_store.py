from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from trials import trial

from lepton.engines.base import RuntimeConfig
from lepton.errors import UserError
from lepton.ir.artifact import Artifact, Lineage
from lepton.ir.source import OnnxSource
from lepton.navigate.deployment import Deployment, recommended
from lepton.serve.refs import resolve_ref
from lepton.store import Store


def test_commit_is_content_addressed_and_shared(tiny_artifact: Artifact, tiny_onnx: Path) -> None:
    store = Store()
    with store.workdir() as wd:
        shutil.copy(tiny_onnx, wd / "model.onnx")
        again = store.commit_artifact(wd, signature=tiny_artifact.signature, source=OnnxSource())
    assert again.id == tiny_artifact.id
    assert Artifact.load(store.artifacts_dir / again.id).signature == tiny_artifact.signature
    assert [p.name for p in store.artifacts_dir.iterdir()] == [again.id]
    assert list(store.tmp_dir.iterdir()) == []


def test_a_failed_build_leaves_nothing_behind(lepton_home: Path) -> None:
    store = Store()
    with pytest.raises(RuntimeError), store.workdir() as wd:
        (wd / "model.onnx").write_bytes(b"half")
        raise RuntimeError("crash mid-build")
    assert list(store.artifacts_dir.iterdir()) == [] and list(store.tmp_dir.iterdir()) == []


def test_pass_results_are_found_by_parent_pass_and_params(tiny_artifact: Artifact, tiny_onnx: Path) -> None:
    store = Store()
    lineage = Lineage(tiny_artifact.id, "quantize-dynamic", {"per_channel": True})
    with store.workdir() as wd:
        shutil.copy(tiny_onnx, wd / "model.onnx")
        child = store.commit_artifact(wd, signature=tiny_artifact.signature, lineage=lineage)
    assert child.id != tiny_artifact.id
    found = store.find_cached(tiny_artifact.id, "quantize-dynamic", {"per_channel": True})
    assert found is not None and found.id == child.id
    assert store.find_cached(tiny_artifact.id, "quantize-dynamic", {"per_channel": False}) is None


def test_runs_trials_and_recommended_resolution(tiny_artifact: Artifact) -> None:
    store = Store()
    with pytest.raises(UserError, match="no finished optimize run"):
        resolve_ref("mlp:recommended", store)
    run = store.start_run("optimize", "mlp", tiny_artifact.id)
    store.add_trial(run, trial("t1", artifact=tiny_artifact.id, batch=8, threads=1))
    deployment = Deployment(
        artifact_id=tiny_artifact.id, engine="onnxruntime", runtime=RuntimeConfig(intra_op_threads=1, batch_size=8)
    )
    store.finish_run(run, "done", {"recommended": "t1"}, deployment)
    r = resolve_ref("mlp:recommended", store)
    assert r.artifact.id == tiny_artifact.id and r.runtime.batch_size == 8 and r.runtime.intra_op_threads == 1
    assert r.engine == "onnxruntime"
    stored = store.run(run)
    assert stored.trials[0]["id"] == "t1" and stored.payload == {"recommended": "t1"}
    assert [x.id for x in store.runs("mlp")] == [run] and Deployment.from_summary(stored.deployment) == deployment
    assert recommended(store, "mlp") == (run, deployment)
    with pytest.raises(UserError, match="no model or file"):
        resolve_ref("nothing-here", store)
    with pytest.raises(UserError, match="unknown tag"):
        resolve_ref("mlp:weird", store)


def test_runs_written_by_older_versions_still_resolve(tiny_artifact: Artifact) -> None:
    store = Store()
    run = store.start_run("optimize", "mlp", tiny_artifact.id)
    legacy = {"recommended_artifact": tiny_artifact.id, "recommended_runtime": {"intra_op_threads": 1, "batch_size": 4}}
    with store._db() as db:  # the summary as versions before the typed Deployment wrote it
        db.execute("UPDATE runs SET status='done', summary=? WHERE id=?", (json.dumps(legacy), run))
    r = resolve_ref("mlp:recommended", store)
    assert r.artifact.id == tiny_artifact.id and r.runtime.batch_size == 4 and r.engine == "onnxruntime"
