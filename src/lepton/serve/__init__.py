"""Serving: an ASGI app with dynamic batching, Open Inference Protocol v2, simple JSON and OpenAI embeddings,
Prometheus metrics, a live dashboard, shadow fidelity and admin routes. ``lepton serve`` runs it."""

from lepton.navigate.targets import Slo, parse_slo  # the one SLO grammar (lepton optimize uses it too)
from lepton.serve.app import build_app, serve
from lepton.serve.config import ServeConfig

__all__ = ["ServeConfig", "Slo", "build_app", "parse_slo", "serve"]
