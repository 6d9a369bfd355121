"""The speed work keeps answers right: the facet cache, bulk-load settings, parallel bulk."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from search.backend import SearchQuery
from search.facet_cache import FacetCache
from search.tantivy_backend import TantivyBackend
from tests.search.conftest import drop, es_or_fail


def test_facet_cache_keeps_recent_values_and_forgets_on_a_new_state() -> None:
    cache: FacetCache[int] = FacetCache(size=2)
    calls: list[str] = []

    def value(key: str) -> int:
        calls.append(key)
        return len(calls)

    assert cache.get("s1", "a", lambda: value("a")) == 1
    assert cache.get("s1", "a", lambda: value("a")) == 1
    assert cache.get("s1", "b", lambda: value("b")) == 2
    assert cache.get("s1", "c", lambda: value("c")) == 3
    # "a" was the least recently used of three in a cache of two.
    assert cache.get("s1", "a", lambda: value("a")) == 4
    assert (cache.hits, cache.misses) == (1, 4)
    # A new index state: nothing computed before is reused.
    assert cache.get("s2", "a", lambda: value("a")) == 5
    assert calls == ["a", "b", "c", "a", "a"]


def test_tantivy_facet_counts_follow_writes(tmp_path: Path,
                                            documents: list[dict[str, Any]]) -> None:
    backend = TantivyBackend(tmp_path / "index")
    backend.index(documents[:20])
    query = SearchQuery(filters={"type": ["IMAGE", "TEXT"]})
    first = backend.search(query)
    again = backend.search(query)
    assert again.facets == first.facets
    assert backend.facet_cache.hits > 0
    backend.index(documents[20:40])
    grown = backend.search(query)
    assert sum(grown.facet("language").values()) >= sum(first.facet("language").values())
    assert grown.total == backend.count(query)
    assert sum(grown.facet("type").values()) == backend.count(SearchQuery())
    backend.delete([d["id"] for d in documents[:40]])
    # The chosen values stay listed, now with nothing under them.
    assert backend.search(query).facet("type") == {"IMAGE": 0, "TEXT": 0}


def test_tantivy_reader_refresh_keeps_its_cache_until_a_writer_commits(
        tmp_path: Path, documents: list[dict[str, Any]]) -> None:
    """A reader worker refreshes every few seconds; only another process's commit clears it."""
    writer = TantivyBackend(tmp_path / "index")
    writer.index(documents[:20])
    reader = TantivyBackend(tmp_path / "index")
    query = SearchQuery(filters={"type": ["IMAGE"]})
    reader.refresh()
    first = reader.search(query)
    misses = reader.facet_cache.misses
    reader.refresh()
    assert reader.search(query).facets == first.facets
    reader.refresh()
    assert reader.search(query).facets == first.facets
    assert reader.facet_cache.misses == misses  # refreshed twice, nothing changed: all hits
    writer.index(documents[20:40])
    reader.refresh()
    grown = reader.search(query)
    assert reader.facet_cache.misses > misses
    assert sum(grown.facet("type").values()) == writer.count(SearchQuery()) == 40


@pytest.mark.service
def test_es_rebuild_restores_serving_settings_and_keeps_the_last_version(
        documents: list[dict[str, Any]]) -> None:
    backend = es_or_fail(f"memoria-test-t{uuid.uuid4().hex[:8]}")
    try:
        doc = documents[5]
        newer = dict(doc, other_text="otra versión, quetzal")
        # Repeated ids go through the same bulk thread, in order: the last version wins.
        assert backend.rebuild([doc, *documents[6:60], newer]) == 56
        index = backend.health().detail["indices"][0]
        settings = backend.client.indices.get_settings(index=index).body[index]["settings"]
        assert settings["index"].get("refresh_interval") in (None, "1s")
        assert settings["index"].get("translog", {}).get("durability", "request") == "request"
        assert backend.count() == 55
        assert backend.search(SearchQuery(text="quetzal")).ids == [doc["id"]]
        # The total comes from the aggregation request when facets are counted.
        query = SearchQuery(text="quetzal", filters={"type": ["IMAGE", "TEXT"]})
        assert backend.search(query).total == backend.search(
            SearchQuery(text="quetzal", filters={"type": ["IMAGE", "TEXT"]},
                        facets=False)).total == backend.count(query)
    finally:
        drop(backend)
        backend.close()


def test_tantivy_facet_counts_equal_exact_counts(
        tmp_path: Path, documents: list[dict[str, Any]]) -> None:
    """Each facet, counted without its own choices, equals counting each value on its own."""
    backend = TantivyBackend(tmp_path / "index")
    odd = dict(documents[0], id="odd-1", creator=['Ana "la" \\ Ruiz', "Creator, 2",
                                                   "bad\x01value"],
               year_begin=-450, year_end=-400)
    backend.index([*documents, odd])
    for query in (
        SearchQuery(filters={"creator": ['Ana "la" \\ Ruiz'], "century": ["-500", "1800"]}),
        SearchQuery(filters={"creator": ["bad\x01value"]}),
        SearchQuery(text="缂丝", filters={"type": ["IMAGE"], "period": ["before-1500",
                                                                      "1500-1799"]}),
        SearchQuery(filters={"type": ["IMAGE", "TEXT"], "language": ["zh", "es"]},
                    year_from=1500),
    ):
        result = backend.search(query)
        assert result.total == backend.count(query) > 0
        for name in ("type", "creator", "century", "period", "language"):
            others = {k: v for k, v in query.filters.items() if k != name}
            # A chosen value beyond a facet's top buckets is listed with 0 (both backends).
            for key, count in result.facet(name).items():
                if not count:
                    continue
                exact = SearchQuery(text=query.text, year_from=query.year_from,
                                    filters={**others, name: [key]})
                assert count == backend.count(exact), (name, key)
