"""The distributed search backend: Elasticsearch 8.x through the official client."""

from __future__ import annotations

import hashlib
import json
import math
import queue
import re
import threading
import time
import zlib
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError
from elasticsearch import ConnectionError as ESConnectionError
from elasticsearch.helpers import streaming_bulk
from elasticsearch.serializer import OrjsonSerializer

from search.backend import (
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
from search.document import LANGS, load_schema

# Where a clause may match: titles and descriptions with their language's analysis (those in
# other or unknown languages, `.other`, English-stemmed with a Spanish-stemmed `.other.es`),
# and the text without a language of its own stemmed both ways (schemas/search/README.md).
OTHER_TEXT_FIELDS = ("other_text", "other_text.es")
# The fields highlights come from (each stored text once: `.other`, not `.other.es`).
HIGHLIGHT_FIELDS = tuple(f"{part}.{lang}" for part in ("title", "description") for lang in LANGS)
MATCH_FIELDS = (*(f for field in HIGHLIGHT_FIELDS
                  for f in ((field, f"{field}.es") if field.endswith(".other") else (field,))),
                *OTHER_TEXT_FIELDS)
FIELD_BOOST = {f: 3.0 for f in MATCH_FIELDS if f.startswith("title.")}
# The Spanish-stemmed copies of text whose language is unknown: a clause of Han characters
# only skips them (neither stemmer changes Han characters, the English ones match alike).
SPANISH_COPIES = frozenset({"other_text.es", "title.other.es", "description.other.es"})
SORTS: dict[Sort, list[dict[str, Any]]] = {
    Sort.YEAR_ASC: [{"year_begin": {"order": "asc", "missing": "_last"}}, {"id": "asc"}],
    Sort.YEAR_DESC: [{"year_begin": {"order": "desc", "missing": "_last"}}, {"id": "desc"}],
    Sort.TITLE_ASC: [{"title_sort": {"order": "asc", "missing": "_last"}}, {"id": "asc"}],
    Sort.TITLE_DESC: [{"title_sort": {"order": "desc", "missing": "_last"}}, {"id": "desc"}],
}
_HAS_WORD = re.compile(r"[^\W_]")
# Measured on 2 cores (docs/benchmarks.md): ~1,000 documents (~2 MB) a request, two requests
# in flight, keep the server's write threads busy while Python serializes the next chunk.
BULK_CHUNK_DOCS = 1000
BULK_CHUNK_BYTES = 10 * 1024 * 1024
BULK_THREADS = 2
# While a rebuild loads: no refreshes, no replicas, no fsync per request, no Lucene commit
# every 512 MB of translog (docs/benchmarks.md, "Search"). Merges already run in one thread on
# two cores (the scheduler's default is half the processors).
# After loading, the index is merged to SEGMENTS segments. Two would let the server count a
# request's facets in two threads, but the merge left them at 14 % and 86 % of a million
# documents: one thread still did most of the work (docs/benchmarks.md).
FORCE_MERGE_TIMEOUT = 3600.0
SEGMENTS = 1
# Highlight fragments a field (the Tantivy backend gives one).
FRAGMENTS = 1
# A search's requests go in one msearch, which the server runs side by side on its search
# threads: the hits (and their highlighting) on one core while the facets are counted on the
# other, and the facets without a choice in COUNT_PASSES requests (docs/benchmarks.md).
# SHARED_IN_HITS: whether those are counted in the hits request instead; None: only for
# words with a choice (see _shared_in_hits).
SHARED_IN_HITS: bool | None = None
COUNT_PASSES = 2
# The chosen facets are counted in (at most) two requests, not one each: the facets with several
# terms chosen in one, the others in the other (docs/benchmarks.md, 2026-11-22, session 7).
# Each request keeps the records that meet every choice outside its group and all but at most
# one inside it, and counts each of its facets in a filter aggregation of the group's other
# choices. Every request matches the words again; a request per facet did so five times for
# (a). Only for searches with words. CHOSEN_GROUPED = False: one request per chosen facet.
CHOSEN_GROUPED = True
CHOSEN_PREFIX = "chosen-"  # a group's filter aggregations, named apart from the facets'
# What counting a facet costs the server a matched record, against a single-valued keyword
# (1.0): measured over the 224,303 records of one word at 1M (docs/benchmarks.md,
# 2026-11-22). The count requests get equal shares of it, so neither waits for the other.
COUNT_COST = {"subject": 2.1, "creator": 1.6, "region": 1.4}
HISTOGRAM_COST = 1.7
BULK_LOAD_SETTINGS = {"refresh_interval": "-1", "number_of_replicas": 0,
                      "translog.durability": "async", "translog.flush_threshold_size": "2gb"}


def schema_stamp() -> str:
    """A digest of es-index.json: an index built from other settings or mappings differs."""
    body = json.dumps(load_schema("es-index.json"), sort_keys=True).encode()
    return hashlib.sha256(body).hexdigest()[:16]


class SearchIndexError(RuntimeError):
    """Documents the server refused, with the first reasons."""


def _regex_escape(text: str) -> str:
    # Lucene regexp: a backslash makes any character literal.
    return "".join(c if c.isalnum() else "\\" + c for c in text)


class ElasticsearchBackend:
    """Writes and reads through an alias, so a rebuild into a new index swaps atomically."""

    name = "elasticsearch"

    def __init__(self, url: str = "http://127.0.0.1:9200", alias: str = "memoria",
                 client: Elasticsearch | None = None, request_timeout: float = 30.0,
                 refresh_on_write: bool = False) -> None:
        self.url = url
        self.alias = alias
        self.refresh_on_write = refresh_on_write
        self._client = client
        self._timeout = request_timeout
        self._ready = False
        self.shared_in_hits = SHARED_IN_HITS
        self.count_passes = COUNT_PASSES
        self.chosen_grouped = CHOSEN_GROUPED
        self.segments = SEGMENTS
        self.fragments = FRAGMENTS

    # -- plumbing ------------------------------------------------------------------------

    @property
    def client(self) -> Elasticsearch:
        """The client, created on first use (nothing connects at import or construction)."""
        if self._client is None:
            # orjson: Python serialises every bulk body; the json module took half its CPU.
            self._client = Elasticsearch(self.url, request_timeout=self._timeout,
                                         retry_on_timeout=True, max_retries=3,
                                         serializer=OrjsonSerializer())
        return self._client

    def _new_index(self, bulk_load: bool = False) -> str:
        name = f"{self.alias}-{time.strftime('%Y%m%d%H%M%S')}-{time.monotonic_ns() % 10**6:06d}"
        body = load_schema("es-index.json")
        settings = dict(body["settings"])
        if bulk_load:
            # Nobody reads an index being rebuilt: no refreshes, no replicas, no fsync per
            # request; _serve() restores the schema's values before the alias swap.
            settings.update(BULK_LOAD_SETTINGS)
        mappings = {**body["mappings"], "_meta": {"memoria_schema": schema_stamp()}}
        self.client.indices.create(index=name, settings=settings, mappings=mappings)
        return name

    def index_stamps(self) -> dict[str, str | None]:
        """The schema stamp each index behind the alias was built with (None: before stamps)."""
        out: dict[str, str | None] = {}
        for index, body in self.client.indices.get_mapping(index=self.alias).body.items():
            out[index] = (body["mappings"].get("_meta") or {}).get("memoria_schema")
        return out

    def _serve(self, index: str) -> None:
        settings = load_schema("es-index.json")["settings"]
        # One segment: a bulk load leaves dozens, and every query pays per segment (facet
        # counts at 200,000 documents took half the CPU after this; docs/benchmarks.md).
        self.client.options(request_timeout=FORCE_MERGE_TIMEOUT).indices.forcemerge(
            index=index, max_num_segments=self.segments)
        self.client.indices.put_settings(index=index, settings={
            "refresh_interval": settings.get("refresh_interval"),
            "translog.durability": "request", "translog.flush_threshold_size": None,
            "number_of_replicas": settings.get("number_of_replicas", 1)})
        self.client.indices.refresh(index=index)

    def _current(self) -> list[str]:
        try:
            return sorted(self.client.indices.get_alias(name=self.alias).body)
        except NotFoundError:
            return []

    def ensure_index(self) -> None:
        """Create the first index behind the alias if there is none."""
        if self._ready:
            return
        if not self._current():
            self._swap(self._new_index())
        self._ready = True

    def _swap(self, new: str) -> None:
        old = self._current()
        actions: list[dict[str, Any]] = [{"remove": {"index": i, "alias": self.alias}}
                                         for i in old]
        actions.append({"add": {"index": new, "alias": self.alias, "is_write_index": True}})
        self.client.indices.update_aliases(actions=actions)
        self._ready = True
        for index in old:
            self.client.indices.delete(index=index, ignore_unavailable=True)

    # -- writing -------------------------------------------------------------------------

    def _bulk(self, index: str, actions: Iterable[dict[str, Any]]) -> int:
        n = 0
        errors: list[Any] = []
        # Writes through the alias must never auto-create a concrete index of that name.
        extra: dict[str, Any] = {"require_alias": True} if index == self.alias else {}
        # streaming_bulk retries the items the server rejected with 429, backing off.
        for ok, item in streaming_bulk(self.client, actions, index=index,
                                       chunk_size=BULK_CHUNK_DOCS,
                                       max_chunk_bytes=BULK_CHUNK_BYTES, max_retries=6,
                                       initial_backoff=1, max_backoff=30,
                                       raise_on_error=False, raise_on_exception=True,
                                       **extra):
            if ok:
                n += 1
            else:
                op = next(iter(item.values()))
                if op.get("status") != 404:
                    errors.append(item)
        if errors:
            raise SearchIndexError(f"{len(errors)} documents refused, first: {errors[:3]}")
        return n

    def _parallel_bulk(self, index: str, actions: Iterable[dict[str, Any]]) -> int:
        """_bulk in BULK_THREADS threads; one id always goes to the same thread, in order."""
        lanes: list[queue.Queue[dict[str, Any] | None]] = [
            queue.Queue(maxsize=BULK_CHUNK_DOCS * 2) for _ in range(BULK_THREADS)]
        failed = threading.Event()

        def drain(lane: queue.Queue[dict[str, Any] | None]) -> Iterator[dict[str, Any]]:
            while (action := lane.get()) is not None:
                yield action

        def work(lane: queue.Queue[dict[str, Any] | None]) -> int:
            try:
                return self._bulk(index, drain(lane))
            except BaseException:
                failed.set()
                raise

        with ThreadPoolExecutor(BULK_THREADS, thread_name_prefix="es-bulk") as pool:
            futures = [pool.submit(work, lane) for lane in lanes]
            try:
                for action in actions:
                    lane = lanes[zlib.crc32(str(action["_id"]).encode()) % BULK_THREADS]
                    while not failed.is_set():
                        try:
                            lane.put(action, timeout=0.5)
                            break
                        except queue.Full:
                            continue
                    if failed.is_set():
                        break
            finally:
                for lane in lanes:
                    # A failed worker stops reading: make room for the end marker.
                    while True:
                        try:
                            lane.put(None, timeout=0.5)
                            break
                        except queue.Full:
                            if failed.is_set():
                                _empty(lane)
            return sum(f.result() for f in futures)

    def index(self, documents: Iterable[Mapping[str, Any]]) -> int:
        """Add or replace documents (by id); return how many were indexed."""
        self.ensure_index()
        actions = ({"_op_type": "index", "_id": d["id"], "_source": dict(d)} for d in documents)
        n = self._bulk(self.alias, actions)
        if self.refresh_on_write:
            self.refresh()
        return n

    def rebuild(self, documents: Iterable[Mapping[str, Any]]) -> int:
        """Index everything into a fresh index, then point the alias at it in one step."""
        new = self._new_index(bulk_load=True)
        try:
            n = self._parallel_bulk(new, ({"_op_type": "index", "_id": d["id"], "_source": d}
                                          for d in documents))
            self._serve(new)
        except BaseException:
            self.client.indices.delete(index=new, ignore_unavailable=True)
            raise
        self._swap(new)
        return n

    def delete(self, ids: Iterable[str]) -> None:
        """Remove documents by id; unknown ids are ignored."""
        self.ensure_index()
        self._bulk(self.alias, ({"_op_type": "delete", "_id": i} for i in ids))
        if self.refresh_on_write:
            self.refresh()

    def reset(self) -> None:
        """Drop every document: a fresh empty index behind the alias."""
        self._swap(self._new_index())

    def refresh(self) -> None:
        """Make everything indexed so far visible to searches."""
        self.client.indices.refresh(index=self.alias)

    def close(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def health(self) -> Health:
        """Report cluster health and the indices behind the alias."""
        try:
            health = self.client.cluster.health(timeout="5s").body
            # GET / lives in the rest-root module, which the integ-test zip lacks.
            nodes = self.client.nodes.info(node_id="_local", metric="_none").body["nodes"]
        except (ESConnectionError, ApiError) as exc:
            return Health(False, self.name, {"url": self.url, "error": str(exc)})
        ok = health.get("status") in ("green", "yellow")
        return Health(ok, self.name, {"url": self.url, "status": health.get("status"),
                                      "versions": sorted({n["version"] for n in nodes.values()}),
                                      "indices": self._current()})

    # -- queries -------------------------------------------------------------------------

    def _text_query(self, text: str) -> list[dict[str, Any]]:
        """Each clause must match in a title or description of its language or other_text."""
        must: list[dict[str, Any]] = []
        for clause in query_clauses(text):
            if not _HAS_WORD.search(clause):
                continue
            # match_phrase per field: one token is a term query, several must be adjacent,
            # exactly what the Tantivy backend builds from the same analyzers.
            fields = [f for f in MATCH_FIELDS
                      if not (f in SPANISH_COPIES and han_only(clause))]
            must.append({"bool": {"should": [
                {"match_phrase": {f: {"query": clause, "zero_terms_query": "none",
                                      "boost": FIELD_BOOST.get(f, 1.0)}}}
                for f in fields], "minimum_should_match": 1}})
        return must

    def _facet_filter(self, facet: FacetDef, keys: Iterable[str]) -> dict[str, Any]:
        keys = sorted(set(keys))
        if facet.kind in ("terms", "geo"):
            return {"terms": {facet.field: keys}}
        ranges = []
        for key in keys:
            lo, hi = facet.range_bounds(key)
            bounds = {k: v for k, v in (("gte", lo), ("lt", hi)) if v is not None}
            ranges.append({"range": {facet.field: bounds}})
        return {"bool": {"should": ranges, "minimum_should_match": 1}}

    def _facet_filters(self, query: SearchQuery, skip: Collection[str] = ()
                       ) -> list[dict[str, Any]]:
        return [self._facet_filter(facet_by_name(name), keys)
                for name, keys in sorted(query.filters.items()) if keys and name not in skip]

    def _base_filters(self, query: SearchQuery) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if query.year_from is not None:
            out.append({"range": {"year_end": {"gte": query.year_from}}})
        if query.year_to is not None:
            out.append({"range": {"year_begin": {"lte": query.year_to}}})
        if query.within is not None:
            out.append({"term": {"ancestors": query.within}})
        if query.bbox is not None:
            b = query.bbox
            out.append({"geo_bounding_box": {"location": {
                "top_left": {"lat": b.north, "lon": b.west},
                "bottom_right": {"lat": b.south, "lon": b.east}}}})
        return out

    def _facet_agg(self, f: FacetDef) -> dict[str, Any]:
        if f.kind in ("terms", "geo"):
            return {"terms": {"field": f.field, "size": max(f.size * 5, 100),
                              "order": [{"_count": "desc"}, {"_key": "asc"}]}}
        if f.kind == "year_histogram":
            return {"histogram": {"field": f.field, "interval": f.interval, "min_doc_count": 1}}
        return {"range": {"field": f.field, "ranges": [
            {k: r[k] for k in ("key", "from", "to") if k in r} for r in f.ranges]}}

    def _hits_body(self, query: SearchQuery, track_total: bool) -> dict[str, Any]:
        must = self._text_query(query.text)
        # The facet choices filter the hits directly (filter context, cached bitsets); the
        # counts that must ignore them come from the separate aggregation request.
        body: dict[str, Any] = {
            "query": {"bool": {"must": must or [{"match_all": {}}],
                               "filter": self._base_filters(query) + self._facet_filters(query)}},
            "track_total_hits": track_total,
            "size": query.size,
            "_source": True,
        }
        if query.sort is not Sort.RELEVANCE:
            body["sort"] = SORTS[query.sort]
        if query.search_after is not None:
            body["search_after"] = list(query.search_after)
        else:
            body["from"] = (query.page - 1) * query.size
        if query.highlight and query.text.strip():
            body["highlight"] = self._highlight(query)
        return body

    def _shared(self, query: SearchQuery) -> tuple[list[FacetDef], dict[str, str]]:
        """The facets without a choice (counted under every choice) that are aggregated, and
        those summed from another one's buckets instead ({facet: the facet it sums})."""
        chosen = {name for name, keys in query.filters.items() if keys}
        shared = [f for f in facet_defs() if f.name not in chosen]
        derived = _derivations(shared)
        return [f for f in shared if f.name not in derived], derived

    def _shared_aggs(self, query: SearchQuery) -> dict[str, Any]:
        """Aggregations of the facets without a choice (counted under every choice)."""
        return {f.name: self._facet_agg(f) for f in self._shared(query)[0]}

    def _shared_groups(self, query: SearchQuery) -> list[dict[str, Any]]:
        """The shared aggregations in `count_passes` requests of about equal cost (costliest
        first, each into the cheapest request so far)."""
        shared = self._shared(query)[0]
        groups: list[dict[str, Any]] = [{} for _ in range(self.count_passes)]
        load = [0.0] * self.count_passes
        for f in sorted(shared, key=_count_cost, reverse=True):
            i = load.index(min(load))
            groups[i][f.name] = self._facet_agg(f)
            load[i] += _count_cost(f)
        return [g for g in groups if g] or [{}]

    def _highlight(self, query: SearchQuery) -> dict[str, Any]:
        """Marks in titles and descriptions, each field from its own clauses only."""
        # The whole query holds a phrase per clause for every text field; the highlighter
        # would rewrite all of them for each hit and field. Each field's own phrases mark
        # the same words (only fields that match get marks, as before) at a third the cost.
        # One fragment of up to 150 characters a field, as the Tantivy backend gives: a
        # second one cost a fifth of the highlighting.
        fields: dict[str, Any] = {}
        for field in HIGHLIGHT_FIELDS:
            phrases = [{"match_phrase": {field: {"query": c, "zero_terms_query": "none"}}}
                       for c in query_clauses(query.text) if _HAS_WORD.search(c)]
            fields[field] = {"number_of_fragments": self.fragments, "fragment_size": 150,
                             "highlight_query": {"bool": {"should": phrases}}}
        return {"pre_tags": ["<mark>"], "post_tags": ["</mark>"], "encoder": "html",
                "fields": fields}

    def _count_bodies(self, query: SearchQuery, shared_in_hits: bool = False
                      ) -> list[dict[str, Any]]:
        """Size-0 requests that count the facets: the first one also counts the exact total
        (unless the hits request counts the shared facets and the total itself)."""
        # Post-filter semantics: each facet is counted under every choice but its own. Every
        # facet without a choice shares one request whose query holds all choices (its total
        # is the result's total); the chosen facets are counted in groups (_chosen_groups),
        # each request under every choice outside its group, so Lucene intersects them with
        # the words from the rarest side; only the group's own choices are tested in filter
        # aggregations. No scores: the shard request cache keeps each answer until the next
        # refresh.
        must = self._text_query(query.text)
        base = must + self._base_filters(query)
        chosen = {name for name, keys in query.filters.items() if keys}
        bodies = [] if shared_in_hits else [{
            "query": {"bool": {"filter": base + self._facet_filters(query)}},
            "size": 0, "track_total_hits": i == 0, "aggs": aggs}
            for i, aggs in enumerate(self._shared_groups(query))]
        # Grouped only with words: what a group saves is matching them again (measured on
        # keyword searches); a browse's choices alone are cheaper intersected one by one.
        groups = (_chosen_groups(query) if self.chosen_grouped and must
                  else [[f] for f in facet_defs() if f.name in chosen])
        for group in groups:
            bodies.append(self._chosen_body(query, base, group))
        return bodies

    def _chosen_body(self, query: SearchQuery, base: list[dict[str, Any]],
                     group: Sequence[FacetDef]) -> dict[str, Any]:
        """A size-0 request counting each facet of a group of chosen facets under every choice
        but its own."""
        outside = self._facet_filters(query, skip={f.name for f in group})
        if len(group) == 1:
            f = group[0]
            return {"query": {"bool": {"filter": base + outside}}, "size": 0,
                    "track_total_hits": False, "aggs": {f.name: self._facet_agg(f)}}
        # A record counted in a facet's buckets meets every other choice: the query keeps the
        # records that miss at most one choice of the group, and each facet's filter
        # aggregation keeps those among them that meet the group's other choices.
        own = {f.name: self._facet_filter(f, query.filters[f.name]) for f in group}
        near = {"bool": {"should": list(own.values()), "minimum_should_match": len(group) - 1}}
        aggs = {CHOSEN_PREFIX + f.name: {
            "filter": {"bool": {"filter": [own[g.name] for g in group if g is not f]}},
            "aggs": {f.name: self._facet_agg(f)}} for f in group}
        return {"query": {"bool": {"filter": [*base, *outside, near]}}, "size": 0,
                "track_total_hits": False, "aggs": aggs}

    def _msearch(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        searches: list[dict[str, Any]] = []
        for body in bodies:
            searches += [{"request_cache": True} if body.get("size") == 0 else {}, body]
        responses = self.client.msearch(index=self.alias, searches=searches).body["responses"]
        out = []
        for body, res in zip(bodies, responses, strict=True):
            if "error" in res:
                # Re-run alone so the caller gets the client's usual ApiError (a 400 stays one).
                res = self.client.search(index=self.alias, **body).body
            out.append(res)
        return out

    def _shared_in_hits(self, query: SearchQuery) -> bool:
        """Whether the hits request also counts the facets without a choice (see search)."""
        together = self.shared_in_hits
        if together is None:
            # With words and a choice, the chosen facets' own requests (each matching the
            # words again) keep the other core busy: counting the rest with the hits saves
            # matching the words once more. Otherwise the hits go alone, beside the counts.
            together = any(query.filters.values())
        return bool(together and query.facets and query.size and self._text_query(query.text))

    def search(self, query: SearchQuery) -> SearchResult:
        """Run a query: text AND year span AND box AND facet choices; facets without their own."""
        self.ensure_index()
        bodies = []
        # With words, the hits request also counts the facets without a choice (same query:
        # words and every choice) and the total: the words are matched once less. A browse
        # without words keeps them in a separate size-0 request, which the request cache
        # answers when the same choices come back (a browse page going back and forth).
        shared_in_hits = self._shared_in_hits(query)
        if query.size or not query.facets:
            body = self._hits_body(query, track_total=not query.facets or shared_in_hits)
            if shared_in_hits and (shared := self._shared_aggs(query)):
                body["aggs"] = shared
            bodies.append(body)
        n_hits = len(bodies)
        if query.facets:
            bodies += self._count_bodies(query, shared_in_hits)
        responses = self._msearch(bodies)
        hits = []
        for h in responses[0]["hits"]["hits"] if query.size or not query.facets else ():
            marks: dict[str, list[str]] = {}
            for field, fragments in (h.get("highlight") or {}).items():
                marks.setdefault(field.split(".", 1)[0], []).extend(fragments)
            sort_values = tuple(h["sort"]) if "sort" in h else None
            score = h.get("_score")
            hits.append(Hit(id=h["_id"], score=score, highlights=marks,
                            sort_values=sort_values, source=h["_source"]))
        facets = []
        if query.facets:
            counted = responses[n_hits - 1:] if shared_in_hits else responses[n_hits:]
            total = int(counted[0]["hits"]["total"]["value"])
            aggregations = {}
            for res in counted:
                for k, v in (res.get("aggregations") or {}).items():
                    if k.startswith(CHOSEN_PREFIX):
                        k = k[len(CHOSEN_PREFIX):]
                        v = v[k]
                    aggregations[k] = v
            for name, base in self._shared(query)[1].items():
                aggregations[name] = {"buckets": _sum_buckets(
                    facet_by_name(name), facet_by_name(base), aggregations[base]["buckets"])}
            for f in facet_defs():
                buckets = aggregations[f.name]["buckets"]
                if f.kind == "year_histogram":
                    counts = {year_histogram_key(b["key"]): b["doc_count"] for b in buckets}
                else:
                    counts = {str(b["key"]): b["doc_count"] for b in buckets}
                facets.append(FacetResult(f.name, finish_buckets(
                    f, counts, selected_keys(query, f.name))))
        else:
            total = int(responses[0]["hits"]["total"]["value"])
        return SearchResult(hits=hits, total=total, facets=facets)

    def count(self, query: SearchQuery | None = None) -> int:
        """How many documents match (all of them without a query)."""
        self.ensure_index()
        if query is None:
            return int(self.client.count(index=self.alias).body["count"])
        return int(self.client.count(index=self.alias, query=self._filtered(query)).body["count"])

    def _filtered(self, query: SearchQuery) -> dict[str, Any]:
        must = self._text_query(query.text)
        return {"bool": {"must": must or [{"match_all": {}}],
                         "filter": self._base_filters(query) + self._facet_filters(query)}}

    def term_counts(self, query: SearchQuery, field: str, keys: Sequence[str] | None = None,
                    size: int = 100) -> dict[str, int]:
        """How many matching records have each value of a keyword field (only `keys` if given)."""
        check_countable(field, size)
        terms: dict[str, Any] = {"field": field, "size": size,
                                 "order": [{"_count": "desc"}, {"_key": "asc"}]}
        if keys is not None:
            if not keys:
                return {}
            terms.update(include=sorted(set(keys)), size=len(set(keys)))
        self.ensure_index()
        res = self.client.search(index=self.alias, size=0, query=self._filtered(query),
                                 aggs={"t": {"terms": terms}}).body
        return {str(b["key"]): int(b["doc_count"]) for b in res["aggregations"]["t"]["buckets"]}

    def year_counts(self, query: SearchQuery, interval: int = 1) -> dict[int, int]:
        """How many matching records begin in each span of `interval` years (non-empty only)."""
        if not 1 <= interval <= 10_000:
            raise ValueError("interval must be between 1 and 10000 years")
        self.ensure_index()
        res = self.client.search(index=self.alias, size=0, query=self._filtered(query), aggs={
            "h": {"histogram": {"field": "year_begin", "interval": interval,
                                "min_doc_count": 1}}}).body
        return {int(b["key"]): int(b["doc_count"])
                for b in res["aggregations"]["h"]["buckets"] if b["doc_count"]}

    def suggest(self, prefix: str, size: int = 10) -> list[tuple[str, int]]:
        """Title words starting with a prefix, most frequent first."""
        prefix = prefix.strip().lower()
        if not prefix:
            return []
        self.ensure_index()
        res = self.client.search(index=self.alias, size=0, aggs={"s": {"terms": {
            "field": "suggest", "include": _regex_escape(prefix) + ".*", "size": size,
            "order": [{"_count": "desc"}, {"_key": "asc"}]}}}).body
        return [(b["key"], int(b["doc_count"])) for b in res["aggregations"]["s"]["buckets"]]


def _chosen_groups(query: SearchQuery) -> list[list[FacetDef]]:
    """The chosen facets in the requests that count them: terms facets with several values
    chosen in one, the rest in the other (either split in two if it would hold them all)."""
    chosen = [f for f in facet_defs() if query.filters.get(f.name)]
    several = [f for f in chosen
               if f.kind in ("terms", "geo") and len(set(query.filters[f.name])) > 1]
    groups = [several, [f for f in chosen if f not in several]]
    if not (groups[0] and groups[1]):
        half = (len(chosen) + 1) // 2
        groups = [chosen[:half], chosen[half:]]
    return [g for g in groups if g]


def _count_cost(facet: FacetDef) -> float:
    """COUNT_COST of a facet (histograms: HISTOGRAM_COST, others 1.0)."""
    default = HISTOGRAM_COST if facet.kind == "year_histogram" else 1.0
    return COUNT_COST.get(facet.name, default)


def _sums_of(facet: FacetDef, base: FacetDef) -> bool:
    """Whether every bucket of `facet` is a whole number of `base`'s histogram buckets."""
    if base.kind != "year_histogram" or facet.field != base.field or facet is base:
        return False
    if facet.kind == "year_histogram":
        return facet.interval % base.interval == 0
    if facet.kind == "range":
        return all(float(r[k]) % base.interval == 0
                   for r in facet.ranges for k in ("from", "to") if k in r)
    return False


def _derivations(facets: Sequence[FacetDef]) -> dict[str, str]:
    """Year facets countable as sums of a finer year histogram's buckets (centuries and
    periods from decades): {facet: its base}. Counting them again costs per matched record."""
    bases = sorted((f for f in facets if f.kind == "year_histogram"), key=lambda f: f.interval)
    out: dict[str, str] = {}
    for facet in facets:
        base = next((b for b in bases if b.name not in out and _sums_of(facet, b)), None)
        if base is not None:
            out[facet.name] = base.name
    return out


def _sum_buckets(facet: FacetDef, base: FacetDef, buckets: Sequence[Mapping[str, Any]]
                 ) -> list[dict[str, Any]]:
    """`facet`'s buckets, as its aggregation would answer, from `base`'s histogram buckets."""
    if facet.kind == "year_histogram":
        counts: dict[float, int] = {}
        for b in buckets:
            key = math.floor(b["key"] / facet.interval) * facet.interval
            counts[key] = counts.get(key, 0) + int(b["doc_count"])
        return [{"key": k, "doc_count": n} for k, n in sorted(counts.items())]
    return [{"key": r["key"], "doc_count": sum(
        int(b["doc_count"]) for b in buckets
        if ("from" not in r or b["key"] >= r["from"]) and ("to" not in r or b["key"] < r["to"]))}
        for r in facet.ranges]


def _empty(lane: queue.Queue[Any]) -> None:
    try:
        while True:
            lane.get_nowait()
    except queue.Empty:
        pass


__all__ = ["ElasticsearchBackend", "SearchIndexError", "schema_stamp"]
