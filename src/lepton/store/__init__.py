"""The store: artifact folders plus a SQLite index under ``LEPTON_HOME``."""

from lepton.store.store import Store

__all__ = ["Store"]
