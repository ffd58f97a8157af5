"""Serving: an ASGI app with dynamic batching, Open Inference Protocol v2, simple JSON and OpenAI embeddings,
Prometheus metrics, a live dashboard, shadow fidelity and admin routes. ``lepton serve`` runs it."""

from lepton.serve.app import build_app, serve
from lepton.serve.config import ServeConfig
from lepton.slo import Slo, parse_slo  # the one SLO grammar (lepton optimize uses it too)

__all__ = ["ServeConfig", "Slo", "build_app", "parse_slo", "serve"]
