"""The navigator end to end on a real small model: real passes, real ONNX Runtime and PyTorch sessions."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import lepton
from lepton.errors import UserError
from lepton.navigate.pareto import default_objectives, dominates
from lepton.store import Store
from lepton.store.resolve import resolve_ref


def imported(digits_mlp: Any) -> lepton.ir.Artifact:  # type: ignore[name-defined]
    model, _, _ = digits_mlp
    return lepton.import_model(model, example_input=torch.zeros(1, 64), name="digits", task="classification")


def test_optimize_measures_prices_and_recommends(
    digits_mlp: Any, digits_data: Path, tmp_path: Path, fast: dict[str, Any]
) -> None:
    html = tmp_path / "report.html"
    result = lepton.optimize(
        imported(digits_mlp),
        eval_data=digits_data,
        batch_sizes=[1, 16],
        targets={"max_drop": 0.02, "qps": 200},
        html=html,
        **fast,
    )
    d = result.to_json()
    # the baseline is PyTorch eager fp32 (a torch source exists), one record per batch size
    assert [(b["engine"], b["batch_size"]) for b in d["baseline"]] == [("torch", 1), ("torch", 16)]
    assert all(b["quality"]["accuracy"] > 0.85 for b in d["baseline"])
    ok = [t for t in d["trials"] if t.get("status") == "ok" and t.get("role") != "baseline"]
    assert {t["batch_size"] for t in ok} == {1, 16}
    assert any(c["pass"] == "quantize-dynamic" for t in ok for c in t["chain"])
    # the recommendation is on the frontier, meets the targets, and says why
    rec = result.recommended
    assert rec is not None and rec["id"] in d["frontier"]
    assert rec["quality_drop"] <= 0.02 and rec["cost"]["replicas"] >= 1
    assert "cheapest that meets" in result.reason and rec["variant"] in result.reason
    # the frontier is really non-dominated among the records it was drawn from
    objs = default_objectives()
    front = result.frontier
    for a, b in itertools.permutations(front, 2):
        assert not dominates([f(a) for f in objs], [f(b) for f in objs])
    assert html.exists() and rec["id"] in html.read_text()
    # the store resolves name:recommended to the chosen artifact and runtime
    served = resolve_ref("digits:recommended", Store())
    assert served.artifact.id == rec["artifact_id"]
    assert served.runtime.intra_op_threads == rec["runtime"]["intra_op_threads"]
    assert served.runtime.batch_size == rec["batch_size"]


def test_a_constraint_nothing_meets_gives_the_closest_miss(
    digits_mlp: Any, digits_data: Path, fast: dict[str, Any]
) -> None:
    result = lepton.optimize(
        imported(digits_mlp), eval_data=digits_data, batch_sizes=[1], targets={"slo": "p95<=0.0001ms"}, **fast
    )
    d = result.to_json()
    assert result.exit_code == 3 and d["recommended"] is None
    assert d["closest_miss"]["text"].startswith("p95<=0.0001ms is met by nothing; the fastest is")
    assert "the recommendation would be" in d["closest_miss"]["text"]
    rejected = [t for t in d["trials"] if t.get("status") == "rejected"]
    assert rejected and all("p95" in t["reasons"][0] for t in rejected)
    assert Store().runs("digits")[0]["status"] == "no-fit"


def test_optuna_takes_over_a_space_larger_than_the_budget(
    digits_mlp: Any, digits_data: Path, fast: dict[str, Any]
) -> None:
    d = lepton.optimize(imported(digits_mlp), eval_data=digits_data, batch_sizes=[1, 8], trials=5, **fast).to_json()
    assert d["search"]["strategy"] == "optuna"
    screened = [t for t in d["trials"] if t.get("role") != "baseline" and not t.get("precise")]
    assert 1 <= len(screened) <= 5


def test_a_crashing_pass_fails_its_candidate_and_the_search_goes_on(
    digits_mlp: Any, digits_data: Path, monkeypatch: pytest.MonkeyPatch, fast: dict[str, Any]
) -> None:
    from lepton.passes import defaults
    from lepton.passes.base import Pass

    class Exploding(Pass):
        name = "exploding"

        def build(self, artifact, ctx, work):  # type: ignore[no-untyped-def]
            raise RuntimeError("unsupported exotic op")

    original = defaults.candidate_chains
    monkeypatch.setattr(defaults, "candidate_chains", lambda a, hw, **kw: [[Exploding()], *original(a, hw, **kw)])
    d = lepton.optimize(imported(digits_mlp), eval_data=digits_data, batch_sizes=[1], **fast).to_json()
    failed = [t for t in d["trials"] if t["status"] == "failed"]
    assert any("unsupported exotic op" in t["error"] for t in failed)
    assert d["recommended"] is not None


def test_ctrl_c_keeps_what_was_measured(digits_mlp: Any, digits_data: Path, fast: dict[str, Any]) -> None:
    calls = []

    def progress(what: str, done: int, total: int) -> None:
        calls.append(what)
        if len(calls) == 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        lepton.optimize(imported(digits_mlp), eval_data=digits_data, batch_sizes=[1], progress=progress, **fast)
    store = Store()
    run = store.run(store.runs("digits")[0]["id"])
    assert run["status"] == "interrupted" and len(run["trials"]) >= 1
    for folder in store.artifacts_dir.iterdir():  # every stored artifact is complete
        assert (folder / "model.onnx").exists() and (folder / "meta.json").exists()
    assert list(store.tmp_dir.iterdir()) == []


def test_eval_data_that_does_not_fit_names_the_input(digits_mlp: Any, tmp_path: Path, fast: dict[str, Any]) -> None:
    np.savez(tmp_path / "bad.npz", input_0=np.zeros((10, 63), np.float32))
    with pytest.raises(UserError, match=r"input 'input_0' expects shape \(batch, 64\)"):
        lepton.optimize(imported(digits_mlp), eval_data=tmp_path / "bad.npz", **fast)


def test_a_model_no_pass_applies_to_still_gets_a_runtime_frontier(tmp_path: Path, fast: dict[str, Any]) -> None:
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 16])],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(tmp_path / "relu.onnx"))
    d = lepton.optimize(tmp_path / "relu.onnx", batch_sizes=[1], **fast).to_json()
    assert d["recommended"] is not None
    rec = next(t for t in d["trials"] if t["id"] == d["recommended"])
    assert rec["threads"] >= 1
    assert any("skipped" in n or "does not apply" in n or "no " in n for n in d["notes"])


def test_sensitivity_keeps_the_worst_nodes_in_float_when_asked(
    tmp_path: Path, fast: dict[str, Any], mlp_builder: Any
) -> None:
    model = mlp_builder(tmp_path / "wide.onnx", n_in=64, hidden=128, n_out=32)
    d = lepton.optimize(model, batch_sizes=[1], sensitivity="on", targets={"max_drop": 1e-7}, **fast).to_json()
    sens = d["sensitivity"]
    # the stage runs either way; its reason names a faster int8 variant that failed quality when one did
    # (timing-dependent on this tiny model), else that it was asked for
    assert sens["why"].startswith("asked for") or "drops quality" in sens["why"]
    assert sens["seconds"] >= 0
    assert [r["node"] for r in sens["ranking"]]  # every quantizable node ranked
    kept = [t for t in d["trials"] if "kept fp32" in t.get("variant", "")]
    assert kept, "variants keeping the most sensitive nodes in float were built and measured"
    assert all(t["chain"][-1]["params"]["nodes_to_exclude"] for t in kept)
