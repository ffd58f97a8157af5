"""Histogram calibration one batch at a time: the ranges ONNX Runtime computes in one piece, bit for bit, in the
memory of one batch instead of every batch's activations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx_models import small_cnn

from lepton.measure.memory import PeakRss
from lepton.passes.base import Feeds
from lepton.passes.calibration import calibrate_in_batches

OP_TYPES = ["Conv", "Gemm", "MatMul"]


def _batches(n: int, rows: int, size: int) -> list[Feeds]:
    rng = np.random.default_rng(3)
    return [{"x": rng.standard_normal((rows, 1, size, size)).astype(np.float32)} for _ in range(n)]


class _Reader:
    def __init__(self, feeds: list[Feeds]) -> None:
        self._it = iter(feeds)

    def get_next(self) -> Feeds | None:
        return next(self._it, None)


def _ort_ranges(model: Path, feeds: list[Feeds], method: str, options: dict[str, float], tmp: Path) -> dict:
    """What quantize_static computes itself: ORT's calibrator fed every batch in one collect_data."""
    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator

    ort_method = {"percentile": CalibrationMethod.Percentile, "entropy": CalibrationMethod.Entropy}[method]
    cal = create_calibrator(model, OP_TYPES, str(tmp / "aug.onnx"), ort_method, extra_options=options)
    cal.collect_data(_Reader(feeds))
    return {k: v.range_value for k, v in cal.compute_data().items()}


@pytest.mark.parametrize(("method", "options"), [("percentile", {"percentile": 99.9}), ("entropy", {})])
def test_ranges_are_those_ort_computes_from_every_batch_at_once(
    tmp_path: Path, method: str, options: dict[str, float]
) -> None:
    from onnxruntime.quantization.calibrate import load_tensors_data

    model = small_cnn(tmp_path / "cnn.onnx", size=12)
    feeds = _batches(5, 4, 12)
    extra = {"CalibPercentile": options["percentile"]} if options else {}
    cache = calibrate_in_batches(
        model, lambda: iter(feeds), method=method, op_types=OP_TYPES, options=extra, cache=tmp_path / "c.json"
    )
    ours = {k: v.range_value for k, v in load_tensors_data(cache).items()}
    theirs = _ort_ranges(model, feeds, method, options, tmp_path)
    assert ours.keys() == theirs.keys() and len(ours) >= 4
    for name, (lo, hi) in theirs.items():
        assert np.float32(ours[name][0]) == np.float32(lo) and np.float32(ours[name][1]) == np.float32(hi), name


def test_memory_is_one_batch_not_every_batch(tmp_path: Path) -> None:
    # ~1.6 MB of calibrated activations per 96x96 row (conv outputs, float32): 24 batches of 8 rows hold ~300 MB
    # in ORT's calibrator before its histograms are made (and as much again while it joins them)
    model = small_cnn(tmp_path / "cnn.onnx", size=96)
    feeds = _batches(24, 8, 96)
    with PeakRss(interval_s=0.002) as ours:
        calibrate_in_batches(
            model, lambda: iter(feeds), method="percentile", op_types=OP_TYPES, options={}, cache=tmp_path / "c.json"
        )
    with PeakRss(interval_s=0.002) as theirs:
        _ort_ranges(model, feeds, "percentile", {}, tmp_path)
    assert theirs.delta_mb > 150
    assert ours.delta_mb < theirs.delta_mb / 3, (ours.delta_mb, theirs.delta_mb)
