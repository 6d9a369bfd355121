"""The SearchBackend contract, run against both backends on the same corpus documents."""

from __future__ import annotations

import re
from typing import Any

import pytest

from search.backend import (
    BBox,
    SearchBackend,
    SearchQuery,
    Sort,
    facet_by_name,
    finish_buckets,
)
from tests.search import truth


def _ids(backend: SearchBackend, **kw: Any) -> set[str]:
    res = backend.search(SearchQuery(size=1000, facets=False, highlight=False, **kw))
    assert res.total == len(res.hits)
    return set(res.ids)


def _expected_facet(docs: list[dict[str, Any]], query: SearchQuery, name: str
                    ) -> dict[str, int]:
    facet = facet_by_name(name)
    counts = truth.facet_counts(docs, query, name)
    chosen = set(query.filters.get(name, ()))
    return {b.key: b.count for b in finish_buckets(facet, counts, chosen)}


def _han_runs(text: str) -> str:
    return "".join(re.findall(r"[\u4e00-\u9fff]", text))


def test_health_and_count(backend: SearchBackend, documents: list[dict[str, Any]]) -> None:
    assert backend.health().ok
    assert backend.count() == len(documents)
    assert backend.search(SearchQuery(size=0)).total == len(documents)


def test_chinese_word_found_in_the_middle_of_a_title(
        backend: SearchBackend, documents: list[dict[str, Any]]) -> None:
    titled = [d for d in documents if "zh" in d["title"] and len(d["title"]["zh"][0]) >= 6]
    title = titled[0]["title"]["zh"][0]
    middle = title[2:4]
    hits = _ids(backend, text=middle)
    assert titled[0]["id"] in hits
    # Every record with the two characters side by side in a title is found.
    for d in documents:
        if any(middle in t for t in d["title"].get("zh", [])):
            assert d["id"] in hits
    # ...and nothing is found that lacks them (punctuation between them does not count).
    for d in documents:
        if d["id"] in hits:
            assert middle in _han_runs(truth.full_text(d))


def test_chinese_single_character_and_no_false_match(backend: SearchBackend) -> None:
    assert _ids(backend, text="绣")
    assert not _ids(backend, text="绣鸟龍")


def test_accents_fold_both_ways(backend: SearchBackend, documents: list[dict[str, Any]]) -> None:
    accented = _ids(backend, text="México")
    plain = _ids(backend, text="Mexico")
    lower = _ids(backend, text="mexico")
    assert accented == plain == lower
    for d in documents:
        if "México" in truth.full_text(d) or "Mexico" in truth.full_text(d):
            assert d["id"] in plain
    assert _ids(backend, text="geograficas") == _ids(backend, text="Geográficas")


def test_spanish_stemming(backend: SearchBackend) -> None:
    forms = [_ids(backend, text=w) for w in ("oaxaqueño", "oaxaqueños", "oaxaqueña",
                                              "Oaxaqueñas", "oaxaqueno")]
    assert forms[0] == {"memo-oax1", "memo-oax2"}
    assert all(f == forms[0] for f in forms)
    assert "memo-oax3" in _ids(backend, text="Oaxaca")


def test_english_stemming(backend: SearchBackend) -> None:
    assert "memo-en2" in _ids(backend, text="map")
    assert "memo-en1" in _ids(backend, text="embroidered robe")
    assert "memo-en2" in _ids(backend, text="run river")


def test_all_words_must_match_and_phrases(backend: SearchBackend) -> None:
    both = _ids(backend, text="Pintura Cholula")
    assert both and both <= _ids(backend, text="Pintura")
    assert both <= _ids(backend, text="Cholula")
    assert _ids(backend, text='"Pintura de Cholula"') <= both
    assert not _ids(backend, text='"Cholula de Pintura"')


def test_user_text_is_never_query_syntax(backend: SearchBackend) -> None:
    for text in ['title:foo AND (bar OR "', "*", "a~2 b^3", "[1 TO 2]", "\\", '"""', "-", "()"]:
        res = backend.search(SearchQuery(text=text))
        assert res.total >= 0
    # Punctuation alone is no clause at all, so it does not narrow the result.
    assert backend.search(SearchQuery(text="-- ,")).total == backend.count()


def test_facets_count_everything_without_choices(
        backend: SearchBackend, documents: list[dict[str, Any]]) -> None:
    query = SearchQuery(size=0)
    res = backend.search(query)
    for name in truth.all_facet_names():
        assert res.facet(name) == _expected_facet(documents, query, name), name


