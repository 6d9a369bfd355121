"""Highlighted fragments of a text, made in Python, for fields indexed from split words.

Tantivy's SnippetGenerator re-analyses a field's *stored* text with the field's own analyzer.
A field indexed from split_words (a whitespace analyzer over words joined by spaces) cannot be
stored as the original text and highlighted that way, and analysing the original with the
regex tokenizer at index time was ~6 % of a Dublin Core ingest. So such a field's highlights
are made here from the document's source: its words found as split_words finds them, each
analysed by the field's words analyzer (one call for the text), and the best window of
FRAGMENT_CHARS chosen the way Tantivy's generator does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

# The words TOKEN_PATTERN finds in all-ASCII text (search.tantivy_backend.split_words and
# word_spans use it).
ASCII_WORD = re.compile(r"[A-Za-z0-9_]+(?:['.:][A-Za-z0-9_]+)*")
FRAGMENT_CHARS = 150  # Tantivy's SnippetGenerator default (max_num_chars)


def word_spans(text: str, split_line: Callable[[str], list[str]]) -> list[tuple[int, int]]:
    """Each word's (start, end) in the text, as split_words finds them.

    `split_line` gives a non-ASCII line's words in order (Tantivy's regex tokenizer); each is
    a substring of the line, so it is found from where the last one ended.
    """
    if text.isascii():
        return [m.span() for m in ASCII_WORD.finditer(text)]
    spans: list[tuple[int, int]] = []
    base = 0
    for line in text.split("\n"):
        if line.isascii():
            spans += [(base + m.start(), base + m.end()) for m in ASCII_WORD.finditer(line)]
        else:
            pos = 0
            for word in split_line(line):
                start = line.find(word, pos)
                if start < 0:  # never, for a tokenizer without filters
                    break
                pos = start + len(word)
                spans.append((base + start, base + pos))
        base += len(line) + 1
    return spans


def best_fragment(text: str, spans: list[tuple[int, int]], marked: list[bool],
                  max_chars: int = FRAGMENT_CHARS) -> tuple[str, list[tuple[int, int]]]:
    """The window of at most max_chars with the most marked words, and their spans in it.

    As Tantivy's generator: windows are cut greedily from the first word, a new one starting
    at the word that would overflow the last; the first window with the most marks wins.
    No marked word: ("", []).
    """
    best: tuple[int, int, int] | None = None  # (score, first word, end word)
    first, score = 0, 0
    for i, (_start, end) in enumerate(spans):
        if end - spans[first][0] > max_chars and i > first:
            if score and (best is None or score > best[0]):
                best = (score, first, i)
            first, score = i, 0
        score += marked[i]
    if score and (best is None or score > best[0]):
        best = (score, first, len(spans))
    if best is None:
        return "", []
    _, lo, hi = best
    offset = spans[lo][0]
    fragment = text[offset:spans[hi - 1][1]]
    return fragment, [(s - offset, e - offset)
                      for (s, e), m in zip(spans[lo:hi], marked[lo:hi], strict=True) if m]


def highlight_spans(text: str, terms: Collection[str], split_line: Callable[[str], list[str]],
                    analyze_words: Callable[[str], list[str]]
                    ) -> tuple[str, list[tuple[int, int]]]:
    """A text's best fragment and the character spans in it of words whose term is in terms.

    `analyze_words` is the field's words analyzer: words joined by spaces in, one term a word
    out (its filters never drop a token).
    """
    spans = word_spans(text, split_line)
    if not spans or not terms:
        return "", []
    tokens = analyze_words(" ".join(text[s:e] for s, e in spans))
    if len(tokens) != len(spans):  # a filter dropped or split a token: word by word instead
        tokens = [next(iter(analyze_words(text[s:e])), "") for s, e in spans]
    return best_fragment(text, spans, [t in terms for t in tokens])


def byte_spans(fragment: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Character spans as UTF-8 byte offsets (what Tantivy's snippets report)."""
    if fragment.isascii():
        return spans
    return [(len(fragment[:s].encode()), len(fragment[:e].encode())) for s, e in spans]
