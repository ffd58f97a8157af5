"""Serving generative language models: a continuous-batching engine beside the batched tensor models."""

from lepton.serve.generation.layout import GenerationSettings, GenerativeSpec, generative_model, layout_of

__all__ = ["GenerationSettings", "GenerativeSpec", "generative_model", "layout_of"]
