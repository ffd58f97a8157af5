"""End to end on the digits MLP (a real PyTorch source): the PyTorch one-liners are measured, priced and quoted
in the reason; dynamically quantized variants get their fidelity in mixed batches and are rejected beyond the
quality bound."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import lepton
from lepton.engines.torch_eager import compiler_missing
from lepton.hardware import detect_hardware
from lepton.ir.artifact import Artifact
from lepton.navigate.result import OptimizeResult


def imported(digits_mlp: Any) -> Artifact:
    model, _, _ = digits_mlp
    art: Artifact = lepton.import_model(model, example_input=torch.zeros(1, 64), name="digits", task="classification")
    return art


@pytest.fixture
def unlabelled(digits_mlp: Any, tmp_path: Path) -> Path:
    """The held-out digits without labels: quality is fidelity to PyTorch fp32, row by row."""
    path = tmp_path / "rows.npz"
    np.savez(path, input_0=digits_mlp[1])
    return path


def optimize(digits_mlp: Any, data: Path, max_drop: float, fast: dict[str, Any]) -> OptimizeResult:
    art = imported(digits_mlp)
    result: OptimizeResult = lepton.optimize(
        art, data=data, batch=[1, 16], max_drop=max_drop, sensitivity="off", **fast
    )
    return result


def test_pytorch_one_liners_are_candidates_and_the_reason_quotes_the_best(
    digits_mlp: Any, unlabelled: Path, fast: dict[str, Any]
) -> None:
    result = optimize(digits_mlp, unlabelled, 0.02, fast)
    torch_trials = [t for t in result.current if t.engine == "torch" and not t.is_baseline]
    options = {t.options_text for t in torch_trials if t.measured}
    assert "int8" in options  # quantize_dynamic: measured and priced like any setting
    assert ("bf16" in options) == bool(detect_hardware().bf16_native)  # autocast only with native bf16
    assert all(t.priced.usd_per_1m > 0 for t in torch_trials if t.measured)
    # torch.compile compiles again per batch size: a prior leaves it to --exhaustive, and says so
    assert not any(t.runtime.option("compile", "off") != "off" for t in torch_trials)
    if compiler_missing() is None:
        assert any("torch.compile compiles again" in n and "--exhaustive" in n for n in result.notes)
    assert {b.engine for b in result.baseline} == {"torch"} and all(not b.runtime.options for b in result.baseline)
    rec = result.recommended_trial
    assert rec is not None and result.verdict == "recommend" and rec.engine != "torch"
    feasible_one_liners = [t for t in torch_trials if t.status == "ok" and t.batch_size == rec.batch_size]
    assert feasible_one_liners and result.vs_torch_best is not None
    vs = result.vs_torch_best
    assert vs.trial == rec.id and vs.baseline_trial in {t.id for t in feasible_one_liners}
    assert "than the best PyTorch one-liner (" in result.reason and f"at batch {rec.batch_size} [" in result.reason
    # the int8 one-liner and ONNX Runtime's dynamic int8 are batch-dependent: measured in mixed batches of 16
    int8 = next(t for t in torch_trials if t.options_text == "int8" and t.measured)
    assert int8.quality.batch_dependence is not None and set(int8.quality.batch_dependence.by_batch) == {16}
    dynamic = [t for t in result.current if t.measured and any(s.pass_ == "quantize-dynamic" for s in t.chain)]
    assert dynamic and all(t.quality.batch_dependence is not None for t in dynamic)
    assert max(t.quality.batch_dependence.worst for t in dynamic if t.quality.batch_dependence) > 0
    assert any("batch-mates move a row's cosine by up to" in n for n in result.notes)  # the worst row, said
    fp32 = [t for t in result.current if t.measured and not t.chain and t.engine == "onnxruntime"]
    assert fp32 and all(t.quality.batch_dependence is None for t in fp32)


def test_a_variant_whose_rows_depend_on_their_batch_mates_beyond_the_bound_is_rejected(
    digits_mlp: Any, unlabelled: Path, fast: dict[str, Any]
) -> None:
    result = optimize(digits_mlp, unlabelled, 1e-6, fast)
    moved = [
        t
        for t in result.current
        if t.measured and t.quality.batch_dependence is not None and t.quality.batch_dependence.worst > 1e-6
    ]
    assert any(t.batch_size == 16 for t in moved)
    for t in moved:
        said = any("batch-mates" in r for r in t.reasons)
        assert said == (t.batch_size == 16), (t.id, t.batch_size, t.reasons)
        assert t.status == "rejected" or t.batch_size == 1
