"""The embedded search backend: Tantivy on disk, in process."""

from __future__ import annotations

import html
import json
import re
import shutil
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import tantivy

from search.backend import (
    BBox,
    FacetDef,
    FacetResult,
    Health,
    Hit,
    SearchQuery,
    SearchResult,
    Sort,
    check_countable,
    facet_by_name,
    facet_defs,
    finish_buckets,
    han_only,
    query_clauses,
    selected_keys,
    year_histogram_key,
)
from search.document import GEO_CELL_DEGREES, geo_cell, load_schema
from search.facet_cache import FacetCache
from search.snippets import ASCII_WORD, byte_spans, highlight_spans

# Mirrors Lucene's StandardTokenizer (UAX #29) closely enough for our text: Han and Hiragana
# one character per token (so a phrase of them matches anywhere inside a Chinese word), other
# letters and digits as words joined by apostrophes, dots and colons.
_W = r"[[\p{L}\p{M}\p{N}_]--[\p{Han}\p{Hiragana}]]"
TOKEN_PATTERN = rf"[\p{{Han}}\p{{Hiragana}}]|{_W}+(?:['’.:]{_W}+)*"
# For text that is all ASCII the pattern reduces to search.snippets.ASCII_WORD (the Unicode
# classes hold no other ASCII characters, and ’ is not ASCII). Python's engine finds those
# words in a third of the time Tantivy's regex tokenizer takes (see split_words).
ANALYZERS = ("memoria_text", "memoria_en", "memoria_es", "memoria_en_folded")
# The text with no language of its own, through both stemming analyzers; a clause matches
# when either does. No unstemmed copy: equal unstemmed tokens stem equally -- but for
# accents, which both fold after stemming ("Cortes" does not find a creator "Cortés" here;
# the titles' OTHER_LANG_FIELDS fold first). Its words are
# found once (split_words) and indexed joined by spaces through these analyzers, which
# split on whitespace and then filter like memoria_en and memoria_es: the same tokens at the
# same positions as those give the original text, for a sixth of the tokenizing. Queries
# still go through memoria_en / memoria_es.
OTHER_TEXT_FIELDS = {"other_text_en": "memoria_en", "other_text_es": "memoria_es"}
SPLIT_ANALYZERS = {"other_text_en": "memoria_en_words", "other_text_es": "memoria_es_words",
                   "title_other_en": "memoria_en_folded_words",
                   "title_other_es": "memoria_es_words",
                   "description_other_en": "memoria_en_folded_words",
                   "description_other_es": "memoria_es_words"}
LANG_ANALYZER = {"en": "memoria_en", "es": "memoria_es", "zh": "memoria_text"}
# Titles and descriptions in other or unknown languages are indexed twice, stemmed both ways
# (once less than when they were also in other_text), both from split_words, neither stored:
# `_es` like other_text_es; `_en` folded *before* the English stemmer. That copy's tokens are
# a function of the plain (lowercased, folded) token, so it matches whatever a plain copy
# would: "Cortes" still finds an untagged "Cortés", which stemming first ("corte", "cortes")
# would lose. English stemming otherwise hardly ever meets an accent
# (schemas/search/README.md). Their highlights are made in Python from the source
# (search/snippets.py): analysing the text itself with the regex tokenizer to store it for
# Tantivy's snippets was ~6 % of a Dublin Core ingest.
OTHER_LANG_FIELDS = {"other_en": "memoria_en_folded", "other_es": "memoria_es"}
# Each text field of a title or description: its name and the analyzer its words (and a
# query's) go through.
TEXT_FIELDS = {f"{part}_{slot}": analyzer for part in ("title", "description")
               for slot, analyzer in (*LANG_ANALYZER.items(), *OTHER_LANG_FIELDS.items())}
# Where a clause may match, with the analyzer its words go through; title matches rank first.
MATCH_FIELDS = {**TEXT_FIELDS, **OTHER_TEXT_FIELDS}
FIELD_BOOST = {f: 3.0 for f in TEXT_FIELDS if f.startswith("title_")}
# The Spanish-stemmed copies of text whose language is unknown: a clause of Han characters
# only skips them (neither stemmer changes Han characters, the English copy matches alike).
SPANISH_COPIES = frozenset({"other_text_es", "title_other_es", "description_other_es"})
# The fields highlights are made from: stored ones by Tantivy's SnippetGenerator, and those
# made in Python from the source's text of their part (title, description) in no language.
PYTHON_SNIPPET_FIELDS = {"title_other_en": "title", "description_other_en": "description"}
SNIPPET_FIELDS = tuple(f for f in TEXT_FIELDS
                       if f not in SPLIT_ANALYZERS or f in PYTHON_SNIPPET_FIELDS)
KEYWORD_FIELDS = ("id", "type", "collection", "data_provider", "creator", "subject", "place",
                  "language", "level", "rights", "geo_cell", "parent_id", "ancestors")
