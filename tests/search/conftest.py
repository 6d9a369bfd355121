"""Fixtures: the corpus documents, and both backends loaded with them."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from search.backend import SearchBackend
from search.es_backend import ElasticsearchBackend
from search.tantivy_backend import TantivyBackend
from tests.search.corpus import all_documents

ES_URL = os.environ.get("MEMORIA_ES_URL", "http://127.0.0.1:9200")


@pytest.fixture(scope="session")
def documents() -> list[dict[str, Any]]:
    """Every test document (Chinese and Spanish/English corpus rows plus authored ones)."""
    return all_documents()


@pytest.fixture(scope="session")
def tantivy_backend(documents: list[dict[str, Any]],
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[TantivyBackend]:
    """A Tantivy index on disk holding every test document."""
    backend = TantivyBackend(tmp_path_factory.mktemp("tantivy") / "index")
    backend.index(documents)
    yield backend
    backend.close()


def es_or_fail(alias: str) -> ElasticsearchBackend:
    """An Elasticsearch backend on MEMORIA_ES_URL; fail (never skip) when there is none."""
    backend = ElasticsearchBackend(ES_URL, alias=alias)
    health = backend.health()
    if not health.ok:
        pytest.fail(
            f"Elasticsearch is not available at {ES_URL}: {health.detail.get('error')}. "
            "Start it with `scripts/es.sh start` (or point MEMORIA_ES_URL at a server).",
            pytrace=False,
        )
    return backend


def drop(backend: ElasticsearchBackend) -> None:
    """Delete the indices behind a test alias."""
    for index in backend.client.indices.get(index=f"{backend.alias}-*").body:
        backend.client.indices.delete(index=index, ignore_unavailable=True)


@pytest.fixture(scope="session")
def es_backend(documents: list[dict[str, Any]]) -> Iterator[ElasticsearchBackend]:
    """An Elasticsearch index (behind a per-run alias) holding every test document."""
    backend = es_or_fail(f"memoria-test-{uuid.uuid4().hex[:8]}")
    backend.rebuild(documents)
    yield backend
    drop(backend)
    backend.close()


@pytest.fixture(params=["tantivy", pytest.param("elasticsearch", marks=pytest.mark.service)])
def backend(request: pytest.FixtureRequest) -> SearchBackend:
    """Each backend in turn, loaded with the same documents."""
    name = "tantivy_backend" if request.param == "tantivy" else "es_backend"
    backend: SearchBackend = request.getfixturevalue(name)
    return backend


@pytest.fixture(params=["tantivy", pytest.param("elasticsearch", marks=pytest.mark.service)])
def empty_backend(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[SearchBackend]:
    """Each backend in turn, empty, for tests that write."""
    if request.param == "tantivy":
        tb = TantivyBackend(tmp_path / "index")
        yield tb
        tb.close()
        return
    eb = es_or_fail(f"memoria-test-w{uuid.uuid4().hex[:8]}")
    eb.refresh_on_write = True
    eb.reset()
    yield eb
    drop(eb)
    eb.close()