def test_facets_are_post_filters(backend: SearchBackend, documents: list[dict[str, Any]]
                                 ) -> None:
    query = SearchQuery(size=1000, filters={
        "type": ["IMAGE"],
        "subject": ["缂丝", "刺绣"],
        "rights": ["http://creativecommons.org/publicdomain/mark/1.0/"],
    })
    res = backend.search(query)
    assert set(res.ids) == truth.matching(documents, query)
    assert res.total == len(truth.matching(documents, query)) > 0
    for name in truth.all_facet_names():
        assert res.facet(name) == _expected_facet(documents, query, name), name
    # OR within a facet: the other subject values stay countable.
    assert len(res.facet("subject")) > 2
    chosen = {b.key for f in res.facets if f.name == "subject" for b in f.buckets if b.selected}
    assert chosen == {"缂丝", "刺绣"}


def test_histogram_and_range_choices(backend: SearchBackend, documents: list[dict[str, Any]]
                                     ) -> None:
    query = SearchQuery(size=1000, filters={"century": ["1700", "1500"], "period": ["1900-"]})
    res = backend.search(query)
    assert set(res.ids) == truth.matching(documents, query)
    for name in ("century", "period", "type", "collection"):
        assert res.facet(name) == _expected_facet(documents, query, name), name
    query = SearchQuery(size=1000, filters={"period": ["1500-1799"]})
    assert set(backend.search(query).ids) == truth.matching(documents, query)


def test_year_span_overlaps(backend: SearchBackend, documents: list[dict[str, Any]]) -> None:
    for span in ((1700, 1750), (1580, 1580), (None, 1600), (1900, None)):
        query = SearchQuery(year_from=span[0], year_to=span[1], size=1000)
        res = backend.search(query)
        assert set(res.ids) == truth.matching(documents, query), span
        assert res.facet("century") == _expected_facet(documents, query, "century")


def test_geo_box_and_region_facet(backend: SearchBackend, documents: list[dict[str, Any]]
                                  ) -> None:
    for box in (BBox(14.0, -100.0, 20.0, -95.0), BBox(30.0, 100.0, 45.0, 120.0),
                BBox(-10.0, 170.0, 60.0, -90.0)):
        query = SearchQuery(bbox=box, size=1000)
        res = backend.search(query)
        assert set(res.ids) == truth.matching(documents, query), box
        assert res.facet("region") == _expected_facet(documents, query, "region")
    query = SearchQuery(filters={"region": ["10,-100"]}, size=1000)
    assert set(backend.search(query).ids) == truth.matching(documents, query)


def _order(documents: list[dict[str, Any]], sort: Sort) -> list[str]:
    field = "year_begin" if sort in (Sort.YEAR_ASC, Sort.YEAR_DESC) else "title_sort"
    have = [d for d in documents if d.get(field) is not None]
    lack = [d for d in documents if d.get(field) is None]
    desc = sort in (Sort.YEAR_DESC, Sort.TITLE_DESC)
    if field == "title_sort":
        have.sort(key=lambda d: (d[field].encode(), d["id"]), reverse=desc)
    else:
        have.sort(key=lambda d: (d[field], d["id"]), reverse=desc)
    lack.sort(key=lambda d: d["id"], reverse=desc)
    return [d["id"] for d in have + lack]


@pytest.mark.parametrize("sort", [Sort.YEAR_ASC, Sort.YEAR_DESC, Sort.TITLE_ASC,
                                  Sort.TITLE_DESC])
def test_field_sorts_are_total_orders(backend: SearchBackend, documents: list[dict[str, Any]],
                                      sort: Sort) -> None:
    expected = _order(documents, sort)
    res = backend.search(SearchQuery(sort=sort, size=1000, facets=False))
    assert res.ids == expected
    page3 = backend.search(SearchQuery(sort=sort, size=25, page=3, facets=False))
    assert page3.ids == expected[50:75]


def test_search_after_walks_everything(backend: SearchBackend,
                                       documents: list[dict[str, Any]]) -> None:
    expected = _order(documents, Sort.YEAR_ASC)
    seen: list[str] = []
    after = None
    while True:
        res = backend.search(SearchQuery(sort=Sort.YEAR_ASC, size=97, search_after=after,
                                         facets=False))
        if not res.hits:
            break
        seen += res.ids
        after = res.hits[-1].sort_values
    assert seen == expected


def test_relevance_puts_title_matches_first(backend: SearchBackend) -> None:
    res = backend.search(SearchQuery(text="Cholula", size=5))
    assert res.hits and "Cholula" in res.hits[0].source["title_display"]  # type: ignore[index]
    assert any("<mark>" in frag for frag in res.hits[0].highlights.get("title", []))


def test_suggest(backend: SearchBackend, documents: list[dict[str, Any]]) -> None:
    got = backend.suggest("pint", 5)
    pintura = sum(1 for d in documents if "pintura" in d["suggest"])
    assert got[0] == ("pintura", pintura)
    assert backend.suggest("缂丝", 3)[0][0].startswith("缂丝")
    assert backend.suggest("zzzz") == []
    assert backend.suggest("a.*") == []


