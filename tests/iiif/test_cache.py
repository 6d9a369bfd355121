"""The derivative cache: hits, bounded size with LRU eviction, single-flight under a stampede."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from iiif.cache import DerivativeCache


def test_hit_after_render(tmp_path: Path) -> None:
    """The second request is served from disk without rendering."""
    cache = DerivativeCache(tmp_path, max_bytes=10_000)
    calls: list[int] = []

    def produce() -> bytes:
        calls.append(1)
        return b"abc"

    assert cache.get_or_render("k", produce) == b"abc"
    assert cache.get_or_render("k", produce) == b"abc"
    assert len(calls) == 1 and cache.hits == 1 and cache.renders == 1
    assert DerivativeCache(tmp_path).get("k") == b"abc"  # survives a new instance


def test_stampede_renders_once(tmp_path: Path) -> None:
    """Many threads asking for one key at once cause exactly one render."""
    cache = DerivativeCache(tmp_path, max_bytes=1 << 20)
    renders = 0
    lock = threading.Lock()
    start = threading.Barrier(48)
    results: list[bytes] = []

    def produce() -> bytes:
        nonlocal renders
        with lock:
            renders += 1
        time.sleep(0.3)  # long enough that every thread arrives while the leader renders
        return b"x" * 1000

    def worker() -> None:
        start.wait()
        data = cache.get_or_render("same-key", produce)
        with lock:
            results.append(data)

    threads = [threading.Thread(target=worker) for _ in range(48)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert renders == 1
    assert len(results) == 48 and all(r == b"x" * 1000 for r in results)


def test_different_keys_render_in_parallel(tmp_path: Path) -> None:
    """Single-flight is per key: distinct keys do not wait on each other."""
    cache = DerivativeCache(tmp_path)
    barrier = threading.Barrier(4, timeout=5)

    def produce() -> bytes:
        barrier.wait()  # deadlocks (BrokenBarrierError) if renders were serialised
        return b"ok"

    out: list[bytes] = []
    threads = [
        threading.Thread(target=lambda i=i: out.append(cache.get_or_render(f"k{i}", produce)))
        for i in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert out == [b"ok"] * 4


def test_error_propagates_to_waiters_and_is_not_cached(tmp_path: Path) -> None:
    """A failed render raises in every waiting thread and the next call retries."""
    cache = DerivativeCache(tmp_path)
    gate = threading.Event()
    errors: list[BaseException] = []

    def failing() -> bytes:
        gate.wait(5)
        raise ValueError("boom")

    def worker() -> None:
        try:
            cache.get_or_render("k", failing)
        except ValueError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join(10)
    assert len(errors) == 8
    assert cache.get_or_render("k", lambda: b"fine") == b"fine"


def test_bounded_with_lru_eviction(tmp_path: Path) -> None:
    """The cache stays under its cap and evicts the least recently used entries first."""
    cache = DerivativeCache(tmp_path, max_bytes=10_000)
    for i in range(5):
        cache.get_or_render(f"k{i}", lambda: b"y" * 1500)
        path = cache._path(f"k{i}")
        os.utime(path, (1000 + i, 1000 + i))
    cache.get("k0")  # k0 becomes the most recent
    for i in range(5, 9):
        cache.get_or_render(f"k{i}", lambda: b"y" * 1500)
    assert cache.size() <= 10_000
    assert cache.get("k0") is not None
    assert cache.get("k1") is None


def test_oversized_value_not_stored(tmp_path: Path) -> None:
    """A value larger than the whole cap is returned but not kept."""
    cache = DerivativeCache(tmp_path, max_bytes=100)
    assert cache.get_or_render("big", lambda: b"z" * 500) == b"z" * 500
    assert cache.get("big") is None


@pytest.mark.parametrize("key", ["../../etc/passwd", "\x00", "a/b", "é" * 1000, "\udcff"])
def test_keys_are_hashed(tmp_path: Path, key: str) -> None:
    """Any key string maps to a file inside the cache root."""
    cache = DerivativeCache(tmp_path / "c")
    cache.get_or_render(key, lambda: b"v")
    assert cache._path(key).resolve().is_relative_to((tmp_path / "c").resolve())
    assert cache.get(key) == b"v"