# Beside each sort key, its first 8 bytes as a number (see sort_prefix).
PREFIX_SUFFIX = "_prefix"
SORT_FIELDS = {
    Sort.YEAR_ASC: ("year_asc", tantivy.Order.Asc),
    Sort.YEAR_DESC: ("year_desc", tantivy.Order.Desc),
    Sort.TITLE_ASC: ("title_asc", tantivy.Order.Asc),
    Sort.TITLE_DESC: ("title_desc", tantivy.Order.Desc),
}
_HAS_WORD = re.compile(r"[^\W_]")
_YEAR_OFFSET = 1_000_000
# A box's documents are first narrowed to its geo cells (term postings, cheap to intersect),
# then checked exactly against lat/lon; boxes wider than this many cells skip the narrowing.
GEO_PREFILTER = "geo_box_cell"
_MAX_PREFILTER_CELLS = 64
# Threads counting facet passes of a query side by side (the machine this is made for has two
# cores; more threads would only queue).
FACET_THREADS = 2
# Indexing threads of a writer (0: Tantivy's choice, one a core). A feed's batches (an
# ingest's groups of 2,000, beside its mapping workers) use one: a second thread only competes
# with the workers for the cores, and makes twice the segments to write and merge (CSV
# documents: 0.39 -> 0.36 ms of CPU a document at 30,000, 0.39 -> 0.31 at 10,000).
WRITER_THREADS = 0
FEED_WRITER_THREADS = 1
# Bumped whenever the fields or their analysis change: an index built by another version is
# refused with a message to rebuild instead of answering wrongly.
SCHEMA_VERSION = 8
STAMP_FILE = "memoria-schema.json"


class IndexSchemaError(ValueError):
    """The index on disk was built with another schema: it must be rebuilt."""


def bucket_field(facet: FacetDef) -> str:
    """The keyword field holding a year facet's bucket keys (filters are term lookups)."""
    return f"bucket_{facet.name}"


def _bucket_facets() -> list[FacetDef]:
    return [f for f in facet_defs() if f.kind in ("year_histogram", "range")]