def test_write_replace_delete(empty_backend: SearchBackend, documents: list[dict[str, Any]]
                              ) -> None:
    sample = documents[:40]
    assert empty_backend.index(sample) == 40
    empty_backend.refresh()
    assert empty_backend.count() == 40
    changed = dict(sample[5], title={"en": ["A wholly new title, quetzal"]},
                   other_text="")
    empty_backend.index([changed])
    empty_backend.refresh()
    assert empty_backend.count() == 40
    hits = empty_backend.search(SearchQuery(text="quetzal"))
    assert hits.ids == [sample[5]["id"]]
    empty_backend.delete([sample[5]["id"], "nobody-here"])
    empty_backend.refresh()
    assert empty_backend.count() == 39
    assert empty_backend.search(SearchQuery(text="quetzal")).total == 0
    empty_backend.reset()
    empty_backend.refresh()
    assert empty_backend.count() == 0


def test_each_text_is_matched_in_its_own_language(
        empty_backend: SearchBackend, documents: list[dict[str, Any]]) -> None:
    """Titles and descriptions with their language's analysis, other_text stemmed both
    ways, Chinese runs across spaces and punctuation; no phrase spans two fields."""
    def doc(i: int, title: dict[str, list[str]] | None = None,
            description: dict[str, list[str]] | None = None, other: str = "") -> dict[str, Any]:
        return dict(documents[0], id=f"lang{i}", title=title or {},
                    description=description or {}, other_text=other)

    empty_backend.index([
        doc(0, title={"es": ["Mapas oaxaqueños"]}),
        doc(1, title={"en": ["Running rivers"]}),
        doc(2, title={"other": ["Karten der rivers"]}),
        doc(3, title={"zh": ["缂丝花鸟图轴"]}),
        doc(4, description={"zh": ["缂丝。\n花鸟"]}),
        doc(5, title={"zh": ["缂 mexico 丝花鸟"]}),
        doc(6, title={"es": ["Pintura"]}, description={"es": ["de Cholula"]}),
        doc(7, other="Fotografías de pinturas"),
        # Untagged: stemmed both ways, each text on its own (no phrase across title and
        # description, nor into other_text).
        doc(8, title={"other": ["Tejidos oaxaqueños de Cortés"]}, description={"other": ["mapa"]},
            other="antiguo"),
    ])
    empty_backend.refresh()

    def ids(text: str) -> set[str]:
        res = empty_backend.search(SearchQuery(text=text, size=100, facets=False))
        return set(res.ids)

    assert ids("oaxaqueña") == {"lang0", "lang8"}
    assert ids("tejido") == ids("Oaxaqueños tejidos") == {"lang8"}
    assert ids('"oaxaqueños mapa"') == ids('"mapa antiguo"') == set()
    # As a plain copy would: the Spanish copy is folded before it is stemmed.
    assert ids("Cortes") == ids("cortés") == {"lang8"}
    assert ids("run") == {"lang1"}
    assert ids("river") == {"lang1", "lang2"}
    assert ids("fotografia") == ids("photographs") | {"lang7"} == {"lang7"}
    assert ids("pintura") == {"lang6", "lang7"}
    assert ids("缂丝花鸟") == {"lang3", "lang4"}
    assert ids("丝花") == {"lang3", "lang4", "lang5"}
    assert ids("Pintura Cholula") == {"lang6"}
    assert ids('"Pintura de Cholula"') == set()


def test_bad_queries_are_refused() -> None:
    with pytest.raises(ValueError):
        SearchQuery(filters={"nope": ["x"]})
    with pytest.raises(ValueError):
        SearchQuery(size=5000)
    with pytest.raises(ValueError):
        SearchQuery(search_after=(1, "x"))
    with pytest.raises(ValueError):
        BBox(10, 0, 5, 0)
    with pytest.raises(ValueError):
        SearchQuery(filters={"type": "IMAGE"})
    with pytest.raises(ValueError):
        SearchQuery(filters={"century": ["1750"]})
    with pytest.raises(ValueError):
        SearchQuery(filters={"period": ["someday"]})
    with pytest.raises(ValueError):
        SearchQuery(sort="sideways")  # type: ignore[arg-type]
    assert SearchQuery(sort="year_asc").sort is Sort.YEAR_ASC  # type: ignore[arg-type]


def test_chinese_highlight_marks_the_whole_match(backend: SearchBackend) -> None:
    res = backend.search(SearchQuery(text="花鸟", size=5))
    titles = [frag for h in res.hits for frag in h.highlights.get("title", [])]
    assert titles and all("<mark>花鸟</mark>" in t for t in titles)
