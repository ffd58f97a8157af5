"""Measurement: workloads, latency and throughput, memory, quality; one Trial record per configuration."""

from lepton.measure.timing import LatencyStats, measure_concurrent, measure_latency
from lepton.measure.workload import Workload, load_workload, synthesize_workload
from lepton.quality import classification_metrics, fidelity, regression_metrics

__all__ = [
    "LatencyStats",
    "Workload",
    "classification_metrics",
    "fidelity",
    "load_workload",
    "measure_concurrent",
    "measure_latency",
    "regression_metrics",
    "synthesize_workload",
]
