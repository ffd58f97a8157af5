"""Fidelity at the batch sizes a server forms: a real dynamic-int8 variant (ONNX Runtime quantizes activations per
call) gives a row an output that depends on its batch-mates; an fp32 model does not."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from machines import fake_hardware
from trials import trial

from lepton.engines import RuntimeConfig, open_session
from lepton.ir.artifact import Artifact
from lepton.measure.batch_dependence import BatchProbe, declared, measure_batch_dependence
from lepton.measure.trial import ChainStep, Reference, quality_of, run_all
from lepton.measure.workload import Workload
from lepton.navigate.targets import Targets, violations
from lepton.passes import PASSES, PassContext, apply_chain
from lepton.quality import BatchDependence, Quality
from lepton.store import Store


@pytest.fixture
def int8(tiny_artifact: Artifact) -> Artifact:
    """The tiny MLP through the real quantize-dynamic pass (int8 weights, activations quantized per call)."""
    ctx = PassContext(store=Store(), hardware=fake_hardware(flags=("avx512_vnni",)))
    return apply_chain(tiny_artifact, [PASSES.get("quantize-dynamic")(per_channel=False)], ctx)


@pytest.fixture
def mixed() -> Workload:
    """Rows of very different magnitudes: a small row batched with large ones gets a coarse activation scale."""
    rng = np.random.default_rng(0)
    scales = np.geomspace(0.05, 20.0, 48).astype(np.float32)
    x = (rng.standard_normal((48, 8)).astype(np.float32) * scales[rng.permutation(48), None]).astype(np.float32)
    return Workload({"x": x}, None, "test rows")


def reference_of(art: Artifact, workload: Workload) -> Reference:
    session = open_session("onnxruntime", art)
    return Reference(outputs=run_all(session, workload), description="onnxruntime fp32", engine="onnxruntime")


def test_a_dynamic_int8_variant_is_batch_dependent_and_the_worst_row_is_reported(
    tiny_artifact: Artifact, int8: Artifact, mixed: Workload
) -> None:
    reference = reference_of(tiny_artifact, mixed)
    found = measure_batch_dependence(open_session("onnxruntime", int8), mixed, reference, "generic", [1, 8, 16])
    assert found is not None and found.metric == "cosine" and found.rows == 32
    assert set(found.by_batch) == {8, 16}  # batch 1 is served alone: nothing to compare
    assert found.worst > 1e-4 and found.worst == max(found.by_batch.values())
    assert found.row is not None and 0 <= found.row < 32
    assert found.within(1) is None and found.within(8) == found.by_batch[8] and found.within(64) == found.worst


def test_an_fp32_model_is_not_batch_dependent(tiny_artifact: Artifact, mixed: Workload) -> None:
    reference = reference_of(tiny_artifact, mixed)
    session = open_session("onnxruntime", tiny_artifact)
    found = measure_batch_dependence(session, mixed, reference, "generic", [8, 16])
    assert found is not None and found.worst < 1e-6


def test_with_labels_the_task_metric_over_the_rows_is_compared(int8: Artifact, mixed: Workload) -> None:
    labels = np.arange(mixed.n_rows) % 4
    found = measure_batch_dependence(
        open_session("onnxruntime", int8), mixed, Reference(labels=labels), "classification", [16]
    )
    assert found is not None and found.metric == "accuracy" and found.row is None and set(found.by_batch) == {16}


def test_nothing_is_measured_where_no_batch_is_formed(int8: Artifact, mixed: Workload, tiny_artifact: Artifact) -> None:
    reference = reference_of(tiny_artifact, mixed)
    assert measure_batch_dependence(open_session("onnxruntime", int8), mixed, reference, "generic", [1]) is None


def test_the_passes_and_engine_options_that_quantize_per_call_declare_it() -> None:
    int8 = (ChainStep(pass_="quantize-dynamic", params={}),)
    assert declared(int8, "onnxruntime", RuntimeConfig())
    assert not declared((ChainStep(pass_="optimize-graph", params={}),), "onnxruntime", RuntimeConfig())
    assert not declared((ChainStep(pass_="quantize-static", params={}),), "onnxruntime", RuntimeConfig())
    assert declared((), "torch", RuntimeConfig(options={"precision": "int8"}))
    assert not declared((), "torch", RuntimeConfig(options={"precision": "bf16"}))


def test_the_probe_measures_a_declared_variant_once_and_leaves_others_alone(
    tiny_artifact: Artifact, int8: Artifact, mixed: Workload
) -> None:
    reference = reference_of(tiny_artifact, mixed)
    probe = BatchProbe()
    session = open_session("onnxruntime", int8)
    quality = quality_of("generic", run_all(session, mixed), reference)
    chain = (ChainStep(pass_="quantize-dynamic", params={}),)
    args: tuple[Any, ...] = (session, int8, "onnxruntime", {}, chain, mixed, reference, [1, 16])
    first = probe.add_to(quality, *args)
    again = probe.add_to(quality, *args)
    assert first.batch_dependence is not None and again.batch_dependence is first.batch_dependence
    assert len(probe.found) == 1
    fp32 = open_session("onnxruntime", tiny_artifact)
    assert probe.add_to(quality, fp32, tiny_artifact, "onnxruntime", {}, (), mixed, reference, [16]) is quality


def test_a_variant_whose_rows_move_beyond_the_quality_bound_in_a_batch_is_rejected_there() -> None:
    mixed = BatchDependence(metric="cosine", worst=0.03, by_batch={8: 0.004, 32: 0.03}, rows=32, row=5)
    targets = Targets(max_drop=0.01)
    for batch, rejected in ((1, False), (8, False), (32, True)):
        t = trial(f"t{batch}", batch=batch, drop=0.0)
        t = t.with_(quality=Quality(kind="fidelity", cosine=1.0, batch_dependence=mixed))
        reasons = violations(t, targets, slo_batch=1)
        assert bool(reasons) == rejected, (batch, reasons)
    assert "batch-mates" in violations(t, targets, 1)[0] and "0.0300" in violations(t, targets, 1)[0]
