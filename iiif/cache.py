"""A bounded on-disk cache of rendered derivatives with per-key single-flight rendering."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path


class _Flight:
    """One in-progress render that other threads asking for the same key wait on."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: bytes | None = None
        self.error: BaseException | None = None


class DerivativeCache:
    """Disk cache with a byte cap, least-recently-used eviction and single-flight renders."""

    def __init__(self, root: Path, max_bytes: int = 1 << 30) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}
        self._size: int | None = None
        self.renders = 0
        self.hits = 0

    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return self.root / digest[:2] / digest[2:]

    def get(self, key: str) -> bytes | None:
        """Cached bytes for key, refreshing its recency; None on a miss."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        try:
            os.utime(path)  # mtime is the recency used by eviction
        except OSError:
            pass
        return data

    def get_or_render(self, key: str, render: Callable[[], bytes]) -> bytes:
        """Return cached bytes for key, rendering at most once at a time per key."""
        data = self.get(key)
        if data is not None:
            with self._lock:
                self.hits += 1
            return data
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            assert flight.value is not None
            return flight.value
        try:
            # Another leader may have finished between our miss and taking the flight.
            data = self.get(key)
            if data is None:
                data = render()
                with self._lock:
                    self.renders += 1
                self._store(key, data)
            flight.value = data
            return data
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()

    def _store(self, key: str, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError:
            return  # A cache that cannot write must not fail the request.
        with self._lock:
            if self._size is None:
                self._size = self._scan_size()
            else:
                self._size += len(data)
            over = self._size > self.max_bytes
        if over:
            self.evict()

    def _entries(self) -> list[tuple[float, int, Path]]:
        entries: list[tuple[float, int, Path]] = []
        if not self.root.is_dir():
            return entries
        for sub in os.scandir(self.root):
            if not sub.is_dir(follow_symlinks=False):
                continue
            for entry in os.scandir(sub.path):
                if entry.name.startswith(".tmp-"):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                entries.append((st.st_mtime, st.st_size, Path(entry.path)))
        return entries

    def _scan_size(self) -> int:
        return sum(size for _, size, _ in self._entries())

    def size(self) -> int:
        """Bytes currently held on disk (by a full scan)."""
        return self._scan_size()

    def evict(self) -> None:
        """Remove least recently used entries until the cache is at 90% of its cap."""
        entries = sorted(self._entries())
        total = sum(size for _, size, _ in entries)
        target = int(self.max_bytes * 0.9)
        for _, size, path in entries:
            if total <= target:
                break
            try:
                path.unlink()
                total -= size
            except OSError:
                continue
        with self._lock:
            self._size = total
