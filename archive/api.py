"""The JSON search API: /api/search, its CSV/JSON export, and /api/suggest."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.datastructures import MultiDict

from archive.ids import is_record_id
from search.backend import BBox, SearchQuery, SearchResult, Sort, facet_defs

MAX_QUERY_CHARS = 500
MAX_QUERY_TERMS = 32
MAX_FILTER_VALUES = 50
MAX_PAGE = 100
MAX_YEAR = 100_000
EXPORT_LIMIT = 10_000
EXPORT_COLUMNS = ("id", "title", "year_begin", "year_end", "creator", "place", "type",
                  "rights", "url")


class QueryError(ValueError):
    """A search request that is refused, with the reason (answered as 400)."""


def _int(args: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise QueryError(f"{name} must be a whole number") from None


def parse_query(args: MultiDict[str, str], *, size_default: int = 20) -> SearchQuery:
    """Turn request arguments into a SearchQuery, refusing pathological ones with a reason."""
    text = args.get("q", "").strip()
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is longer than {MAX_QUERY_CHARS} characters")
    if len(text.split()) > MAX_QUERY_TERMS:
        raise QueryError(f"the query has more than {MAX_QUERY_TERMS} words")
    known = {f.name for f in facet_defs()}
    filters: dict[str, list[str]] = {}
    for key in args:
        if key.startswith("f."):
            name = key[2:]
            if name not in known:
                raise QueryError(f"unknown facet {name!r}; facets: {', '.join(sorted(known))}")
            values = [v for v in args.getlist(key) if v]
            if len(values) > MAX_FILTER_VALUES:
                raise QueryError(f"more than {MAX_FILTER_VALUES} choices for facet {name!r}")
            filters[name] = values
    bbox = None
    if args.get("bbox"):
        try:
            south, west, north, east = (float(x) for x in args["bbox"].split(","))
            bbox = BBox(south, west, north, east)
        except ValueError as exc:
            raise QueryError(f"bbox must be south,west,north,east in degrees ({exc})") from None
    after = None
    if args.get("after"):
        try:
            after = tuple(json.loads(args["after"]))
        except (ValueError, TypeError):
            raise QueryError("after must be the JSON list given as next_after") from None
    size = _int(args, "size", size_default)
    if size is None or not 0 <= size <= MAX_PAGE:
        raise QueryError(f"size must be between 0 and {MAX_PAGE}")
    within = args.get("within") or None
    if within is not None and not is_record_id(within):
        raise QueryError("within must be a record id")
    years = {name: _int(args, name) for name in ("from", "to")}
    for name, year in years.items():
        if year is not None and not -MAX_YEAR <= year <= MAX_YEAR:
            raise QueryError(f"{name} must be a year between -{MAX_YEAR} and {MAX_YEAR}")
    sort = args.get("sort", "relevance")
    if sort not in {s.value for s in Sort}:
        raise QueryError(f"sort must be one of {', '.join(s.value for s in Sort)}")
    try:
        return SearchQuery(
            text=text, filters=filters, year_from=years["from"], year_to=years["to"],
            bbox=bbox, sort=Sort(sort), page=_int(args, "page", 1) or 1, size=size,
            search_after=after, within=within,
        )
    except ValueError as exc:
        raise QueryError(str(exc)) from None


def _hit_summary(hit: Any, base_url: str) -> dict[str, Any]:
    source = dict(hit.source or {})
    return {
        "id": hit.id,
        "url": f"{base_url}/item/{hit.id}",
        "title": source.get("title_display") or source.get("title") or hit.id,
        "year_begin": source.get("year_begin"),
        "year_end": source.get("year_end"),
        "creator": source.get("creator", []),
        "place": source.get("place", []),
        "type": source.get("type"),
        "rights": source.get("rights"),
        "thumbnail": (f"{base_url}/iiif/3/{source['thumbnail']}/full/!200,200/0/default.jpg"
                      if source.get("thumbnail") else None),
        "score": hit.score,
        "highlights": dict(hit.highlights),
    }


def result_json(result: SearchResult, base_url: str, lang: str) -> dict[str, Any]:
    """A search result as the API's JSON."""
    labels = {f.name: f.label for f in facet_defs()}
    last = result.hits[-1] if result.hits else None
    return {
        "total": result.total,
        "hits": [_hit_summary(h, base_url) for h in result.hits],
        "facets": [{
            "name": f.name,
            "label": labels.get(f.name, {}).get(lang) or labels.get(f.name, {}).get("en", f.name),
            "buckets": [{"key": b.key, "count": b.count, "selected": b.selected}
                        for b in f.buckets],
        } for f in result.facets],
        "next_after": list(last.sort_values) if last and last.sort_values else None,
    }


