"""A realistic optimize result (the JSON ``lepton optimize`` writes) for the report tests."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

USD_PER_HOUR = 0.08925
QPS = 100


def _latency(p50: float, p95: float, p99: float) -> dict[str, Any]:
    return {
        "p50": p50,
        "p95": p95,
        "p99": p99,
        "mean": round((p50 + p95) / 2, 3),
        "min": round(p50 * 0.9, 3),
        "n": 120,
        "ci95": {
            "p50": [round(p50 * 0.98, 3), round(p50 * 1.02, 3)],
            "p95": [round(p95 * 0.96, 3), round(p95 * 1.04, 3)],
            "p99": [round(p99 * 0.95, 3), round(p99 * 1.06, 3)],
        },
    }


def _cost(throughput: float) -> dict[str, Any]:
    replicas = max(1, math.ceil(QPS / (throughput * 0.7)))
    return {
        "instance": "aws/c7i.large",
        "usd_per_hour": USD_PER_HOUR,
        "usd_per_1m": round(USD_PER_HOUR / (throughput * 3600.0) * 1e6, 4),
        "qps": QPS,
        "replicas": replicas,
        "usd_per_month": round(replicas * USD_PER_HOUR * 730, 2),
    }


FUSION = {"pass": "graph-fusion", "params": {}}
INT8 = {"pass": "quantize-dynamic", "params": {"per_channel": False}}
INT8_PC = {"pass": "quantize-dynamic", "params": {"per_channel": True}}
INT8_STATIC = {"pass": "quantize-static", "params": {"calibration": "minmax", "samples": 64}}


def trial(
    tid: str,
    variant: str,
    chain: list[dict[str, Any]],
    batch: int,
    threads: int,
    p50: float,
    p95: float,
    throughput: float,
    cosine: float,
    *,
    engine: str = "onnxruntime",
    status: str = "ok",
    reasons: tuple[str, ...] = (),
    notes: tuple[str, ...] = (),
    model_mb: float = 90.9,
) -> dict[str, Any]:
    """One measured record; cost and quality drop are derived from throughput and cosine."""
    return {
        "id": tid,
        "status": status,
        "reasons": list(reasons),
        "notes": list(notes),
        "engine": engine,
        "variant": variant,
        "chain": chain,
        "artifact_id": f"sha256-{tid}",
        "batch_size": batch,
        "threads": threads,
        "runtime": {"intra_op_threads": threads, "inter_op_threads": 1, "graph_optimization_level": "all"},
        "latency_ms": _latency(p50, p95, round(p95 * 1.12, 3)),
        "throughput_per_s": throughput,
        "concurrent": {
            "callers": 4,
            "throughput_per_s": round(throughput * 1.08, 1),
            "latency_ms": _latency(p50 * 3.7, p95 * 3.9, p95 * 4.4),
        },
        "peak_rss_mb": round(380 + model_mb * 2.5, 1),
        "model_mb": model_mb,
        "quality": {
            "kind": "fidelity",
            "cosine": cosine,
            "cosine_min": round(cosine - 0.02, 4),
            "max_abs_error": round((1 - cosine) * 3, 4),
            "top1_agreement": round(min(1.0, cosine), 3),
        },
        "quality_drop": round(1.0 - cosine, 4),
        "precise": status == "ok",
        "cost": _cost(throughput),
    }


def example_result() -> dict[str, Any]:
    """MiniLM embeddings on a 2-vCPU Xeon: 12 trials over batch 1 and 32, three rejected, one failed."""
    slow = "p95 {:.1f} ms > 50 ms"
    trials = [
        trial("t1", "onnx fp32", [], 1, 1, 6.1, 7.0, 160.0, 0.99999),
        trial("t2", "onnx fp32", [], 1, 2, 4.0, 4.9, 240.0, 0.99999),
        trial("t3", "fp32 + fusion", [FUSION], 1, 2, 3.6, 4.3, 270.0, 0.99998),
        trial("t4", "int8 dynamic + fusion", [FUSION, INT8], 1, 2, 2.1, 2.6, 460.0, 0.993, model_mb=23.1),
        trial(
            "t5",
            "int8 dynamic per-channel + fusion",
            [FUSION, INT8_PC],
            1,
            1,
            3.3,
            3.9,
            300.0,
            0.995,
            model_mb=23.4,
            notes=("slower than its parent at 1 thread; see t4",),
        ),
        trial(
            "t6",
            "int8 static (minmax)",
            [FUSION, INT8_STATIC],
            1,
            2,
            1.9,
            2.3,
            500.0,
            0.962,
            status="rejected",
            reasons=("quality drop 0.038 > 0.01",),
            model_mb=23.0,
        ),
        trial(
            "t7",
            "onnx fp32",
            [],
            32,
            2,
            60.0,
            66.0,
            520.0,
            0.99999,
            status="rejected",
            reasons=(slow.format(66.0),),
        ),
        trial(
            "t8",
            "fp32 + fusion",
            [FUSION],
            32,
            2,
            52.0,
            57.0,
            600.0,
            0.99998,
            status="rejected",
            reasons=(slow.format(57.0),),
        ),
        trial("t9", "int8 dynamic + fusion", [FUSION, INT8], 32, 2, 40.0, 44.0, 790.0, 0.993, model_mb=23.1),
        trial(
            "t10",
            "int8 dynamic per-channel + fusion",
            [FUSION, INT8_PC],
            32,
            2,
            43.0,
            47.5,
            740.0,
            0.995,
            model_mb=23.4,
        ),
        trial(
            "t11",
            "int8 static (minmax)",
            [FUSION, INT8_STATIC],
            32,
            2,
            36.0,
            40.0,
            880.0,
            0.962,
            status="rejected",
            reasons=("quality drop 0.038 > 0.01",),
            model_mb=23.0,
        ),
        {
            "id": "t12",
            "status": "failed",
            "engine": "onnxruntime",
            "variant": "fp16",
            "batch_size": 1,
            "threads": 2,
            "chain": [{"pass": "convert-fp16", "params": {"keep_io_types": True}}],
            "reasons": [],
            "notes": [],
            "error": "PassError: fp16: LayerNormalization has no fp16 kernel on CPUExecutionProvider; "
            "use --precision bf16 or skip fp16 on CPU",
        },
    ]
    baseline = [
        trial("b1", "pytorch eager fp32", [], 1, 2, 9.8, 11.5, 98.0, 1.0, engine="torch"),
        trial(
            "b32",
            "pytorch eager fp32",
            [],
            32,
            2,
            210.0,
            228.0,
            150.0,
            1.0,
            engine="torch",
            status="rejected",
            reasons=("p95 228.0 ms > 50 ms",),
        ),
    ]
    for b in baseline:
        b["quality_drop"] = 0.0
    return {
        "run_id": "20261122-233000-abc123",
        "created": 1763850000.0,
        "model": {
            "name": "minilm",
            "artifact_id": "sha256-0f3a",
            "task": "embedding",
            "source": {"kind": "hf", "repo": "sentence-transformers/all-MiniLM-L6-v2"},
            "model_mb": 90.9,
        },
        "hardware": {
            "cpu_model": "Intel(R) Xeon(R) Processor",
            "logical_cores": 2,
            "memory_gb": 23.5,
            "gpus": [],
            "int8_accel": "avx512_vnni",
            "bf16_native": "avx512_bf16",
            "fp16_native": None,
            "flags": ["avx2", "avx512f", "avx512_vnni", "avx512_bf16"],
        },
        "price": {
            "instance": "aws/c7i.large",
            "usd_per_hour": USD_PER_HOUR,
            "source": "AWS EC2 on-demand price list, us-east-1, Linux (2025-01)",
            "matched": "matched this machine: intel, 2 vCPU",
        },
        "targets": {
            "slo": {"metric": "p95", "max_ms": 50.0, "batch_size": None, "text": "p95<=50ms"},
            "max_drop": 0.01,
            "qps": QPS,
            "budget": 300,
            "objective": "cost",
        },
        "workload": "bundled example sentences",
        "trials": trials,
        "baseline": baseline,
        "frontier": ["t3", "t4", "t5", "t9", "t10"],
        "recommended": "t9",
        "reason": "int8 dynamic + fusion, 2 threads, batch 32: p95 44.0 ms, $0.0314 per 1M, fidelity 0.993; "
        "cheapest that meets p95<=50ms",
        "closest_miss": None,
        "notes": [
            "int8: avx512_vnni present, int8 matrix multiply uses VNNI",
            "bf16: avx512_bf16 present",
            "fp16: skipped on CPU: no native fp16 arithmetic; it would run through fp32 casts",
        ],
        "search": {
            "strategy": "exhaustive",
            "candidates": 24,
            "measured": 12,
            "precise": 6,
            "seconds": 181.2,
        },
    }


@pytest.fixture
def result() -> dict[str, Any]:
    """A fresh copy of the example result, safe to change in a test."""
    return copy.deepcopy(example_result())