def bucket_keys(facet: FacetDef, value: int | None) -> list[str]:
    """The facet buckets a year falls in: one histogram key, or every range holding it."""
    if value is None:
        return []
    if facet.kind == "year_histogram":
        return [year_histogram_key(value // facet.interval * facet.interval)]
    keys = []
    for r in facet.ranges:
        lo, hi = r.get("from"), r.get("to")
        if (lo is None or value >= lo) and (hi is None or value < hi):
            keys.append(str(r["key"]))
    return keys


def schema_stamp() -> dict[str, Any]:
    """What an index on disk must have been built with to be read by this code."""
    buckets = {f.name: load_schema("facets.json")["facets"][i]
               for i, f in enumerate(facet_defs()) if f.kind in ("year_histogram", "range")}
    return {"version": SCHEMA_VERSION, "buckets": buckets}


def box_cells(box: BBox) -> list[str] | None:
    """The geo cells that can hold a point of the box, or None when there are too many."""
    spans = ([(box.west, box.east)] if box.west <= box.east
             else [(box.west, 180.0), (-180.0, box.east)])
    cells: list[str] = []
    for west, east in spans:
        south, west_cell = map(int, geo_cell(box.south, west).split(","))
        north, east_cell = map(int, geo_cell(box.north, east).split(","))
        cells += [f"{lat},{lon}" for lat in range(south, north + 1, GEO_CELL_DEGREES)
                  for lon in range(west_cell, east_cell + 1, GEO_CELL_DEGREES)]
    return cells if len(cells) <= _MAX_PREFILTER_CELLS else None


def build_analyzer(name: str) -> tantivy.TextAnalyzer:
    """A text analyzer by name: plain, English or Spanish; `_words` ones take split_words."""
    words = name.endswith("_words")
    tokenizer = tantivy.Tokenizer.whitespace() if words else tantivy.Tokenizer.regex(
        TOKEN_PATTERN)
    builder = tantivy.TextAnalyzerBuilder(tokenizer).filter(tantivy.Filter.lowercase())
    if name.startswith("memoria_en_folded"):
        # Folded first: the English copy of text in an unknown language (OTHER_LANG_FIELDS).
        return builder.filter(tantivy.Filter.ascii_fold()).filter(
            tantivy.Filter.stemmer("english")).build()
    # Stem before folding: the Snowball Spanish rules look at accented suffixes.
    if name.startswith("memoria_en"):
        builder = builder.filter(tantivy.Filter.stemmer("english"))
    elif name.startswith("memoria_es"):
        builder = builder.filter(tantivy.Filter.stemmer("spanish"))
    return builder.filter(tantivy.Filter.ascii_fold()).build()


_SPLITTER = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(TOKEN_PATTERN)).build()


def split_words(text: str) -> str:
    """The words TOKEN_PATTERN finds in a text, as they are, joined by single spaces.

    No word holds an ASCII character outside [A-Za-z0-9_'.:], so none spans a line break
    and lines are split apart: all-ASCII lines by ASCII_WORD, the others by the pattern
    itself. Tantivy's whitespace tokenizer then gives back exactly these words.
    """
    if text.isascii():
        return " ".join(ASCII_WORD.findall(text))
    words: list[str] = []
    for line in text.split("\n"):
        words += ASCII_WORD.findall(line) if line.isascii() else _SPLITTER.analyze(line)
    return " ".join(words)


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    for name in OTHER_TEXT_FIELDS:
        sb.add_text_field(name, tokenizer_name=SPLIT_ANALYZERS[name])
    for name, analyzer in TEXT_FIELDS.items():
        if name in SPLIT_ANALYZERS:
            sb.add_text_field(name, tokenizer_name=SPLIT_ANALYZERS[name])
        else:
            sb.add_text_field(name, stored=True, tokenizer_name=analyzer)
    for name in KEYWORD_FIELDS:
        sb.add_text_field(name, stored=name == "id", fast=True, tokenizer_name="raw")
    # Filter-only keywords: no positions or frequencies, no fast column.
    for name in [GEO_PREFILTER] + [bucket_field(f) for f in _bucket_facets()]:
        sb.add_text_field(name, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("suggest", tokenizer_name="raw")
    for name in ("year_begin", "year_end"):
        sb.add_integer_field(name, indexed=True, fast=True)
    for name in ("lat", "lon"):
        sb.add_float_field(name, indexed=True, fast=True)
    for name, _order in SORT_FIELDS.values():
        sb.add_text_field(name, fast=True, tokenizer_name="raw")
        sb.add_unsigned_field(name + PREFIX_SUFFIX, fast=True)
    sb.add_bytes_field("source", stored=True)
    return sb.build()


def sort_prefix(key: str) -> int:
    """The first 8 bytes of a sort key as a number: never out of order with the key itself
    (a smaller prefix means a smaller key), and sorting numbers costs a tenth of strings."""
    return int.from_bytes(key.encode()[:8].ljust(8, b"\0"), "big")


def sort_key(doc: Mapping[str, Any], sort: Sort) -> str:
    """A unique, byte-ordered key: (value, id), with missing values last in either order."""
    if sort in (Sort.YEAR_ASC, Sort.YEAR_DESC):
        year = doc.get("year_begin")
        value = f"{year + _YEAR_OFFSET:08d}" if year is not None else None
    else:
        title = doc.get("title_sort")
        value = title if title else None
    ascending = sort in (Sort.YEAR_ASC, Sort.TITLE_ASC)
    if value is None:
        # U+10FFFF sorts after every value ascending; the empty prefix before every value.
        value = "\U0010ffff" if ascending else ""
    else:
        value = "\x01" + value
    return f"{value}\x00{doc['id']}"


# Fields that hold where a record sits in its hierarchy: an ingest learns them in the parent,
# after the RDF store update, so index_fields leaves them (and the stored source) to
# finish_fields.
HIERARCHY_FIELDS = ("collection", "ancestors")


def index_fields(doc: Mapping[str, Any], hierarchy: bool = False) -> dict[str, Any]:
    """A search document's Tantivy field values, but the stored source (see finish_fields).

    Pure Python over the document alone, so ingest workers make it (with `hierarchy` False:
    the HIERARCHY_FIELDS are left as None placeholders, keeping their place in the dict).
    """
    # One dict handed to Rust in one call: twice as fast as a call per value (benchmarks).
    fields: dict[str, Any] = {}
    other_text = doc.get("other_text")
    if other_text:
        words = [split_words(other_text)]
        for name in OTHER_TEXT_FIELDS:
            fields[name] = words
    for part in ("title", "description"):
        for lang, texts in (doc.get(part) or {}).items():
            if not texts:
                continue
            if lang == "other":
                split = [split_words(t) for t in texts]
                fields[f"{part}_other_en"] = split
                fields[f"{part}_other_es"] = split
            else:
                fields[f"{part}_{lang}"] = list(texts)
    for name in KEYWORD_FIELDS:
        if not hierarchy and name in HIERARCHY_FIELDS:
            fields[name] = None
            continue
        value = doc.get(name)
        values = value if isinstance(value, list) else [value]
        strings = [str(v) for v in values if v is not None]
        if strings:
            fields[name] = strings
    if doc.get("suggest"):
        fields["suggest"] = list(doc["suggest"])
    for name in ("year_begin", "year_end"):
        if doc.get(name) is not None:
            fields[name] = [int(doc[name])]
    location = doc.get("location")
    if location:
        lat, lon = float(location["lat"]), float(location["lon"])
        fields["lat"], fields["lon"] = [lat], [lon]
        fields[GEO_PREFILTER] = [geo_cell(lat, lon)]
    for facet in _bucket_facets():
        year = doc.get(facet.field)
        keys = bucket_keys(facet, None if year is None else int(year))
        if keys:
            fields[bucket_field(facet)] = keys
    for sort, (name, _order) in SORT_FIELDS.items():
        key = sort_key(doc, sort)
        fields[name] = [key]
        fields[name + PREFIX_SUFFIX] = [sort_prefix(key)]
    return fields


def finish_fields(fields: dict[str, Any], doc: Mapping[str, Any]) -> dict[str, Any]:
    """index_fields completed from the placed document: its hierarchy and stored source.

    Changes and returns `fields`: the same values, in the same order, as index_fields(doc,
    hierarchy=True) plus the source.
    """
    for name in HIERARCHY_FIELDS:
        if name in fields and fields[name] is None:
            value = doc.get(name)
            values = value if isinstance(value, list) else [value]
            strings = [str(v) for v in values if v is not None]
            if strings:
                fields[name] = strings
            else:
                del fields[name]
    # other_text is only for matching and repeats other fields: not stored.
    source = {k: v for k, v in doc.items() if k != "other_text"}
    fields["source"] = [orjson.dumps(source)]
    return fields


class TantivyBackend:
    """Tantivy index in a directory; one writer at a time, searches from a reloaded reader."""

    name = "tantivy"
    # index() takes documents' index_fields made ahead (see IndexFeed.add).
    takes_prepared = True

    def __init__(self, path: str | Path, writer_heap: int = 256_000_000,
                 writer_threads: int = WRITER_THREADS) -> None:
        self.path = Path(path)
        self.writer_heap = writer_heap
        self.writer_threads = writer_threads
        self._lock = threading.Lock()
        self._schema = _schema()
        self._analyzers = {name: build_analyzer(name)
                           for name in (*ANALYZERS, *SPLIT_ANALYZERS.values())}
        self._index: tantivy.Index | None = None
        self._generation = 0
        self._refreshed_stamp: tuple[int, int] | None = None
        # Facet counts of a filter combination, per index state: a browse page's counts
        # (and the counts of a facet without its own choices) repeat across requests.
        # Counts of one pass each (a query makes one, plus one per facet with choices).
        self.facet_cache: FacetCache[dict[str, dict[str, int]]] = FacetCache(size=2048)
        self._facet_pool: ThreadPoolExecutor | None = None
        # Searches running now in this process (a server's threads): see _start_passes.
        self._in_flight = 0
        self._busy_lock = threading.Lock()

    # -- plumbing ------------------------------------------------------------------------

    @property
    def index_(self) -> tantivy.Index:
        """The open index, opened (or created) on first use."""
        if self._index is None:
            self.path.mkdir(parents=True, exist_ok=True)
            self._check_stamp()
            index = tantivy.Index(self._schema, path=str(self.path), reuse=True)
            if not (self.path / STAMP_FILE).exists():
                (self.path / STAMP_FILE).write_text(json.dumps(schema_stamp()),
                                                    encoding="utf-8")
            for name, analyzer in self._analyzers.items():
                index.register_tokenizer(name, analyzer)
            self._index = index
        return self._index

    def _check_stamp(self) -> None:
        """Refuse an existing index built with other fields than this code writes and reads."""
        if not (self.path / "meta.json").exists():
            return
        try:
            found = json.loads((self.path / STAMP_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            found = None
        if found != schema_stamp():
            version = found.get("version") if isinstance(found, dict) else 1
            raise IndexSchemaError(
                f"the search index in {self.path} was built by another version of Memoria "
                f"(index schema {version}, this version reads {SCHEMA_VERSION}); "
                "run `memoria index rebuild` to build it again from the records")

    def _searcher(self) -> tantivy.Searcher:
        return self.index_.searcher()

    def _to_tantivy(self, doc: Mapping[str, Any],
                    fields: dict[str, Any] | None = None) -> tantivy.Document:
        """A document's Tantivy form; `fields`: its index_fields, made ahead (by a worker)."""
        if fields is None:
            fields = index_fields(doc)
        return tantivy.Document.from_dict(finish_fields(fields, doc), self._schema)

    # -- writing -------------------------------------------------------------------------

    def index(self, documents: Iterable[Mapping[str, Any]],
              prepared: Mapping[str, dict[str, Any]] | None = None) -> int:
        """Add or replace documents (by id); return how many were indexed.

        `prepared` (an IndexFeed's batch): index_fields of some documents, by id, made ahead
        (ingest workers make them); they must not be used again (finish_fields completes them
        in place). A feed's batch is indexed by FEED_WRITER_THREADS.
        """
        threads = self.writer_threads if prepared is None else FEED_WRITER_THREADS
        prepared = dict(prepared or {})
        n = 0
        with self._lock:
            # Into an empty index only repeated ids need deleting; the per-document delete
            # terms otherwise dominate a full rebuild.
            empty = self._searcher().num_docs == 0
            seen: set[str] = set()
            writer = self.index_.writer(self.writer_heap, threads)
            try:
                for doc in documents:
                    rid = doc["id"]
                    if not empty or rid in seen:
                        writer.delete_documents_by_term("id", rid)
                    if empty:
                        seen.add(rid)
                    writer.add_document(self._to_tantivy(doc, prepared.pop(rid, None)))
                    n += 1
                writer.commit()
                writer.wait_merging_threads()
            except BaseException:
                writer.rollback()
                raise
        self.index_.reload()
        self._generation += 1
        return n

    def delete(self, ids: Iterable[str]) -> None:
        """Remove documents by id; unknown ids are ignored."""
        with self._lock:
            writer = self.index_.writer(self.writer_heap, self.writer_threads)
            for rid in ids:
                writer.delete_documents_by_term("id", rid)
            writer.commit()
            writer.wait_merging_threads()
        self.index_.reload()
        self._generation += 1

    def reset(self) -> None:
        """Drop every document and start from an empty index."""
        with self._lock:
            self._index = None
            if self.path.exists():
                shutil.rmtree(self.path)
            self._generation += 1
        _ = self.index_

    def refresh(self) -> None:
        """Make everything indexed so far visible to searches."""
        # Reader workers refresh every few seconds: forget cached facet counts only when
        # another process has committed since, or the cache would never warm up.
        stamp = self._meta_stamp()
        self.index_.reload()
        if stamp != self._refreshed_stamp:
            self._refreshed_stamp = stamp
            self._generation += 1

    def close(self) -> None:
        """Release the index files and the facet threads."""
        self._index = None
        if self._facet_pool is not None:
            self._facet_pool.shutdown(wait=True)
            self._facet_pool = None

    def _pool(self) -> ThreadPoolExecutor:
        # Tantivy releases the GIL while it aggregates, so the counting passes and the hits
        # of one query run on both cores side by side (made on first use, not at import).
        with self._lock:
            if self._facet_pool is None:
                self._facet_pool = ThreadPoolExecutor(FACET_THREADS,
                                                      thread_name_prefix="tantivy-facets")
            return self._facet_pool

    def state_token(self) -> tuple[Any, ...]:
        """A value that changes whenever searches may answer differently (for caches above)."""
        return (self._generation, self._meta_stamp())

    def health(self) -> Health:
        """Report whether the index opens and how many documents it holds."""
        try:
            n = self._searcher().num_docs
        except (OSError, ValueError) as exc:
            return Health(False, self.name, {"error": str(exc), "path": str(self.path)})
        return Health(True, self.name, {"documents": n, "path": str(self.path)})

    # -- queries -------------------------------------------------------------------------

    def _tokens(self, analyzer: str, text: str) -> list[str]:
        return list(self._analyzers[analyzer].analyze(text))

    def _match(self, field: str, analyzer: str, clause: str) -> tantivy.Query | None:
        tokens = self._tokens(analyzer, clause)
        if not tokens:
            return None
        if len(tokens) == 1:
            return tantivy.Query.term_query(self._schema, field, tokens[0])
        return tantivy.Query.phrase_query(self._schema, field, list[str | tuple[int, str]](tokens))

    def _text_query(self, text: str) -> list[tantivy.Query]:
        """Each clause must match in a title or description of its language or other_text."""
        must: list[tantivy.Query] = []
        for clause in query_clauses(text):
            if not _HAS_WORD.search(clause):
                continue
            fields = MATCH_FIELDS
            if han_only(clause):
                # Neither stemmer changes Han characters: the Spanish copies would match alike.
                fields = {f: a for f, a in fields.items() if f not in SPANISH_COPIES}
            subs = [tantivy.Query.boost_query(q, FIELD_BOOST.get(f, 1.0))
                    for f, a in fields.items() if (q := self._match(f, a, clause)) is not None]
            if subs:
                must.append(tantivy.Query.boolean_query([(tantivy.Occur.Should, q)
                                                         for q in subs]))
        return must

    def _range(self, field: str, lo: float | None, hi: float | None,
               hi_inclusive: bool = False) -> tantivy.Query:
        if field in ("lat", "lon"):
            return tantivy.Query.range_query(
                self._schema, field, tantivy.FieldType.Float,
                None if lo is None else float(lo), None if hi is None else float(hi),
                include_upper=hi_inclusive or hi is None)
        return tantivy.Query.range_query(
            self._schema, field, tantivy.FieldType.Integer,
            None if lo is None else int(lo), None if hi is None else int(hi),
            include_upper=hi_inclusive or hi is None)

    def _facet_filter(self, facet: FacetDef, keys: Iterable[str]) -> tantivy.Query:
        # Term postings intersect cheaply with whatever else matches (a set query or range
        # over a fast field would walk the whole index); constant score, like a filter.
        field, terms = _filter_terms(facet, keys)
        q = tantivy.Query.boolean_query([(tantivy.Occur.Should,
                                          tantivy.Query.term_query(self._schema, field, t))
                                         for t in terms])
        return tantivy.Query.const_score_query(q, 1.0)

    def _base_filters(self, query: SearchQuery) -> list[tantivy.Query]:
        out = []
        if query.year_from is not None:
            out.append(self._range("year_end", query.year_from, None))
        if query.year_to is not None:
            out.append(self._range("year_begin", None, query.year_to, hi_inclusive=True))
        if query.within is not None:
            out.append(tantivy.Query.term_query(self._schema, "ancestors", query.within))
        box = query.bbox
        if box is not None:
            cells = box_cells(box)
            if cells:
                out.append(tantivy.Query.const_score_query(tantivy.Query.boolean_query(
                    [(tantivy.Occur.Should, tantivy.Query.term_query(self._schema,
                                                                     GEO_PREFILTER, c))
                     for c in cells]), 1.0))
            out.append(self._range("lat", box.south, box.north, hi_inclusive=True))
            if box.west <= box.east:
                out.append(self._range("lon", box.west, box.east, hi_inclusive=True))
            else:
                out.append(tantivy.Query.boolean_query([
                    (tantivy.Occur.Should, self._range("lon", box.west, 180, True)),
                    (tantivy.Occur.Should, self._range("lon", -180, box.east, True)),
                ]))
        return out

    def _combine(self, must: list[tantivy.Query]) -> tantivy.Query:
        if not must:
            must = [tantivy.Query.all_query()]
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in must])

    def _facet_filters(self, query: SearchQuery, skip: str | None = None) -> list[tantivy.Query]:
        return [self._facet_filter(facet_by_name(name), keys)
                for name, keys in sorted(query.filters.items()) if keys and name != skip]

    def search(self, query: SearchQuery) -> SearchResult:
        """Run a query: text AND year span AND box, facet choices as a post filter."""
        with self._busy_lock:
            self._in_flight += 1
        try:
            return self._search(query)
        finally:
            with self._busy_lock:
                self._in_flight -= 1

    def _search(self, query: SearchQuery) -> SearchResult:
        searcher = self._searcher()
        text_must = self._text_query(query.text)
        base = text_must + self._base_filters(query)
        full = self._combine(base + self._facet_filters(query))
        total = _count(searcher.search(full, 1, count=True)) if query.size == 0 else None
        # The facet passes start first and count while this thread finds the hits.
        counting = self._start_passes(searcher, query, base) if query.facets else []
        hits: list[Hit] = []
        if query.size:
            hits, total = self._page(searcher, full, query)
            if query.highlight and query.text.strip():
                hits = self._highlight(searcher, full, query.text, hits)
        facets = self._facets(query, counting) if query.facets else []
        return SearchResult(hits=hits, total=total or 0, facets=facets)

    def _page(self, searcher: tantivy.Searcher, q: tantivy.Query, query: SearchQuery
              ) -> tuple[list[Hit], int]:
        offset = (query.page - 1) * query.size
        if query.sort is Sort.RELEVANCE:
            res = searcher.search(q, query.size, count=True, offset=offset)
            return [self._hit(searcher, addr, score) for score, addr in res.hits], _count(res)
        field, order = SORT_FIELDS[query.sort]
        prefix = field + PREFIX_SUFFIX
        asc = order == tantivy.Order.Asc
        if query.search_after is not None:
            offset = self._rank_after(searcher, q, field, order, str(query.search_after[0]))
        # Ordering by the string key costs per matching document: first find the prefix of
        # the last document of the page (numbers), then order by key only what can precede it.
        k = offset + query.size
        first = searcher.search(q, k, count=True, order_by_field=prefix, order=order)
        narrowed = q
        if len(first.hits) == k:
            last = int(first.hits[-1][0])
            narrowed = tantivy.Query.boolean_query([
                (tantivy.Occur.Must, q),
                (tantivy.Occur.Must, self._prefix_range(prefix, None if asc else last,
                                                        last if asc else None))])
        res = searcher.search(narrowed, query.size, count=False, order_by_field=field,
                              offset=offset, order=order)
        hits = [self._hit(searcher, addr, None, (key,)) for key, addr in res.hits]
        return hits, _count(first)

    def _prefix_range(self, field: str, lo: int | None, hi: int | None,
                      include_lower: bool = True, include_upper: bool = True
                      ) -> tantivy.Query:
        return tantivy.Query.range_query(self._schema, field, tantivy.FieldType.Unsigned, lo, hi,
                                         include_lower=include_lower or lo is None,
                                         include_upper=include_upper or hi is None)

    def _rank_after(self, searcher: tantivy.Searcher, q: tantivy.Query, field: str,
                    order: tantivy.Order, cursor: str) -> int:
        """How many matching documents come up to and including the cursor's key."""
        # Documents whose key prefix comes before the cursor's all precede it; among those
        # sharing its prefix (few), find its rank by bisection over offsets (Tantivy has no
        # range query on text; keys are unique, code-point order is the index's byte order).
        asc = order == tantivy.Order.Asc
        prefix, p = field + PREFIX_SUFFIX, sort_prefix(cursor)
        before = self._prefix_range(prefix, None if asc else p, p if asc else None,
                                    include_lower=asc, include_upper=not asc)
        same = self._prefix_range(prefix, p, p)

        def both(extra: tantivy.Query) -> tantivy.Query:
            return tantivy.Query.boolean_query([(tantivy.Occur.Must, q),
                                                (tantivy.Occur.Must, extra)])

        ahead = _count(searcher.search(both(before), 1, count=True))
        tied = both(same)
        lo, hi = 0, _count(searcher.search(tied, 1, count=True))
        while lo < hi:
            mid = (lo + hi) // 2
            res = searcher.search(tied, 1, count=False, order_by_field=field, offset=mid,
                                  order=order)
            key = str(res.hits[0][0])
            past = key > cursor if asc else key < cursor
            if past:
                hi = mid
            else:
                lo = mid + 1
        return ahead + lo

    def _hit(self, searcher: tantivy.Searcher, addr: tantivy.DocAddress, score: float | None,
             sort_values: tuple[Any, ...] | None = None) -> Hit:
        doc = searcher.doc(addr)
        # orjson wrote it; orjson reads it back to the same values at a fraction of json's cost.
        source = orjson.loads(bytes(doc.get_first("source") or b""))
        # The loaded document rides along as the address: highlighting reads its stored
        # text instead of loading (decompressing) it from the store a second time.
        return Hit(id=source["id"], score=score, sort_values=sort_values, source=source,
                   address=_Loaded(addr, doc))

    def _fields_with_words(self, searcher: tantivy.Searcher, text: str) -> set[str]:
        """The title and description fields where some document holds one of the words.

        A snippet marks only its generator's terms: the query's words in its field that some
        document holds. A field without any gets no marks in any hit, so its snippets are not
        made (most hits have titles in three languages, a query's words are in one or two).
        """
        out = set()
        for field in SNIPPET_FIELDS:
            if any(searcher.doc_freq(field, w) for w in self._query_terms(field, text)):
                out.add(field)
        return out

    def _query_terms(self, field: str, text: str) -> set[str]:
        """The terms a query's words become in a field (what its highlights mark)."""
        return {t for c in query_clauses(text) for t in self._tokens(MATCH_FIELDS[field], c)}

    def _python_snippet(self, field: str, source: Mapping[str, Any] | None,
                        terms: Mapping[str, set[str]]) -> str:
        """A PYTHON_SNIPPET_FIELDS field's marked fragment from the document's source."""
        texts = ((source or {}).get(PYTHON_SNIPPET_FIELDS[field]) or {}).get("other")
        if not texts or not terms.get(field):
            return ""
        words = self._analyzers[SPLIT_ANALYZERS[field]]
        fragment, spans = highlight_spans("\n".join(texts), terms[field], _SPLITTER.analyze,
                                          words.analyze)
        return _mark(fragment, byte_spans(fragment, spans))

    def _highlight(self, searcher: tantivy.Searcher, q: tantivy.Query, text: str,
                   hits: list[Hit]) -> list[Hit]:
        out = []
        gens: dict[str, tantivy.SnippetGenerator] = {}
        fields = self._fields_with_words(searcher, text) if hits else set()
        terms = {field: self._query_terms(field, text) for field in PYTHON_SNIPPET_FIELDS
                 if field in fields}
        for hit in hits:
            marks: dict[str, list[str]] = {}
            doc = hit.address.doc
            for field in SNIPPET_FIELDS:
                if field not in fields:
                    continue
                if field in PYTHON_SNIPPET_FIELDS:
                    fragment = self._python_snippet(field, hit.source, terms)
                elif doc.get_first(field):
                    if field not in gens:
                        gens[field] = tantivy.SnippetGenerator.create(
                            searcher, q, self._schema, field)
                    snippet = gens[field].snippet_from_doc(doc)
                    fragment = _mark(snippet.fragment(), snippet.highlighted())
                else:
                    continue
                if fragment:
                    marks.setdefault(field.split("_", 1)[0], []).append(fragment)
            out.append(Hit(hit.id, hit.score, marks, hit.sort_values, hit.source, hit.address))
        return out

    def _facets(self, query: SearchQuery, counting: list[Future[dict[str, dict[str, int]]]]
                ) -> list[FacetResult]:
        counts: dict[str, dict[str, int]] = {}
        for future in counting:
            counts.update(future.result())
        return [FacetResult(f.name, finish_buckets(f, counts.get(f.name, {}),
                                                   selected_keys(query, f.name)))
                for f in facet_defs()]

    def _start_passes(self, searcher: tantivy.Searcher, query: SearchQuery,
                      base: list[tantivy.Query]) -> list[Future[dict[str, dict[str, int]]]]:
        # Facets without a choice share aggregations over every filter; a facet with
        # choices is counted without its own, so its other values stay visible (OR). Each
        # pass intersects term postings, so it costs what it matches; one aggregation with a
        # filter bucket per choice cost more (each bucket's filter walks the whole index) and
        # lost values tied at the cut of high-cardinality facets. Each pass is cached on its
        # own: a facet's counts without its choice are the same for every choice of it (a
        # browse page going from one provider to the next counts providers once). The
        # facets without a choice are split in two passes so that a query with no choices
        # (the common case) still counts on both cores -- when it is the only search
        # running. Each pass matches the query again (most of a pass's cost at 100k), so
        # while other searches keep the cores busy one pass is less CPU for the same counts.
        state = self._state(searcher)
        plain = tuple(f for f in facet_defs() if not selected_keys(query, f.name))
        groups = (plain[0::2], plain[1::2]) if self._in_flight <= 1 else (plain,)
        passes: list[tuple[tuple[FacetDef, ...], str | None]] = [
            (group, None) for group in groups if group]
        passes += [((f,), f.name) for f in facet_defs() if selected_keys(query, f.name)]
        pool = self._pool()
        counting = []
        for facets, skip in passes:
            key = (_filter_key(query, skip), tuple(f.name for f in facets))

            def compute(facets: tuple[FacetDef, ...] = facets, skip: str | None = skip
                        ) -> dict[str, dict[str, int]]:
                q = self._combine(base + self._facet_filters(query, skip=skip))
                return self._aggregate(searcher, q, list(facets))

            counting.append(pool.submit(self.facet_cache.get, state, key, compute))
        return counting

    def commit_stamp(self) -> tuple[int, int, int] | None:
        """The last commit as every process sees it: meta.json's mtime, size and inode.

        Tantivy rewrites meta.json at each commit; None while there is none.
        """
        try:
            meta = (self.path / "meta.json").stat()
        except OSError:
            return None
        return (meta.st_mtime_ns, meta.st_size, meta.st_ino)

    def _meta_stamp(self) -> tuple[int, int]:
        stamp = self.commit_stamp()
        return (0, 0) if stamp is None else stamp[:2]

    def _state(self, searcher: tantivy.Searcher) -> tuple[Any, ...]:
        # Another process may commit: its meta.json changes, and so does what we count.
        return (self._generation, self._meta_stamp(), searcher.num_docs, searcher.num_segments)

    def _aggregate(self, searcher: tantivy.Searcher, q: tantivy.Query,
                   facets: list[FacetDef]) -> dict[str, dict[str, int]]:
        return _parse_aggs(searcher.aggregate(q, _agg_spec(facets)), facets)

    def count(self, query: SearchQuery | None = None) -> int:
        """How many documents match (all of them without a query)."""
        searcher = self._searcher()
        if query is None:
            return int(searcher.num_docs)
        return _count(searcher.search(self._filtered(query), 1, count=True))

    def _filtered(self, query: SearchQuery) -> tantivy.Query:
        text_must = self._text_query(query.text)
        return self._combine(text_must + self._base_filters(query) + self._facet_filters(query))

    def term_counts(self, query: SearchQuery, field: str, keys: Sequence[str] | None = None,
                    size: int = 100) -> dict[str, int]:
        """How many matching records have each value of a keyword field (only `keys` if given)."""
        check_countable(field, size)
        terms: dict[str, Any] = {"field": field, "size": size, "segment_size": size * 10}
        if keys is not None:
            if not keys:
                return {}
            terms.update(include=sorted(set(keys)), size=len(set(keys)))
        result = self._searcher().aggregate(self._filtered(query), {"t": {"terms": terms}})
        return {str(b["key"]): int(b["doc_count"]) for b in result["t"]["buckets"]
                if b["doc_count"]}

    def year_counts(self, query: SearchQuery, interval: int = 1) -> dict[int, int]:
        """How many matching records begin in each span of `interval` years (non-empty only)."""
        if not 1 <= interval <= 10_000:
            raise ValueError("interval must be between 1 and 10000 years")
        spec = {"h": {"histogram": {"field": "year_begin", "interval": interval}}}
        result = self._searcher().aggregate(self._filtered(query), spec)
        return {int(b["key"]): int(b["doc_count"]) for b in result["h"]["buckets"]
                if b["doc_count"]}

    def suggest(self, prefix: str, size: int = 10) -> list[tuple[str, int]]:
        """Title words starting with a prefix, most frequent first."""
        prefix = prefix.strip().lower()
        if not prefix:
            return []
        terms = self._searcher().terms_with_prefix("suggest", prefix)
        ranked = sorted(((str(t), int(c)) for t, c in terms), key=lambda tc: (-tc[1], tc[0]))
        return ranked[:size]

    def iter_ids(self) -> Iterator[str]:
        """Every indexed id (for rebuild checks)."""
        searcher = self._searcher()
        n = max(int(searcher.num_docs), 1)
        for _key, addr in searcher.search(tantivy.Query.all_query(), n, count=False,
                                          order_by_field="id", order=tantivy.Order.Asc).hits:
            yield str(searcher.doc(addr).get_first("id"))


class _Loaded(NamedTuple):
    """A hit's document address with the document already read from the store."""

    addr: tantivy.DocAddress
    doc: tantivy.Document


def _agg_spec(facets: list[FacetDef]) -> dict[str, Any]:
    """Tantivy aggregation requests counting the given facets."""
    spec: dict[str, Any] = {}
    for f in facets:
        if f.kind in ("terms", "geo"):
            # Ask for plenty so ties at the cut are settled the same way in both backends.
            size = max(f.size * 5, 100)
            spec[f.name] = {"terms": {"field": f.field, "size": size, "segment_size": size * 10}}
        elif f.kind == "year_histogram":
            spec[f.name] = {"histogram": {"field": f.field, "interval": f.interval}}
        else:
            spec[f.name] = {"range": {"field": f.field, "ranges": [
                {k: r[k] for k in ("key", "from", "to") if k in r} for r in f.ranges]}}
    return spec


def _parse_aggs(result: Mapping[str, Any], facets: list[FacetDef]) -> dict[str, dict[str, int]]:
    """Bucket counts by facet name from an aggregation result."""
    out: dict[str, dict[str, int]] = {}
    for f in facets:
        buckets = result.get(f.name, {}).get("buckets", [])
        if isinstance(buckets, dict):
            buckets = [{"key": k, **v} for k, v in buckets.items()]
        if f.kind == "year_histogram":
            out[f.name] = {year_histogram_key(b["key"]): b["doc_count"] for b in buckets}
        else:
            out[f.name] = {str(b["key"]): b["doc_count"] for b in buckets}
    return out


def _filter_terms(facet: FacetDef, keys: Iterable[str]) -> tuple[str, list[str]]:
    """The keyword field and terms that match a facet's choices."""
    if facet.kind in ("terms", "geo"):
        return facet.field, sorted(set(keys))
    # Validated bucket keys, in the form they are indexed ("01300" is bucket "1300").
    normal = {year_histogram_key(float(facet.range_bounds(k)[0] or 0))
              if facet.kind == "year_histogram" else k for k in keys}
    return bucket_field(facet), sorted(normal)


def _filter_key(query: SearchQuery, skip: str | None) -> tuple[Any, ...]:
    """Everything that decides which documents a facet pass counts."""
    filters = tuple(sorted((name, tuple(sorted(set(keys))))
                           for name, keys in query.filters.items() if keys and name != skip))
    return (tuple(query_clauses(query.text)), query.year_from, query.year_to, query.bbox,
            query.within, filters)


def _count(result: tantivy.SearchResult) -> int:
    # The bundled type stubs lack `count`, which search(count=True) fills in.
    return int(getattr(result, "count", 0) or 0)


def _mark(fragment: str, ranges: Sequence[Any]) -> str:
    if not ranges:
        return ""
    # Tantivy gives Range objects; plain (start, end) pairs are taken too.
    spans = sorted((r.start, r.end) for r in ranges) if hasattr(ranges[0], "start") \
        else sorted((int(r[0]), int(r[1])) for r in ranges)
    # Han characters are one token each: join touching marks into one, as Lucene does.
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1][1] = end
        else:
            merged.append([start, end])
    escape = html.escape
    if fragment.isascii():
        # Byte offsets are character offsets: no round trip through UTF-8.
        out, pos = [], 0
        for start, end in merged:
            out.append(escape(fragment[pos:start]))
            out.append(f"<mark>{escape(fragment[start:end])}</mark>")
            pos = end
        out.append(escape(fragment[pos:]))
        return "".join(out)
    # Tantivy reports byte offsets into the UTF-8 fragment.
    raw = fragment.encode()
    out, pos = [], 0
    for start, end in merged:
        out.append(escape(raw[pos:start].decode(errors="ignore")))
        out.append(f"<mark>{escape(raw[start:end].decode(errors='ignore'))}</mark>")
        pos = end
    out.append(escape(raw[pos:].decode(errors="ignore")))
    return "".join(out)


__all__ = ["TantivyBackend", "build_analyzer", "sort_key", "split_words"]
