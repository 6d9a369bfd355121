"""How an Elasticsearch search is split into requests never changes its answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from search.backend import SearchQuery, SearchResult, facet_by_name, facet_defs
from search.es_backend import (
    ElasticsearchBackend,
    _chosen_groups,
    _count_cost,
    _derivations,
    _sum_buckets,
    schema_stamp,
)

pytestmark = pytest.mark.service

QUERIES = [
    SearchQuery(text="México", filters={"type": ["IMAGE"]}),
    SearchQuery(text="花鸟"),
    SearchQuery(filters={"language": ["zh", "es"], "level": ["item"]}),
    SearchQuery(),
    SearchQuery(text="pintura", filters={"century": ["1500", "1600", "1700"]}),
    # Several facets chosen, several values each, on fields with several values a record
    # (subject, language): the grouped counts must still leave each facet's own choice out.
    SearchQuery(text="México", filters={
        "subject": ["New Spain--History--Sources", "Indigenous peoples--Mexico--History--Sources"],
        "language": ["spa", "zh"], "century": ["1500", "1600", "1700"], "type": ["IMAGE"]}),
    SearchQuery(filters={
        "collection": ["dpm-embroidery", "benson-relaciones"], "subject": ["服饰", "缂丝"],
        "provider": ["故宫博物院", "Memoria"], "level": ["item"], "decade": ["1730", "1740"]}),
]
LAYOUTS: list[tuple[bool | None, int, bool]] = [
    (None, 2, True), (None, 2, False), (True, 1, True), (False, 1, False), (False, 2, True),
    (False, 3, False), (True, 2, False)]


@pytest.fixture
def layouts(es_backend: ElasticsearchBackend) -> Iterator[ElasticsearchBackend]:
    """The session's backend; its request layout is put back after the test."""
    saved = es_backend.shared_in_hits, es_backend.count_passes, es_backend.chosen_grouped
    yield es_backend
    es_backend.shared_in_hits, es_backend.count_passes, es_backend.chosen_grouped = saved


def _answer(res: SearchResult) -> tuple[object, ...]:
    return (res.total, [h.id for h in res.hits], [(f.name, f.buckets) for f in res.facets],
            [h.highlights for h in res.hits])


@pytest.mark.parametrize("query", QUERIES)
def test_every_request_layout_gives_the_same_hits_facets_and_highlights(
        layouts: ElasticsearchBackend, query: SearchQuery) -> None:
    answers = []
    for shared_in_hits, passes, grouped in LAYOUTS:
        layouts.shared_in_hits, layouts.count_passes = shared_in_hits, passes
        layouts.chosen_grouped = grouped
        answers.append(_answer(layouts.search(query)))
    assert layouts.search(query).total > 0
    assert all(a == answers[0] for a in answers[1:])


def test_chosen_facets_are_counted_in_two_requests_not_one_each(
        layouts: ElasticsearchBackend) -> None:
    query = QUERIES[-2]
    groups = [[f.name for f in g] for g in _chosen_groups(query)]
    assert groups == [["subject", "language"], ["type", "century"]]
    layouts.chosen_grouped, layouts.shared_in_hits = True, None
    bodies = layouts._count_bodies(query, shared_in_hits=True)
    assert len(bodies) == 2
    # A browse without words keeps a request per chosen facet (there are no words to match
    # again), beside the two that count the facets without a choice.
    layouts.count_passes = 2
    browse = QUERIES[-1]
    assert len(layouts._count_bodies(browse)) == 2 + len(browse.filters)
    # Each facet's choice is left out of its own count, and only of its own (a chosen value
    # stays listed with 0).
    res = layouts.search(query)
    for name in ("subject", "language", "type", "century"):
        alone = layouts.search(SearchQuery(
            text=query.text, size=0,
            filters={k: v for k, v in query.filters.items() if k != name}))
        assert {k: n for k, n in res.facet(name).items() if n} == alone.facet(name)
    assert res.total > 0 and any(res.facet("subject").values())


def test_one_chosen_facet_or_one_value_each_keeps_a_request_per_facet() -> None:
    one_each = SearchQuery(filters={"type": ["IMAGE"], "provider": ["Memoria"]})
    assert [[f.name for f in g] for g in _chosen_groups(one_each)] == [["type"], ["provider"]]
    assert _chosen_groups(SearchQuery(filters={"language": ["zh", "spa"]})) == [
        [facet_by_name("language")]]


def test_count_passes_split_the_shared_facets_between_requests(
        layouts: ElasticsearchBackend) -> None:
    layouts.count_passes = 2
    groups = layouts._shared_groups(SearchQuery(text="México"))
    assert len(groups) == 2 and not set(groups[0]) & set(groups[1])
    # The two costly facets (many values, several a record) are counted side by side.
    assert ("creator" in groups[0]) != ("subject" in groups[0])


@pytest.mark.parametrize("passes", [2, 3])
def test_the_count_requests_get_about_equal_shares_of_the_counting_cost(
        layouts: ElasticsearchBackend, passes: int) -> None:
    layouts.count_passes = passes
    costliest = max(_count_cost(f) for f in facet_defs())
    for query in QUERIES:
        groups = layouts._shared_groups(query)
        assert sorted(n for g in groups for n in g) == sorted(layouts._shared_aggs(query))
        costs = [sum(_count_cost(facet_by_name(n)) for n in g) for g in groups]
        assert len(groups) == passes
        assert max(costs) - min(costs) <= costliest, (query, groups)


def test_an_index_carries_the_stamp_of_the_schema_it_was_built_from(
        es_backend: ElasticsearchBackend) -> None:
    assert set(es_backend.index_stamps().values()) == {schema_stamp()}


@pytest.mark.parametrize("query", QUERIES)
def test_centuries_and_periods_summed_from_decades_equal_their_own_aggregations(
        es_backend: ElasticsearchBackend, query: SearchQuery) -> None:
    derived = _derivations(facet_defs())
    assert derived == {"century": "decade", "period": "decade"}
    aggs = {f.name: es_backend._facet_agg(f) for f in facet_defs()
            if f.name in {"decade", *derived}}
    res = es_backend.client.search(index=es_backend.alias, size=0, aggs=aggs,
                                   query=es_backend._filtered(query)).body["aggregations"]
    assert res["decade"]["buckets"]
    for name, base in derived.items():
        summed = _sum_buckets(facet_by_name(name), facet_by_name(base), res[base]["buckets"])
        assert summed == [{"key": b["key"], "doc_count": b["doc_count"]}
                          for b in res[name]["buckets"]]
