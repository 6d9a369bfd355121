"""The collection tree (fonds > series > file, paged, any depth) and the timeline by year."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

import pyoxigraph as ox
from flask import Flask, Response, abort, request, url_for

from archive.ids import is_record_id
from archive.service import Archive
from archive.site.i18n import lazy_gettext, preferred_languages
from archive.site.pages import get_archive, render_page
from archive.views import pick_title, store_value, title_texts
from archive.vocab import DCTERMS, MEM
from search.backend import SearchBackend, SearchQuery

_LEVEL, _PART_OF = (ox.NamedNode(str(p)) for p in (MEM.level, DCTERMS.isPartOf))
# Children of one node shown per page: a 100,000-part series is browsed, never drawn whole.
PAGE_SIZE = 50
MAX_COLLECTIONS = 1000
# Timeline bars: the smallest of these spans that keeps the chart under MAX_BARS bars.
INTERVALS = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000)
MAX_BARS = 60
LEVEL_LABELS = {
    "collection": lazy_gettext("Collection"), "fonds": lazy_gettext("Fonds"),
    "subfonds": lazy_gettext("Sub-fonds"), "series": lazy_gettext("Series"),
    "subseries": lazy_gettext("Sub-series"), "file": lazy_gettext("File"),
    "item": lazy_gettext("Item"),
}


def search_backend(archive: Archive) -> SearchBackend:
    """The archive's search backend, or 503 when this process has none."""
    if archive.index is None:
        abort(503, description="search is not available")
    return archive.index.backend


def level_label(level: str | None) -> str:
    """The reader's word for an archival level (the raw value when unknown)."""
    if not level:
        return ""
    return str(LEVEL_LABELS.get(level.lower(), level))


def record_summaries(archive: Archive, ids: list[str], langs: list[str]
                     ) -> dict[str, dict[str, Any]]:
    """Title (in the reader's language), level and parent of the published records among ids."""
    if not archive.derives:
        return {}
    store = archive.rdf.store
    out: dict[str, dict[str, Any]] = {}
    labels: dict[str | None, str] = {}  # a lazy translation costs a catalogue lookup each time
    for rid in dict.fromkeys(ids):
        if not is_record_id(rid):
            continue
        texts = title_texts(archive, rid)
        if not texts:  # not in the store: withdrawn, or not a record
            continue
        subject = ox.NamedNode(archive.minter.item(rid))
        level = store_value(store, subject, _LEVEL)
        parent_uri = store_value(store, subject, _PART_OF)
        parent = archive.minter.record_id_of(parent_uri) if parent_uri else None
        if level not in labels:
            labels[level] = level_label(level)
        out[rid] = {"id": rid, "title": pick_title(texts, langs, rid),
                    "level": level, "parent": parent,
                    "level_label": labels[level]}
    return out


def search_within_url(rid: str, top: str | None) -> str:
    """The search for everything in a collection (or below a node deeper in the tree)."""
    if top is None or top == rid:
        return url_for("search") + "?" + urlencode({"f.collection": rid})
    return url_for("search", within=rid)


def node_row(rid: str, info: dict[str, Any], below: int, parts: int) -> dict[str, Any]:
    """One node of the tree as the pages and the JSON twin show it."""
    return {
        "id": rid, "title": info.get("title", rid), "level": info.get("level"),
        "level_label": info.get("level_label", ""), "records_below": below, "parts": parts,
        "url": url_for("collection", rid=rid), "item_url": url_for("item", name=rid),
    }