def _safe_cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "; ".join(map(str, value)) if isinstance(value, list) else ("" if value is None
                                                                        else str(value))
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def create_api_blueprint() -> Blueprint:
    """The search API routes."""
    bp = Blueprint("api", __name__)

    def archive() -> Any:
        return current_app.extensions["memoria"]

    def base_url() -> str:
        return str(current_app.config["MEMORIA_SETTINGS"].base_url)

    @bp.errorhandler(QueryError)
    def bad_query(exc: QueryError) -> tuple[Response, int]:
        return jsonify({"error": str(exc)}), 400

    @bp.get("/api/search")
    def search() -> Response:
        query = parse_query(request.args)
        lang = request.args.get("lang", "en").split("-")[0]
        return jsonify(result_json(archive().search(query), base_url(), lang))

    @bp.get("/api/suggest")
    def suggest() -> Response:
        prefix = request.args.get("q", "").strip()
        if len(prefix) > 100:
            raise QueryError("a suggestion prefix is at most 100 characters")
        size = _int(request.args, "size", 10) or 10
        if not 1 <= size <= 50:
            raise QueryError("size must be between 1 and 50")
        return jsonify([{"text": t, "count": c} for t, c in archive().suggest(prefix, size)])

    @bp.get("/api/search/export")
    def export() -> Response:
        fmt = request.args.get("format", "csv")
        if fmt not in {"csv", "json"}:
            raise QueryError("format must be csv or json")
        args = MultiDict(request.args)
        if args.get("sort", "relevance") == "relevance":
            args["sort"] = "title_asc"  # deep paging walks a field sort
        args.pop("page", None)
        first = parse_query(args, size_default=MAX_PAGE)
        rows = _walk(archive(), first, base_url())
        if fmt == "json":
            body = json.dumps(list(rows), ensure_ascii=False)
            return Response(body, mimetype="application/json", headers={
                "Content-Disposition": 'attachment; filename="memoria-results.json"'})
        return Response(_csv(rows), mimetype="text/csv", headers={
            "Content-Disposition": 'attachment; filename="memoria-results.csv"'})

    return bp


def _walk(archive: Any, query: SearchQuery, base_url: str) -> Iterator[dict[str, Any]]:
    """Every hit of a query, page by page with search_after, up to the export limit."""
    sent = 0
    while sent < EXPORT_LIMIT:
        result = archive.search(query)
        for hit in result.hits:
            yield _hit_summary(hit, base_url)
            sent += 1
        if len(result.hits) < query.size or not result.hits[-1].sort_values:
            return
        query = SearchQuery(text=query.text, filters=query.filters, year_from=query.year_from,
                            year_to=query.year_to, bbox=query.bbox, sort=query.sort,
                            size=query.size, search_after=tuple(result.hits[-1].sort_values),
                            facets=False, highlight=False)


def _csv(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(EXPORT_COLUMNS)
    yield buf.getvalue()
    for row in rows:
        buf.seek(0)
        buf.truncate()
        writer.writerow([_safe_cell(row.get(c)) for c in EXPORT_COLUMNS])
        yield buf.getvalue()
