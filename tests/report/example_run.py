"""A realistic optimize result, typed as ``lepton optimize`` returns it, for the report tests.

MiniLM embeddings on a 2-vCPU Xeon: the PyTorch baseline and 12 candidates over batch 1 and 32, three rejected,
one failed. The gains are the navigator's own (``navigate.gains.gains``), as a real run computes them.
"""

from __future__ import annotations

from typing import Any

from trials import latency, trial

from lepton.cost.catalog import PricePoint
from lepton.hardware import Hardware
from lepton.ir.artifact import ArtifactSummary
from lepton.ir.signature import Signature, TensorSpec
from lepton.ir.source import HfSource
from lepton.measure.timing import Concurrent
from lepton.navigate.gains import gains
from lepton.navigate.judged import JudgedTrial
from lepton.navigate.result import OptimizeResult, SearchSummary
from lepton.navigate.targets import Targets
from lepton.slo import Slo

USD_PER_HOUR = 0.08925
QPS = 100.0
FUSION: tuple[str, dict[str, Any]] = ("fuse-transformer", {})
INT8 = ("quantize-dynamic", {"per_channel": False})
INT8_PC = ("quantize-dynamic", {"per_channel": True})
INT8_STATIC = ("quantize-static", {"calibrate_method": "minmax", "max_batches": 64})


def measured(tid: str, variant: str, batch: int, p50: float, p95: float, **kw: Any) -> JudgedTrial:
    """A measured trial priced as the cost model prices it: one replica's capacity at ``USD_PER_HOUR``."""
    throughput = batch * 1000.0 / ((p50 + p95) / 2)  # what the mean latency implies (trials.trial's default)
    capacity = kw.get("capacity") or throughput  # the navigator prices the loaded throughput when it is higher
    kw.setdefault("artifact", variant)
    kw.setdefault("cosine", 0.99999)
    return trial(
        tid,
        variant=variant,
        batch=batch,
        p50=p50,
        p95=p95,
        usd=round(USD_PER_HOUR / (capacity * 3600.0) * 1e6, 5),
        qps=QPS,
        month=round(USD_PER_HOUR * 730, 2),
        drop=round(1.0 - kw["cosine"], 5),
        **kw,
    )


def example_trials() -> list[JudgedTrial]:
    base = {"engine": "torch", "artifact": "source", "role": "baseline", "cosine": 1.0, "precise": True}
    concurrent = Concurrent(callers=4, requests=400, throughput_per_s=830.0, latency_ms=latency(150.0, 170.0))
    failed = measured("t12", "fp16", 1, 1.0, 1.0, chain=(("fp16", {}),)).with_(
        status="failed",
        latency_ms=None,
        cost=None,
        throughput_per_s=None,
        quality_drop=None,
        error="PassError: fp16: LayerNormalization has no fp16 kernel on CPUExecutionProvider; "
        "use --precision bf16 or skip fp16 on CPU",
    )
    return [
        measured("b1", "pytorch eager fp32", 1, 9.8, 11.5, **base),
        measured(
            "b32", "pytorch eager fp32", 32, 210.0, 228.0, status="rejected", reasons=("p95 228.0 ms > 50 ms",), **base
        ),
        measured("t1", "onnx fp32", 1, 6.1, 7.0, threads=1),
        measured("t2", "onnx fp32", 1, 4.0, 4.9),
        measured("t3", "fp32 + fusion", 1, 3.6, 4.3, chain=(FUSION,), cosine=0.99998),
        measured("t4", "int8 dynamic + fusion", 1, 2.1, 2.6, chain=(FUSION, INT8), cosine=0.993),
        measured(
            "t5",
            "int8 dynamic per-channel + fusion",
            1,
            3.3,
            3.9,
            threads=1,
            chain=(FUSION, INT8_PC),
            cosine=0.995,
            notes=("slower than its parent at 1 thread; see t4",),
        ),
        measured(
            "t6",
            "int8 static (minmax)",
            1,
            1.9,
            2.3,
            chain=(FUSION, INT8_STATIC),
            cosine=0.962,
            status="rejected",
            reasons=("quality drop 0.0380 > 0.01",),
        ),
        measured("t7", "onnx fp32", 32, 60.0, 66.0, status="rejected", reasons=("p95 66.0 ms > 50 ms",)),
        measured(
            "t8", "fp32 + fusion", 32, 52.0, 57.0, chain=(FUSION,), status="rejected", reasons=("p95 57.0 ms > 50 ms",)
        ),
        measured(
            "t9",
            "int8 dynamic + fusion",
            32,
            40.0,
            44.0,
            chain=(FUSION, INT8),
            cosine=0.993,
            concurrent=concurrent,
            capacity=830.0,
        ),
        measured("t10", "int8 dynamic per-channel + fusion", 32, 43.0, 47.5, chain=(FUSION, INT8_PC), cosine=0.995),
        measured(
            "t11",
            "int8 static (minmax)",
            32,
            36.0,
            40.0,
            chain=(FUSION, INT8_STATIC),
            cosine=0.962,
            status="rejected",
            reasons=("quality drop 0.0380 > 0.01",),
        ),
        failed,
    ]


def example_result(trials: list[JudgedTrial] | None = None, **changes: Any) -> OptimizeResult:
    """The run recommending t9 (int8 dynamic + fusion at batch 32), with ``changes`` to its fields."""
    trials = trials if trials is not None else example_trials()
    by_id = {t.id: t for t in trials}
    fields: dict[str, Any] = {
        "run_id": "20261122-233000-abc123",
        "created": 1763850000.0,
        "model": ArtifactSummary(
            name="minilm",
            artifact_id="0f3a9c2e11d04b7a",
            task="embedding",
            source=HfSource(model_type="bert", num_heads=12, hidden_size=384),
            signature=Signature(
                (TensorSpec("input_ids", "int64", ("batch", "sequence")),),
                (TensorSpec("sentence_embedding", "float32", ("batch", 384)),),
            ),
            model_mb=90.9,
        ),
        "hardware": Hardware(
            cpu_model="Intel(R) Xeon(R) Processor",
            vendor="intel",
            arch="x86_64",
            logical_cores=2,
            physical_cores=1,
            memory_gb=23.5,
            flags=frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}),
        ),
        "price": PricePoint(
            "aws/c7i.large",
            USD_PER_HOUR,
            "AWS EC2 on-demand price list, us-east-1, Linux (2025-01)",
            "matched this machine: intel, 2 vCPU",
        ),
        "targets": Targets(slo=Slo("p95", 50.0), max_drop=0.01, qps=QPS, budget=300.0),
        "workload": "bundled example sentences",
        "reference": "torch fp32",
        "trials": tuple(trials),
        "frontier": ("t3", "t4", "t5", "t9", "t10"),
        "recommended": "t9",
        "verdict": "recommend",
        "reason": "int8 dynamic + fusion, 2 threads, batch 32: p95 44 ms, $0.0327 per 1M, fidelity 0.9930; "
        "cheapest that meets p95<=50ms, quality drop <= 0.01",
        "gains": tuple(gains(by_id["t9"], trials)) if "t9" in by_id else (),
        "notes": (
            "int8: avx512_vnni present, int8 matrix multiply uses VNNI",
            "fp16: skipped on CPU: no native fp16 arithmetic; it would run through fp32 casts",
        ),
        "search": SearchSummary(strategy="exhaustive", candidates=24, measured=12, precise=6, seconds=181.2),
    }
    return OptimizeResult(**{**fields, **changes})
