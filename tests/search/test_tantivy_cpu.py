"""Tantivy's CPU savings change no answer: one facet pass under load, marks from loaded docs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from search.backend import SearchQuery, SearchResult
from search.tantivy_backend import SNIPPET_FIELDS, TantivyBackend, _mark


def _queries(backend: TantivyBackend) -> list[SearchQuery]:
    facets = {f.name: f for f in backend.search(SearchQuery(size=0)).facets}
    kind = facets["type"].buckets[0].key
    place = facets["place"].buckets[0].key
    return [
        SearchQuery(text="广州"),
        SearchQuery(text="Oaxaca", filters={"type": [kind]}),
        SearchQuery(filters={"type": [kind], "place": [place]}, year_from=1800),
        SearchQuery(),
    ]


def _answer(result: SearchResult) -> tuple[Any, ...]:
    return (result.total, [(h.id, h.highlights) for h in result.hits],
            [(f.name, [(b.key, b.count) for b in f.buckets]) for f in result.facets])


def _cold(backend: TantivyBackend, query: SearchQuery) -> SearchResult:
    backend.facet_cache.clear()
    return backend.search(query)


def test_one_facet_pass_under_load_counts_as_two(tantivy_backend: TantivyBackend) -> None:
    """With other searches in flight the facets without a choice are counted in one pass."""
    queries = _queries(tantivy_backend)
    alone = [_answer(_cold(tantivy_backend, q)) for q in queries]
    tantivy_backend._in_flight += 5  # as if five other searches were running
    try:
        busy = [_answer(_cold(tantivy_backend, q)) for q in queries]
    finally:
        tantivy_backend._in_flight -= 5
    assert busy == alone
    assert any(count for _name, buckets in alone[0][2] for _key, count in buckets)


def test_concurrent_searches_answer_as_one_alone(tantivy_backend: TantivyBackend) -> None:
    """Searches from many threads at once give what each gives on its own."""
    queries = _queries(tantivy_backend) * 4
    alone = [_answer(_cold(tantivy_backend, q)) for q in queries]
    tantivy_backend.facet_cache.clear()
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda q: _answer(tantivy_backend.search(q)), queries))
    assert together == alone
    assert tantivy_backend._in_flight == 0


def test_mark_escapes_and_joins_ascii_and_utf8_fragments() -> None:
    """Marks at byte offsets: ASCII and multi-byte fragments, touching spans joined."""
    assert _mark("a <b> & c", [(3, 4), (8, 9)]) == "a &lt;<mark>b</mark>&gt; &amp; <mark>c</mark>"
    # 广 and 州 are three bytes each and touch: one mark, as Lucene gives.
    assert _mark("在广州<城>", [(3, 6), (6, 9)]) == "在<mark>广州</mark>&lt;城&gt;"
    assert _mark("México", []) == ""
    assert _mark("México x", [(0, 7)]) == "<mark>México</mark> x"


def test_snippets_only_where_words_are_give_every_mark(tantivy_backend: TantivyBackend,
                                                       monkeypatch: Any) -> None:
    """Skipping fields no document holds a query word in loses no highlight."""
    queries = [SearchQuery(text=t) for t in ("广州", "Oaxaca", "México", "mapa de", "silk 广州",
                                             "\"relación geográfica\"", "embroidery")]
    skipping = [_answer(_cold(tantivy_backend, q)) for q in queries]
    fields = tantivy_backend._fields_with_words(tantivy_backend._searcher(), "Oaxaca 广州")
    assert fields and len(fields) < len(SNIPPET_FIELDS)
    monkeypatch.setattr(tantivy_backend, "_fields_with_words",
                        lambda searcher, text: set(SNIPPET_FIELDS))
    every = [_answer(_cold(tantivy_backend, q)) for q in queries]
    assert skipping == every
    assert sum(bool(h) for answer in every for _id, h in answer[1]) > 5
