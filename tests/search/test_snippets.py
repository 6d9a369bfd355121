"""Highlights made in Python for untagged titles and descriptions (search/snippets.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tantivy

from search.backend import SearchQuery
from search.snippets import best_fragment, byte_spans, highlight_spans, word_spans
from search.tantivy_backend import _SPLITTER, TantivyBackend, _mark, build_analyzer, split_words
from tests.search.corpus import all_documents
from tests.search.test_tantivy_words import TRICKY

WORDS = build_analyzer("memoria_en_folded_words")
ASCII_TEXTS = [
    "One of the main points of criticism on academic research in operations research "
    "(management science) is that there is too much emphasis on the mathematical aspects of "
    "the discipline. In particular, the mathematical models that lend themselves to rigorous "
    "mathematical analysis are often rough simplifications of the actual decision problems "
    "that need to be solved in practice.",
    "Maps of the rivers, mapping the river banks; a map-maker's notes (1884) on river mapping.",
    "short text",
]


def _words(text: str) -> list[str]:
    return [text[s:e] for s, e in word_spans(text, _SPLITTER.analyze)]


def test_word_spans_are_the_words_split_words_finds() -> None:
    texts = [*TRICKY, *ASCII_TEXTS]
    texts += [t for d in all_documents() for part in ("title", "description")
              for values in (d.get(part) or {}).values() for t in values]
    assert len(texts) > 100
    for text in texts:
        words = split_words(text)
        assert _words(text) == (words.split(" ") if words else []), text[:200]


def test_best_fragment_picks_the_first_window_with_most_marks() -> None:
    text = "aa bb cc dd ee"
    spans = word_spans(text, _SPLITTER.analyze)
    assert best_fragment(text, spans, [False] * 5) == ("", [])
    # Windows of 5 characters: "aa bb", "cc dd", "ee"; the second holds two marks.
    assert best_fragment(text, spans, [True, False, True, True, False], 5) == (
        "cc dd", [(0, 2), (3, 5)])
    # A tie goes to the first window.
    assert best_fragment(text, spans, [True, False, True, False, False], 5) == (
        "aa bb", [(0, 2)])


def test_fragments_and_marks_as_tantivys_generator_gives(tmp_path: Path) -> None:
    """One-word queries over ASCII text: the same fragment and marks as SnippetGenerator."""
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("t", stored=True, tokenizer_name="memoria_en_folded")
    schema = builder.build()
    index = tantivy.Index(schema, path=str(tmp_path))
    index.register_tokenizer("memoria_en_folded", build_analyzer("memoria_en_folded"))
    writer = index.writer(heap_size=15_000_000, num_threads=1)
    for text in ASCII_TEXTS:
        writer.add_document(tantivy.Document(t=[text]))
    writer.commit()
    index.reload()
    searcher = index.searcher()
    query_analyzer = build_analyzer("memoria_en_folded")
    compared = 0
    for word in ("research", "mathematical", "rivers", "mapping", "notes", "text", "1884"):
        terms = set(query_analyzer.analyze(word))
        query = tantivy.Query.term_query(schema, "t", next(iter(terms)))
        generator = tantivy.SnippetGenerator.create(searcher, query, schema, "t")
        for _score, address in searcher.search(query, 10).hits:
            doc = searcher.doc(address)
            text = doc.get_first("t")
            expected = generator.snippet_from_doc(doc)
            fragment, spans = highlight_spans(text, terms, _SPLITTER.analyze, WORDS.analyze)
            assert fragment == expected.fragment(), word
            assert spans == [(r.start, r.end) for r in expected.highlighted()], word
            compared += 1
    assert compared >= 7


def test_non_ascii_marks_land_on_their_words() -> None:
    text = "Tejidos oaxaqueños de Cortés, 光绪十年\nmapa de Cortés"
    terms = set(build_analyzer("memoria_en_folded").analyze("Cortes"))
    fragment, spans = highlight_spans(text, terms, _SPLITTER.analyze, WORDS.analyze)
    assert [fragment[s:e] for s, e in spans] == ["Cortés", "Cortés"]
    assert _mark(fragment, byte_spans(fragment, spans)).count("<mark>Cortés</mark>") == 2


def test_untagged_descriptions_are_highlighted(tmp_path: Path,
                                               documents: list[dict[str, Any]]) -> None:
    """Through the backend: stemmed and folded query words marked in untagged text."""
    backend = TantivyBackend(tmp_path / "index")
    try:
        backend.index([dict(documents[0], id="u1", title={"other": ["Karten der Flüsse"]},
                            description={"other": ["Tejidos de Cortés: mapping the rivers."]},
                            other_text="")])
        hit = backend.search(SearchQuery(text="Cortes rivers")).hits[0]
        assert hit.highlights["description"] == [
            "Tejidos de <mark>Cortés</mark>: mapping the <mark>rivers</mark>"]  # to the last word, as Tantivy
        hit = backend.search(SearchQuery(text="river karten")).hits[0]
        assert hit.highlights["title"] == ["<mark>Karten</mark> der Flüsse"]
        assert hit.highlights["description"] == [
            "Tejidos de Cortés: mapping the <mark>rivers</mark>"]
    finally:
        backend.close()
