"""Static quantization's histogram calibration (percentile, entropy) in the memory of one batch.

ONNX Runtime's histogram calibrators keep every calibration batch's activations, then join them into one array per
tensor before the histograms are made: on MiniLM (64 rows of 128 tokens) that held ~2.8 GB on top of the search.
Here the same calibrator (ORT's, with the same options: its augmented graph, session, bin counts, percentile) runs
one batch at a time, twice: the first pass finds each tensor's extremes, the second fills histograms over exactly
the range one joined array would have had, so the ranges are those ORT computes in one piece, bit for bit (a
histogram's counts over fixed edges add up batch by batch). ORT then computes the thresholds from them, and
``quantize_static`` reads them back from its calibration cache file instead of calibrating again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lepton.passes.base import Feeds

HISTOGRAM_METHODS = ("percentile", "entropy")


def calibrate_in_batches(
    model: Path,
    batches: Callable[[], Iterable[Feeds]],
    *,
    method: str,
    op_types: Sequence[str],
    options: dict[str, Any],
    cache: Path,
) -> Path:
    """Write ORT's calibration cache for ``model`` calibrated on ``batches()`` (called twice: two passes over the
    same batches) with ``method`` ("percentile" or "entropy") and ``quantize_static``'s ``extra_options``; returns
    ``cache``, for ``quantize_static(..., calibration_cache_path=cache)``."""
    from onnxruntime.quantization.calibrate import (
        CalibrationMethod,
        HistogramCollector,
        create_calibrator,
        save_tensors_data,
    )

    keys = {"CalibTensorRangeSymmetric": "symmetric", "CalibPercentile": "percentile"}  # quantize_static's mapping
    calib_options = {key: options[name] for name, key in keys.items() if name in options}
    ort_method = {"percentile": CalibrationMethod.Percentile, "entropy": CalibrationMethod.Entropy}[method]
    calibrator = create_calibrator(
        model,
        list(op_types),
        augmented_model_path=str(cache.with_name("augmented_model.onnx")),
        calibrate_method=ort_method,
        extra_options=calib_options,
    )
    try:
        session = calibrator.infer_session
        names = [o.name for o in session.get_outputs()]
        inputs = {i.name for i in session.get_inputs()}
        wanted = [(i, n) for i, n in enumerate(names) if n in calibrator.tensors_to_calibrate]
        absolute = method == "percentile" and calibrator.symmetric  # ORT histograms |x| then

        def outputs() -> Iterable[list[tuple[str, np.ndarray]]]:
            for feeds in batches():
                out = session.run(None, {k: v for k, v in feeds.items() if k in inputs})
                yield [(n, np.asarray(out[i]).ravel()) for i, n in wanted]

        extremes = _extremes(outputs(), absolute)
        if not extremes:
            raise ValueError("No data is collected.")
        collector = HistogramCollector(
            method=calibrator.method,
            symmetric=calibrator.symmetric,
            num_bins=calibrator.num_bins,
            num_quantized_bins=calibrator.num_quantized_bins,
            percentile=calibrator.percentile,
            scenario=calibrator.scenario,
        )
        collector.histogram_dict = _histograms(outputs(), extremes, calibrator.num_bins, absolute)
        calibrator.collector = collector
        save_tensors_data(calibrator.compute_data(), cache)
    finally:
        del calibrator
        cache.with_name("augmented_model.onnx").unlink(missing_ok=True)
    return cache


class _Extremes:
    """One tensor's extremes over every batch: of its values, and of what its histogram covers."""

    def __init__(self, values: np.ndarray, binned: np.ndarray) -> None:
        self.lo, self.hi = np.nanmin(values), np.nanmax(values)
        self.bin_lo, self.bin_hi = binned.min(), binned.max()  # not nan-aware, like np.histogram's own range
        self.dtype = values.dtype

    def update(self, values: np.ndarray, binned: np.ndarray) -> None:
        self.lo, self.hi = min(self.lo, np.nanmin(values)), max(self.hi, np.nanmax(values))
        self.bin_lo, self.bin_hi = min(self.bin_lo, binned.min()), max(self.bin_hi, binned.max())


def _extremes(batches: Iterable[list[tuple[str, np.ndarray]]], absolute: bool) -> dict[str, _Extremes]:
    out: dict[str, _Extremes] = {}
    for batch in batches:
        for name, values in batch:
            if not values.size:
                continue
            binned = np.absolute(values) if absolute else values
            if name in out:
                out[name].update(values, binned)
            else:
                out[name] = _Extremes(values, binned)
    return out


def _histograms(
    batches: Iterable[list[tuple[str, np.ndarray]]], extremes: dict[str, _Extremes], bins: int, absolute: bool
) -> dict[str, tuple[Any, ...]]:
    """ORT's ``histogram_dict`` as its collector makes it from one joined array: for |x| (symmetric percentile)
    ``(hist, edges, min, max)`` over [min |x|, max |x|]; else ``(hist, edges, min, max, threshold)`` over
    [-threshold, threshold], threshold = max(|min|, |max|)."""
    ranges: dict[str, tuple[Any, Any]] = {}
    for name, e in extremes.items():
        if absolute:
            ranges[name] = (e.bin_lo, e.bin_hi)
        else:
            t = np.array(max(abs(e.lo), abs(e.hi)), dtype=e.dtype)
            ranges[name] = (-t, t)
    counts: dict[str, np.ndarray] = {}
    edges: dict[str, np.ndarray] = {}
    for batch in batches:
        for name, values in batch:
            if name not in ranges:
                continue
            binned = np.absolute(values) if absolute else values
            hist, edges[name] = np.histogram(binned, bins=bins, range=ranges[name])
            counts[name] = counts[name] + hist if name in counts else hist
    out: dict[str, tuple[Any, ...]] = {}
    for name, e in extremes.items():
        if absolute:
            out[name] = (counts[name], edges[name].astype(e.dtype), e.lo, e.hi)
        else:
            out[name] = (counts[name], edges[name], e.lo, e.hi, ranges[name][1])
    return out
