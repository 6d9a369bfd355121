"""Feeding the search index from the Archive: buffered, and never at the cost of a record.

Documents wait in a buffer and go to the backend in bulk; a record leaves the pending queue only
once its document is in the index. When the backend is down, the records stay pending and
`memoria index sync` (or a running server) catches up later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from search.backend import SearchBackend

log = logging.getLogger(__name__)

# One index commit per this many documents: a commit makes a segment and its merges, so
# 2,000 a commit costs ~25 % less CPU a document than 500 (Tantivy, measured); it matches
# the Archive's RDF store groups (DERIVE_EVERY), so an ingest commits once per group.
FLUSH_EVERY = 2000
RETRY_AFTER_SECONDS = 30.0


class IndexFeed:
    """A buffer of documents and deletions in front of a search backend."""

    def __init__(self, backend: SearchBackend, on_indexed: Callable[[list[str]], None]) -> None:
        self.backend = backend
        self.on_indexed = on_indexed
        self._documents: dict[str, dict[str, Any]] = {}
        # Backend-specific forms of some buffered documents made ahead (Tantivy's field values,
        # made by ingest workers), by id; used only by a backend that takes them.
        self._prepared: dict[str, Any] = {}
        self.takes_prepared = bool(getattr(backend, "takes_prepared", False))
        self._down_until = 0.0
        # Documents a commit waits for; the Archive raises it for a batch's larger groups.
        self.flush_every = FLUSH_EVERY
        self.last_error: str | None = None

    @property
    def available(self) -> bool:
        """False for a while after the backend failed, so an ingest does not wait on it."""
        return time.monotonic() >= self._down_until

    def _failed(self, exc: Exception) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._down_until = time.monotonic() + RETRY_AFTER_SECONDS
        log.warning("search index unavailable (%s); records stay pending", self.last_error)

    def add(self, document: dict[str, Any], prepared: Any = None) -> None:
        """Queue a document, with its backend form made ahead if any; flush when the buffer
        is full."""
        rid = document["id"]
        self._documents[rid] = document
        if prepared is not None and self.takes_prepared:
            self._prepared[rid] = prepared
        else:
            self._prepared.pop(rid, None)
        if len(self._documents) >= self.flush_every:
            self.flush()

    def delete(self, ids: Iterable[str]) -> bool:
        """Remove documents now; False if the backend could not be reached."""
        ids = list(ids)
        for rid in ids:
            self._documents.pop(rid, None)
            self._prepared.pop(rid, None)
        if not self.available:
            return False
        try:
            self.backend.delete(ids)
            self.backend.refresh()
        except Exception as exc:  # noqa: BLE001 - any backend failure leaves the record pending
            self._failed(exc)
            return False
        return True

    def flush(self) -> int:
        """Send buffered documents in bulk; on failure they stay pending in the queue."""
        if not self._documents:
            return 0
        batch = list(self._documents.values())
        prepared, self._prepared = self._prepared, {}
        self._documents.clear()
        if not self.available:
            return 0
        try:
            if self.takes_prepared:
                self.backend.index(batch, prepared=prepared)  # type: ignore[call-arg]
            else:
                self.backend.index(batch)
            self.backend.refresh()
        except Exception as exc:  # noqa: BLE001 - any backend failure leaves the records pending
            self._failed(exc)
            return 0
        self.last_error = None
        self.on_indexed([d["id"] for d in batch])
        return len(batch)
