"""What only one backend has: Tantivy's files on disk, Elasticsearch's alias swap."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import ApiError

from search.backend import SearchBackend, SearchQuery
from search.tantivy_backend import TantivyBackend
from tests.search.conftest import drop, es_or_fail


def test_backends_satisfy_the_protocol(tmp_path: Path) -> None:
    from search.es_backend import ElasticsearchBackend

    assert isinstance(TantivyBackend(tmp_path / "i"), SearchBackend)
    # Constructing the client backend connects to nothing.
    assert isinstance(ElasticsearchBackend("http://127.0.0.1:1"), SearchBackend)


def test_tantivy_index_survives_reopening(tmp_path: Path, documents: list[dict[str, Any]]
                                          ) -> None:
    first = TantivyBackend(tmp_path / "index")
    first.index(documents[:30])
    first.close()
    again = TantivyBackend(tmp_path / "index")
    assert again.count() == 30
    assert again.search(SearchQuery(text="缂丝")).total > 0
    assert sorted(again.iter_ids()) == sorted(d["id"] for d in documents[:30])


@pytest.mark.service
def test_es_rebuild_swaps_the_alias(documents: list[dict[str, Any]]) -> None:
    backend = es_or_fail(f"memoria-test-s{uuid.uuid4().hex[:8]}")
    try:
        backend.refresh_on_write = True
        backend.index(documents[:10])
        before = backend.health().detail["indices"]
        assert backend.count() == 10
        backend.rebuild(documents[10:30])
        after = backend.health().detail["indices"]
        assert len(before) == len(after) == 1 and before != after
        assert backend.count() == 20
        assert not backend.client.indices.exists(index=before[0])
        # With the alias gone, writes fail instead of auto-creating a plain index.
        backend.client.indices.delete(index=after[0])
        with pytest.raises((ApiError, RuntimeError)):
            backend.index(documents[:1])
        assert not backend.client.indices.exists(index=backend.alias)
    finally:
        drop(backend)
        backend.close()


def test_factory(tmp_path: Path) -> None:
    from search.factory import create_backend

    assert isinstance(create_backend("tantivy", tmp_path / "i"), TantivyBackend)
    es = create_backend("elasticsearch", elasticsearch_url="http://127.0.0.1:1")
    assert es.name == "elasticsearch"  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        create_backend("solr")
    with pytest.raises(ValueError):
        create_backend("tantivy")


def test_tantivy_repeated_ids_in_one_batch_keep_the_last(
        tmp_path: Path, documents: list[dict[str, Any]]) -> None:
    backend = TantivyBackend(tmp_path / "index")
    doc = documents[3]
    newer = dict(doc, other_text="otra versión, quetzal")
    assert backend.index([doc, documents[4], newer]) == 3
    assert backend.count() == 2
    assert backend.search(SearchQuery(text="quetzal")).ids == [doc["id"]]


def test_tantivy_index_of_another_schema_asks_for_a_rebuild(
        tmp_path: Path, documents: list[dict[str, Any]]) -> None:
    from search.tantivy_backend import STAMP_FILE, IndexSchemaError

    first = TantivyBackend(tmp_path / "index")
    first.index(documents[:5])
    first.close()
    # An index written before the stamp existed (or by another version) is refused...
    (tmp_path / "index" / STAMP_FILE).unlink()
    old = TantivyBackend(tmp_path / "index")
    with pytest.raises(IndexSchemaError, match="memoria index rebuild"):
        old.count()
    health = old.health()
    assert not health.ok and "memoria index rebuild" in health.detail["error"]
    # ... and a rebuild (reset, then index) replaces it.
    old.reset()
    assert old.index(documents[:3]) == 3
    assert TantivyBackend(tmp_path / "index").count() == 3


def test_tantivy_year_choices_and_boxes_match_the_exact_bounds(
        tmp_path: Path, documents: list[dict[str, Any]]) -> None:
    """Year choices are looked up as bucket terms and boxes narrowed to geo cells first:
    the hits are still exactly the documents within the bounds."""
    from search.backend import BBox

    backend = TantivyBackend(tmp_path / "index")
    base = documents[0]
    points = [(-450, 10.0, -179.5), (1299, 0.0, 0.0), (1300, 9.9999, 19.9999),
              (1399, 10.0, 20.0), (1400, -90.0, 180.0), (1500, 90.0, -180.0)]
    docs = [dict(base, id=f"p{i}", year_begin=year, year_end=year,
                 location={"lat": lat, "lon": lon}, geo_cell=None)
            for i, (year, lat, lon) in enumerate(points)]
    backend.index(docs)

    def ids(query: SearchQuery) -> set[str]:
        return set(backend.search(query).ids)

    assert ids(SearchQuery(filters={"century": ["1300"]})) == {"p2", "p3"}
    assert ids(SearchQuery(filters={"century": ["01300", "-500"]})) == {"p0", "p2", "p3"}
    assert ids(SearchQuery(filters={"period": ["before-1500"]})) == {"p0", "p1", "p2", "p3",
                                                                     "p4"}
    assert ids(SearchQuery(bbox=BBox(0.0, 0.0, 10.0, 20.0))) == {"p1", "p2", "p3"}
    assert ids(SearchQuery(bbox=BBox(10.0, 20.0, 80.0, 60.0))) == {"p3"}
    assert ids(SearchQuery(bbox=BBox(-90.0, 170.0, 90.0, -170.0))) == {"p0", "p4", "p5"}
    assert ids(SearchQuery(bbox=BBox(-90.0, -180.0, 90.0, 180.0))) == {d["id"] for d in docs}
    assert ids(SearchQuery(bbox=BBox(9.9999, 19.9999, 9.9999, 19.9999))) == {"p2"}


def test_tantivy_field_sorts_page_and_resume_through_shared_prefixes(
        tmp_path: Path, documents: list[dict[str, Any]]) -> None:
    """Pages come from the numeric prefix of the sort key first: with many keys sharing
    their first bytes (same decade, same title start, no value), the order stays exact."""
    from search.backend import Sort
    from search.tantivy_backend import sort_key

    years = [1500, 1501, 1509, 1510, None, -45, 1500]
    titles = ["retrato de un hombre", "retrato de una mujer", "retrato", None, "Árbol", "árbol"]
    docs = [dict(documents[0], id=f"s{i:02d}", year_begin=years[i % len(years)],
                 title_sort=titles[i % len(titles)]) for i in range(40)]
    backend = TantivyBackend(tmp_path / "index")
    backend.index(docs)
    for sort in list(Sort)[1:]:
        reverse = sort in (Sort.YEAR_DESC, Sort.TITLE_DESC)
        expected = [d["id"] for d in sorted(docs, key=lambda d: sort_key(d, sort),
                                            reverse=reverse)]
        pages = [backend.search(SearchQuery(sort=sort, size=7, page=p, facets=False)).ids
                 for p in range(1, 7)]
        assert [i for page in pages for i in page] == expected, sort
        walked: list[str] = []
        after = None
        while True:
            res = backend.search(SearchQuery(sort=sort, size=6, search_after=after,
                                             facets=False))
            if not res.hits:
                break
            assert res.total == 40
            walked += res.ids
            after = res.hits[-1].sort_values
        assert walked == expected, sort
