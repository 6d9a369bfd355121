"""A small thread-safe LRU for facet counts, valid for one state of an index."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class FacetCache(Generic[V]):
    """Remembers up to `size` values; everything is forgotten when the index state changes."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._state: Hashable = None
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, state: Hashable, key: Hashable, compute: Callable[[], V]) -> V:
        """The value for key in this index state, computed (outside the lock) on a miss."""
        with self._lock:
            if state != self._state:
                self._items.clear()
                self._state = state
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
            self.misses += 1
        value = compute()
        with self._lock:
            if state == self._state:
                self._items[key] = value
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget everything (after a write)."""
        with self._lock:
            self._items.clear()
            self._state = None


__all__ = ["FacetCache"]
