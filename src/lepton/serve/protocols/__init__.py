"""Serving protocols: Open Inference Protocol v2, simple JSON, OpenAI embeddings, OpenAI completions and chat for
generative models (each one ``spec.Protocol``)."""

from lepton.serve.protocols.spec import PROTOCOLS, Protocol, protocol_schemas, protocols

# Importing the modules registers the built-in protocols.
from lepton.serve.protocols import openai as _openai  # noqa: E402,F401  isort: skip
from lepton.serve.protocols import simple as _simple  # noqa: E402,F401  isort: skip
from lepton.serve.protocols import v2 as _v2  # noqa: E402,F401  isort: skip

__all__ = ["PROTOCOLS", "Protocol", "protocol_schemas", "protocols"]
