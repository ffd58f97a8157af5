"""Shared by the training tests."""

from __future__ import annotations

from lepton.store import Store

FAST = {"epochs": 4, "patience": 0}


def nothing_stored() -> None:
    """No model, artifact or run left behind."""
    store = Store()
    assert store.models() == [] and not any(store.artifacts_dir.iterdir()) and store.runs() == []
