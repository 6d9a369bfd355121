"""The search benchmark's warm-up reads a local server's JIT CPU and warms until it is quiet."""

from __future__ import annotations

import pytest

from bench.bench_search import JIT_QUIET, _es_pid, server_cpu_ms, server_jvm, warm_backend
from search.es_backend import ElasticsearchBackend


def test_server_cpu_without_a_server_is_zero() -> None:
    assert server_cpu_ms(None) == (0.0, 0.0)


@pytest.mark.service
def test_the_jvm_compiler_threads_are_counted_apart(es_backend: ElasticsearchBackend) -> None:
    pid = _es_pid(es_backend)
    assert pid
    jit, work = server_cpu_ms(pid)
    # A server that has started and indexed has compiled code and done other work (a fresh
    # one may well have spent more CPU compiling than on anything else).
    assert jit > 0
    assert work > 0


@pytest.mark.service
def test_warm_up_goes_on_only_while_the_jit_is_busy(es_backend: ElasticsearchBackend) -> None:
    pid = _es_pid(es_backend)
    _seconds, rounds, share = warm_backend(es_backend, 2, 1, pid, max_rounds=3)
    assert 1 <= rounds <= 3
    assert rounds == 3 or share <= JIT_QUIET
    # Without a server to watch, only the rounds asked for.
    _seconds, rounds, _share = warm_backend(es_backend, 2, 2, None, max_rounds=5)
    assert rounds == 2
    # No warm-up asked for: none, even with a busy JIT.
    assert warm_backend(es_backend, 2, 0, pid, max_rounds=5)[1] == 0


@pytest.mark.service
def test_the_servers_jvm_is_named(es_backend: ElasticsearchBackend) -> None:
    # An A/B of the JVM under Elasticsearch must be able to tell its runs apart.
    jvm = server_jvm(es_backend)
    assert jvm.startswith("Java ")
    assert "?" not in jvm
    assert "GC " in jvm and "heap " in jvm and "processors" in jvm