def top_collections(archive: Archive, langs: list[str], limit: int = MAX_COLLECTIONS,
                    biggest: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """Top-level collections (only the `biggest` if given) with how many records are below
    each, by title, and how many there are in all: two index queries and one store query."""
    backend = search_backend(archive)
    sizes = backend.term_counts(SearchQuery(facets=False), "collection", size=limit)
    ids = sorted(sizes, key=lambda rid: (-sizes[rid], rid))[:biggest]
    parts = backend.term_counts(SearchQuery(facets=False), "parent_id", keys=ids)
    info = record_summaries(archive, ids, langs)
    rows = [node_row(rid, info[rid], sizes[rid] - 1, parts.get(rid, 0))
            for rid in ids if rid in info]
    return sorted(rows, key=lambda r: (r["title"].casefold(), r["id"])), len(sizes)


def children_page(archive: Archive, rid: str, langs: list[str], page: int
                  ) -> tuple[list[dict[str, Any]], int]:
    """One page of a node's parts, in archival order, with their counts: two index queries."""
    children = archive.children(rid)
    ids = [cid for cid, _order in children[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]]
    backend = search_backend(archive)
    below = backend.term_counts(SearchQuery(within=rid, facets=False), "ancestors", keys=ids)
    parts = backend.term_counts(SearchQuery(within=rid, facets=False), "parent_id", keys=ids)
    info = record_summaries(archive, ids, langs)
    rows = [node_row(cid, info.get(cid, {}), below.get(cid, 0), parts.get(cid, 0))
            for cid in ids]
    return rows, len(children)


def breadcrumb(rid: str, info: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The path from the top of the hierarchy down to a node's parent (from its summaries)."""
    chain: list[dict[str, Any]] = []
    current = info.get(rid, {}).get("parent")
    while current is not None and current in info and len(chain) < len(info):
        chain.insert(0, {"id": current, "title": info[current].get("title", current),
                         "url": url_for("collection", rid=current)})
        current = info[current].get("parent")
    return chain


def unit_or_abort(archive: Archive, rid: str, langs: list[str]
                  ) -> tuple[str | None, dict[str, dict[str, Any]]]:
    """A unit's top and the summaries of it and its ancestors; 404 or 410 when it is not shown."""
    if not is_record_id(rid):
        abort(404, description=f"no record {rid}")
    ancestors, top = archive.ancestors_of(rid)
    info = record_summaries(archive, [*ancestors, rid], langs)
    if rid not in info:
        if archive.storage.exists(rid) and archive.is_withdrawn(rid):
            abort(410, description=f"record {rid} has been withdrawn")
        abort(404, description=f"no record {rid}")
    return top, info


def page_number() -> int:
    """The ?page= argument (1 when missing or not a positive number)."""
    try:
        return max(1, min(int(request.args.get("page", "1")), 100_000))
    except ValueError:
        return 1


def pick_interval(first: int, last: int) -> int:
    """The bar width in years that keeps the chart under MAX_BARS bars."""
    span = last - first + 1
    return next((i for i in INTERVALS if span / i <= MAX_BARS), INTERVALS[-1])


def timeline_bars(counts: dict[int, int], within: str | None, top: str | None
                  ) -> tuple[list[dict[str, Any]], int]:
    """Yearly counts grouped into bars, each linking to the search for its years."""
    if not counts:
        return [], 1
    interval = pick_interval(min(counts), max(counts))
    grouped: dict[int, int] = {}
    for year, n in counts.items():
        start = math.floor(year / interval) * interval
        grouped[start] = grouped.get(start, 0) + n
    highest = max(grouped.values())
    bars = []
    for start in range(min(grouped), max(grouped) + 1, interval):
        n = grouped.get(start, 0)
        end = start + interval - 1
        args: dict[str, Any] = {"from": start, "to": end}
        if within is not None:
            args.update({"f.collection": within} if within == top else {"within": within})
        bars.append({"from": start, "to": end, "count": n,
                     "label": str(start) if interval == 1 else f"{start}–{end}",
                     "percent": round(100 * n / highest, 1) if highest else 0,
                     "url": url_for("search", **args)})
    return bars, interval


def register(app: Flask) -> None:
    """Attach the collections index, the collection tree and the timeline."""

    @app.get("/collections", endpoint="collections")
    def collections() -> Response:
        archive = get_archive()
        rows, _count = top_collections(archive, preferred_languages())
        return render_page("collections.html", {
            "collections": rows, "total_records": search_backend(archive).count()})

    @app.get("/collection/<rid>", endpoint="collection")
    def collection(rid: str) -> Response:
        archive = get_archive()
        langs = preferred_languages()
        top, info = unit_or_abort(archive, rid, langs)
        page = page_number()
        rows, total_parts = children_page(archive, rid, langs, page)
        pages = max(1, math.ceil(total_parts / PAGE_SIZE))
        if page > pages:
            abort(404, description="no such page")
        below = search_backend(archive).count(SearchQuery(within=rid, facets=False))
        node = node_row(rid, info[rid], below, total_parts)

        def page_url(n: int) -> str:
            return url_for("collection", rid=rid, page=n)

        return render_page("collection.html", {
            "node": node, "breadcrumb": breadcrumb(rid, info),
            "children": rows, "page": page, "pages": pages, "page_size": PAGE_SIZE,
            "previous_url": page_url(page - 1) if page > 1 else None,
            "next_url": page_url(page + 1) if page < pages else None,
            "search_url": search_within_url(rid, top),
            "timeline_url": url_for("timeline", collection=rid),
        })

    @app.get("/timeline", endpoint="timeline")
    def timeline() -> Response:
        archive = get_archive()
        langs = preferred_languages()
        rid = request.args.get("collection") or None
        node = None
        top = None
        if rid is not None:
            top, info = unit_or_abort(archive, rid, langs)
            node = node_row(rid, info[rid], 0, 0)
        query = SearchQuery(within=rid, facets=False)
        backend = search_backend(archive)
        counts = backend.year_counts(query, interval=1)
        bars, interval = timeline_bars(counts, rid, top)
        dated = sum(counts.values())
        data = {
            "collection": node, "interval": interval, "bars": bars,
            "records": backend.count(query), "dated_records": dated,
            "first_year": min(counts) if counts else None,
            "last_year": max(counts) if counts else None,
        }
        return render_page("timeline.html", data)
