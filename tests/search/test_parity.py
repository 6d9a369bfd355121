"""Both backends side by side: the same analyzers' tokens, the same hits, the same facets."""

from __future__ import annotations

import difflib
from typing import Any

import pytest

from search.backend import SearchQuery, Sort
from search.document import load_schema
from search.es_backend import ElasticsearchBackend
from search.tantivy_backend import ANALYZERS, TantivyBackend, build_analyzer
from tests.search import truth

pytestmark = pytest.mark.service

# Lucene ships an older Snowball English than Tantivy's rust-stemmers; these words stem
# differently there ("add" -> "ad" in Lucene). Any other difference fails the test.
KNOWN_STEM_DIFFERENCES = {("ad", "add")}

QUERIES = [
    "", "花鸟", "缂丝", "乾隆", "绣", "刺绣 龙袍", "México", "mexico", "Guatemala",
    "oaxaqueños", "pintura", "maps", "descripción", '"relación geográfica"', "1579",
    "García Icazbalceta", "church river", "Tlaxcala", "embroidered", "清", "1736-1795",
]


def test_analyzers_emit_the_same_tokens(es_backend: ElasticsearchBackend,
                                        documents: list[dict[str, Any]]) -> None:
    body = load_schema("es-index.json")
    index = f"{es_backend.alias}-analysis"
    es_backend.client.indices.create(index=index, settings=body["settings"],
                                     mappings=body["mappings"])
    try:
        differences = set()
        for name in ANALYZERS:
            analyzer = build_analyzer(name)
            for doc in documents:
                text = truth.full_text(doc)
                es_tokens = [t["token"] for t in es_backend.client.indices.analyze(
                    index=index, analyzer=name, text=text).body["tokens"]]
                tv_tokens = analyzer.analyze(text)
                matcher = difflib.SequenceMatcher(a=es_tokens, b=tv_tokens, autojunk=False)
                for op, i1, i2, j1, j2 in matcher.get_opcodes():
                    if op != "equal":
                        differences.add((" ".join(es_tokens[i1:i2]),
                                         " ".join(tv_tokens[j1:j2])))
        assert differences <= KNOWN_STEM_DIFFERENCES
    finally:
        es_backend.client.indices.delete(index=index)


@pytest.mark.parametrize("text", QUERIES)
def test_same_hits_and_facets(es_backend: ElasticsearchBackend,
                              tantivy_backend: TantivyBackend, text: str) -> None:
    query = SearchQuery(text=text, size=1000, highlight=False)
    es = es_backend.search(query)
    tv = tantivy_backend.search(query)
    assert set(es.ids) == set(tv.ids)
    assert es.total == tv.total
    assert [(f.name, f.buckets) for f in es.facets] == [(f.name, f.buckets) for f in tv.facets]


@pytest.mark.parametrize("sort", list(Sort)[1:])
def test_same_order(es_backend: ElasticsearchBackend, tantivy_backend: TantivyBackend,
                    sort: Sort) -> None:
    query = SearchQuery(text="pintura", sort=sort, size=30, page=2, facets=False)
    assert es_backend.search(query).ids == tantivy_backend.search(query).ids


def test_same_suggestions(es_backend: ElasticsearchBackend,
                          tantivy_backend: TantivyBackend) -> None:
    for prefix in ("p", "de", "缂", "mé", "zz"):
        assert es_backend.suggest(prefix, 8) == tantivy_backend.suggest(prefix, 8)
