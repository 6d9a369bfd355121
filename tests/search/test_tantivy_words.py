"""Text indexed from its split words gives exactly the tokens the regex analyzers give."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import tantivy

from bench.bench_search import generate
from bench.search_text import TEXT_SUFFIXES
from search.tantivy_backend import SPLIT_ANALYZERS, TOKEN_PATTERN, build_analyzer, split_words
from tests.search.corpus import CORPUS, all_documents

# Each analyzer fed split words, beside the analyzer its field's queries go through.
PAIRS = [(build_analyzer(words), build_analyzer(words.removesuffix("_words")))
         for words in SPLIT_ANALYZERS.values()]
WORDS = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(TOKEN_PATTERN)).build()
TRICKY = [
    "", "  \n ", "don’t rock'n'roll U.S.A. 10:30 a.m. 3.14 snake_case __x__ ...a..b::c",
    "México, oaxaqueño — Ñandú; İstanbul ǅemal ΣΊΣΥΦΟΣ straße ﬁnal ⑴ ½ Ⅻ",
    "广州十三行\n光绪十年（1884）「清」ひらがなカタカナ한국어 e\u0301 a\u3000b",
    "mixed line 中文 words\r\nand ascii\tline\n\nnext:line’s end.",
]


def _corpus_texts() -> Iterator[str]:
    files = sorted(p for p in CORPUS.rglob("*") if p.suffix in TEXT_SUFFIXES and p.is_file())
    assert files, f"no text files in the corpus at {CORPUS}"
    for path in files:
        yield Path(path).read_text(encoding="utf-8", errors="replace")


def _check(texts: list[str]) -> int:
    """Assert every text's tokens agree both ways; return how many tokens were compared."""
    n = 0
    for text in texts:
        words = split_words(text)
        assert (words.split(" ") if words else []) == WORDS.analyze(text)
        for split, regex in PAIRS:
            expected = regex.analyze(text)
            assert split.analyze(words) == expected, text[:200]
            n += len(expected)
    return n


def test_tricky_texts_split_to_the_same_tokens() -> None:
    """Apostrophes, dots, colons, accents, ligatures, Han, kana, CRLF and odd spaces."""
    assert _check(TRICKY) > 50
    assert split_words("don’t U.S.A. 中文") == "don’t U.S.A 中 文"


def test_corpus_files_split_to_the_same_tokens() -> None:
    """Every text file of the shared corpus, markup and all, line by line as one text."""
    assert _check(list(_corpus_texts())) > 100_000


def test_corpus_documents_split_to_the_same_tokens() -> None:
    """The other_text of every search document the tests build from the corpus."""
    texts = [d["other_text"] for d in all_documents() if d.get("other_text")]
    assert _check(texts) > 1_000


def test_bench_documents_split_to_the_same_tokens() -> None:
    """Texts of the search benchmark's generated documents (English, Spanish, Chinese)."""
    texts = [t for d in generate(2_000) for t in (
        d["other_text"], *d["title"].values(), *d["description"].values())]
    flat = [t if isinstance(t, str) else "\n".join(t) for t in texts]
    assert _check(flat) > 20_000
