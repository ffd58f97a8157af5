"""Paths and environment: the one place that reads ``LEPTON_*`` variables; the version this build reports."""

from __future__ import annotations

import os
from pathlib import Path

VERSION = "0.1.0"  # as pyproject.toml says; ``lepton.__version__``, the server's metadata


def lepton_home() -> Path:
    """The store root: ``$LEPTON_HOME`` or ``~/.lepton``."""
    return Path(os.environ.get("LEPTON_HOME") or Path.home() / ".lepton").expanduser()


def corpus_cache() -> Path:
    """Where public models fetched for the corpus tests and benchmark are kept: ``$LEPTON_CORPUS_CACHE`` or
    ``~/.cache/lepton/corpus`` (outside ``LEPTON_HOME``, so every test's fresh store shares one download)."""
    return Path(os.environ.get("LEPTON_CORPUS_CACHE") or Path.home() / ".cache" / "lepton" / "corpus").expanduser()


def env_token() -> str | None:
    """The admin bearer token for ``lepton serve`` (``LEPTON_TOKEN``), if set."""
    return os.environ.get("LEPTON_TOKEN") or None


def offline_hub() -> None:
    """Lepton never reaches a model hub at run time: make Hugging Face libraries offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def no_telemetry() -> None:
    """Lepton sends nothing home on a user's behalf: NNCF's usage telemetry is off (it is on by default)."""
    os.environ.setdefault("NNCF_CI", "1")  # the switch NNCF reads; it changes nothing else
