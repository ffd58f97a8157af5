"""One generic registry for passes and engines: ``@REGISTRY.register("name")`` on a class."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from lepton.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Classes registered by name; third parties add theirs through an entry-point group."""

    def __init__(self, kind: str, entry_point_group: str) -> None:
        self.kind = kind
        self.group = entry_point_group
        self._items: dict[str, type[T]] = {}
        self._plugins_loaded = False

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def decorate(cls: type[T]) -> type[T]:
            if name in self._items and self._items[name] is not cls:
                raise RuntimeError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = cls
            cls.name = name  # type: ignore[attr-defined]
            return cls

        return decorate

    def unregister(self, name: str) -> None:
        """Remove a registration (plug-ins loaded at run time, and tests, take theirs back)."""
        self._items.pop(name, None)

    @contextmanager
    def registered(self, name: str, cls: type[T]) -> Iterator[type[T]]:
        """``with PASSES.registered("mine", MyPass): ...``: registered for the block only."""
        self.register(name)(cls)
        try:
            yield cls
        finally:
            self.unregister(name)

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=self.group):
            ep.load()  # the module registers its classes on import

    def get(self, name: str) -> type[T]:
        self._load_plugins()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise UserError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._items)

    def __iter__(self) -> Iterator[tuple[str, type[T]]]:
        self._load_plugins()
        return iter(sorted(self._items.items()))

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._items
