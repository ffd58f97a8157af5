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
from lepton.ir.artifact import Artifact, is_artifact_folder
from lepton.navigate.pareto import default_objectives, dominates
from lepton.serve.refs import resolve_ref
from lepton.store import Store


def imported(digits_mlp: Any) -> Artifact:
    model, _, _ = digits_mlp
    out: Artifact = lepton.import_model(model, example_input=torch.zeros(1, 64), name="digits", task="classification")
    return out


def test_optimize_measures_prices_and_recommends(
    digits_mlp: Any, digits_data: Path, tmp_path: Path, fast: dict[str, Any]
) -> None:
    html = tmp_path / "report.html"
    result = lepton.optimize(
        imported(digits_mlp), data=digits_data, batch=[1, 16], max_drop=0.02, qps=200, html=html, **fast
    )
    # the baseline is PyTorch eager fp32 (a torch source exists), one trial per batch size
    assert [(b.engine, b.batch_size) for b in result.baseline] == [("torch", 1), ("torch", 16)]
    assert all((b.quality.accuracy or 0) > 0.85 for b in result.baseline)
    ok = [t for t in result.trials if t.status == "ok" and not t.is_baseline]
    assert {t.batch_size for t in ok} == {1, 16}
    assert any(c.pass_ == "quantize-dynamic" for t in ok for c in t.chain)
    # the recommendation is on the frontier, meets the targets, and says why
    rec = result.recommended_trial
    assert rec is not None and rec.id in result.frontier and result.verdict == "recommend"
    assert (rec.quality_drop or 0) <= 0.02 and (rec.priced.replicas or 0) >= 1
    assert "cheapest that meets" in result.reason and rec.variant in result.reason
    # the frontier spans engines: it is exactly the non-dominated set of the feasible trials of every engine
    objs = default_objectives()
    feasible = [t for t in result.current if t.status == "ok" and t.measured]
    assert {"onnxruntime", "openvino"} <= {t.engine for t in feasible} <= {"onnxruntime", "openvino", "torch"}
    points = {t.id: [f(t) for f in objs] for t in feasible}
    for t in feasible:
        beaten = any(dominates(points[o.id], points[t.id]) for o in feasible if o.id != t.id)
        assert (t.id in result.frontier) == (not beaten), t
    for a, b in itertools.permutations(result.frontier_trials, 2):
        assert not dominates([f(a) for f in objs], [f(b) for f in objs])
    assert {"onnxruntime", "openvino", "torch"} <= set(result.best_by_engine)  # each engine's best is said
    assert all(result.trial(i).engine_label == e for e, i in result.best_by_engine.items())
    assert html.exists() and rec.id in html.read_text()
    # the recommended variant's time by op type beside its parent's, when it is a variant profiled here
    assert (f"explain-ops-{rec.id}" in html.read_text()) == (bool(rec.chain) and not rec.is_baseline)
    # the store resolves name:recommended to the chosen artifact, engine and runtime
    served = resolve_ref("digits:recommended", Store())
    assert served.artifact.id == rec.artifact_id and served.engine == rec.engine
    assert served.runtime.intra_op_threads == rec.runtime.intra_op_threads
    assert served.runtime.batch_size == rec.batch_size


def test_a_constraint_nothing_meets_gives_the_closest_miss(
    digits_mlp: Any, digits_data: Path, fast: dict[str, Any]
) -> None:
    result = lepton.optimize(imported(digits_mlp), data=digits_data, batch=[1], slo="p95<=0.0001ms", **fast)
    assert result.exit_code == 3 and result.recommended is None and result.verdict == "no-fit"
    assert result.closest_miss is not None
    assert result.closest_miss.text.startswith("p95<=0.0001ms is met by nothing; the fastest is")
    assert "the recommendation would be" in result.closest_miss.text
    rejected = [t for t in result.trials if t.status == "rejected"]
    assert rejected and all("p95" in t.reasons[0] for t in rejected)
    assert Store().runs("digits")[0].status == "no-fit"


def test_optuna_takes_over_a_space_larger_than_the_budget(
    digits_mlp: Any, digits_data: Path, fast: dict[str, Any]
) -> None:
    result = lepton.optimize(imported(digits_mlp), data=digits_data, batch=[1, 8], trials=5, **fast)
    assert result.search.strategy == "optuna"
    screened = [t for t in result.trials if not t.is_baseline and t.rung == 0]
    assert 1 <= len(screened) <= 5


def test_successive_halving_screens_everything_and_promotes_a_fraction(
    digits_mlp: Any, digits_data: Path, fast: dict[str, Any]
) -> None:
    result = lepton.optimize(imported(digits_mlp), data=digits_data, batch=[1, 8], sensitivity="off", **fast)
    s = result.search
    assert s.strategy == "halving" and s.screened == s.candidates  # every setting got its short screen
    assert 0 < s.quick < s.screened  # a fraction got a quick measurement
    rec = result.recommended_trial
    assert rec is not None and rec.precise and rec.rung == 2  # and the recommendation a precise one
    promoted = {t.screened_as for t in result.trials if t.rung == 1}
    assert promoted <= {t.id for t in result.trials if t.rung == 0}
    # the baseline is screened first and measured precisely in the verification, right before the variant its
    # gains quote: every ratio compares two measurements taken side by side, after all screens and promotions
    number = {t.id: int(t.id[1:]) for t in result.trials}
    last_before_verify = max(number[t.id] for t in result.trials if t.rung in (0, 1))
    assert {g.batch_size for g in result.gains} == {1, 8}
    for g in result.gains:
        base, quoted = result.trial(g.baseline_trial), result.trial(g.trial)
        first = base
        while first.screened_as:  # measured again beside each variant it was compared with
            first = result.trial(first.screened_as)
        assert base.is_baseline and base.precise and first.rung == 0
        assert quoted.precise and last_before_verify < number[base.id] < number[quoted.id]
        assert g.pairs >= 4  # and timed with it in alternating blocks: the gain is a median of pair ratios


