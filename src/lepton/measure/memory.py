"""Peak resident memory while a block runs, sampled from a background thread."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import numpy as np
import onnx
import psutil

CALIBRATION_OVERHEAD = 2.0  # a calibration batch's activations x this: the session's, and the calibrator's copies


def rss_mb() -> float:
    """This process's resident memory now, in MB."""
    return float(psutil.Process().memory_info().rss / 1e6)


def activation_bytes(model_path: Path, feeds: Mapping[str, np.ndarray]) -> int | None:
    """Bytes of every intermediate tensor when ``feeds`` run (shape inference with their shapes, no run): what a
    calibrator that records every node's output keeps per batch of that size. None when shapes stay unknown."""
    model = onnx.load(str(model_path), load_external_data=False)
    for value in model.graph.input:
        if value.name in feeds and value.type.HasField("tensor_type"):
            shape = value.type.tensor_type.shape
            del shape.dim[:]
            for n in feeds[value.name].shape:
                shape.dim.add().dim_value = int(n)
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001  an estimate only: odd ops leave it unknown
        return None
    total = 0
    for v in list(inferred.graph.value_info) + list(inferred.graph.output):
        t = v.type.tensor_type
        dims = t.shape.dim
        if not t.HasField("shape") or not all(d.HasField("dim_value") for d in dims):
            continue
        try:
            item = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)).itemsize
        except Exception:  # noqa: BLE001  strings and odd types: not counted
            continue
        total += int(np.prod([d.dim_value for d in dims], dtype=np.int64)) * item
    return total or None


class PeakRss:
    """``with PeakRss() as m: ...`` then ``m.peak_mb`` (process peak) and ``m.delta_mb`` (over the start)."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self._proc = psutil.Process()
        self._stop = threading.Event()
        self.start_mb = 0.0
        self.peak_mb = 0.0

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self._proc.memory_info().rss / 1e6)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakRss:
        self.start_mb = self.peak_mb = self._proc.memory_info().rss / 1e6
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self._proc.memory_info().rss / 1e6)

    @property
    def delta_mb(self) -> float:
        return max(0.0, self.peak_mb - self.start_mb)