def test_exhaustive_measures_every_setting_quickly(digits_mlp: Any, digits_data: Path, fast: dict[str, Any]) -> None:
    result = lepton.optimize(
        imported(digits_mlp), data=digits_data, batch=[1], sensitivity="off", exhaustive=True, **fast
    )
    assert result.search.strategy == "exhaustive" and result.search.screened == 0
    assert result.search.quick + result.search.precise >= result.search.candidates


def test_the_time_budget_bounds_the_whole_search(digits_mlp: Any, digits_data: Path) -> None:
    from lepton.measure.timing import TimingPlan

    slow = TimingPlan(warmup=1, min_runs=5, min_seconds=1.0, max_seconds=2.0)  # every setting takes ~1 s
    budget = 8.0
    result = lepton.optimize(
        imported(digits_mlp),
        data=digits_data,
        batch=[1, 8],
        time_budget=budget,
        quick=slow,
        precise=slow,
        sensitivity="off",
    )
    assert result.search.seconds <= 1.1 * budget, result.search
    assert result.search.unmeasured > 0 or any("time budget" in s.reason for s in result.skipped)
    assert result.recommended_trial is not None and result.recommended_trial.precise


def test_a_crashing_pass_fails_its_candidate_and_the_search_goes_on(
    digits_mlp: Any, digits_data: Path, monkeypatch: pytest.MonkeyPatch, fast: dict[str, Any]
) -> None:
    from lepton.passes import PASSES
    from lepton.passes.base import Pass, Proposal

    class Exploding(Pass):
        """Fails while building, as a pass meeting an op its tooling does not know would."""

        proposals = (Proposal(rank=1),)

        def build(self, artifact, ctx, work):  # type: ignore[no-untyped-def]
            raise RuntimeError("unsupported exotic op")

    with PASSES.registered("exploding", Exploding):
        result = lepton.optimize(imported(digits_mlp), data=digits_data, batch=[1], **fast)
    failed = [t for t in result.trials if t.status == "failed"]
    assert any("unsupported exotic op" in (t.error or "") for t in failed)
    assert result.recommended is not None


def test_ctrl_c_keeps_what_was_measured(digits_mlp: Any, digits_data: Path, fast: dict[str, Any]) -> None:
    calls = []

    def progress(what: str, done: int, total: int) -> None:
        calls.append(what)
        if len(calls) == 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        lepton.optimize(imported(digits_mlp), data=digits_data, batch=[1], progress=progress, **fast)
    store = Store()
    run = store.run(store.runs("digits")[0].id)
    assert run.summary.status == "interrupted" and len(run.trials) >= 1
    for folder in store.artifacts_dir.iterdir():  # every stored artifact is complete (ONNX or OpenVINO IR)
        assert is_artifact_folder(folder), sorted(p.name for p in folder.iterdir())
    assert list(store.tmp_dir.iterdir()) == []


def test_eval_data_that_does_not_fit_names_the_input(digits_mlp: Any, tmp_path: Path, fast: dict[str, Any]) -> None:
    np.savez(tmp_path / "bad.npz", input_0=np.zeros((10, 63), np.float32))
    with pytest.raises(UserError, match=r"input 'input_0' expects shape \(batch, 64\)"):
        lepton.optimize(imported(digits_mlp), data=tmp_path / "bad.npz", **fast)


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
    result = lepton.optimize(tmp_path / "relu.onnx", batch=[1], **fast)
    rec = result.recommended_trial
    assert rec is not None and (rec.threads or 0) >= 1
    assert any("skipped" in n or "does not apply" in n or "no " in n for n in result.notes)


def test_sensitivity_keeps_the_worst_nodes_in_float_when_asked(
    tmp_path: Path, fast: dict[str, Any], mlp_builder: Any
) -> None:
    model = mlp_builder(tmp_path / "wide.onnx", n_in=64, hidden=128, n_out=32)
    result = lepton.optimize(model, batch=[1], sensitivity="on", max_drop=1e-7, **fast)
    sens = result.sensitivity
    # the stage runs either way; its reason names a faster int8 variant that failed quality when one did
    # (timing-dependent on this tiny model), else that it was asked for
    assert sens is not None and sens.why is not None
    assert sens.why.startswith("asked for") or "drops quality" in sens.why
    assert (sens.seconds or 0) >= 0
    assert sens.error is None, sens.error
    assert [r.node for r in sens.ranking]  # every quantizable node ranked
    kept = [t for t in result.trials if "kept fp32" in t.variant]
    assert kept, "variants keeping the most sensitive nodes in float were built and measured"
    assert all(t.chain[-1].params["nodes_to_exclude"] for t in kept)
