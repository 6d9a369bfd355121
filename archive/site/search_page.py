"""The search page: results, facets, year histogram, map facet, paging and export links."""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from flask import Flask, Response, current_app, g, request, url_for
from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict

from archive.api import QueryError, parse_query
from archive.site.i18n import gettext, lazy_gettext, preferred_languages
from archive.site.pages import get_archive, item_url, render_page, wants_json
from archive.site.search_labels import (
    bucket_label,
    collection_label,
    collection_titles,
    facet_label,
    primary_languages,
    region_label,
    type_label,
)
from archive.site.security import isolate_bidi
from search.backend import MAX_RESULT_WINDOW, Hit, SearchQuery, SearchResult, Sort, facet_defs
from search.document import GEO_CELL_DEGREES, geo_cell

# Query-string keys that make up a search state; anything else (format, lang) is not carried.
STATE_KEYS = ("q", "within", "from", "to", "bbox", "sort", "size", "page", "after")
PAGE_SIZES = (10, 20, 50, 100)
NUMBERED_PAGES = 10
VISIBLE_BUCKETS = 5
HISTOGRAM_FACET = "decade"
MAP_FACET = "region"
# The reader picks the year span with the histogram or from/to; these stay out of the sidebar.
HIDDEN_FACETS = {HISTOGRAM_FACET}

SORT_LABELS = {
    Sort.RELEVANCE: lazy_gettext("Relevance"),
    Sort.YEAR_ASC: lazy_gettext("Date, oldest first"),
    Sort.YEAR_DESC: lazy_gettext("Date, newest first"),
    Sort.TITLE_ASC: lazy_gettext("Title, A–Z"),
    Sort.TITLE_DESC: lazy_gettext("Title, Z–A"),
}
_MARK = re.compile(r"(</?mark>)")


# -- values shown to the reader ------------------------------------------------------------


def safe_highlight(fragment: str) -> Markup:
    """A backend highlight as safe HTML: everything escaped, only <mark> pairs kept."""
    out: list[Markup] = []
    open_mark = False
    for piece in _MARK.split(fragment):
        if piece == "<mark>":
            if not open_mark:
                out.append(Markup("<mark>"))
                open_mark = True
        elif piece == "</mark>":
            if open_mark:
                out.append(Markup("</mark>"))
                open_mark = False
        else:
            # The backends escape the text around the marks; unescape once so that nothing
            # is escaped twice, then escape everything again.
            out.append(escape(html.unescape(piece)))
    if open_mark:
        out.append(Markup("</mark>"))
    # Safe: every piece is Markup already (a mark or escape()'s output); Markup.join would
    # escape each again, a no-op at ~20 a page.
    return Markup("".join(out))  # noqa: S704


def _plain(fragment: str) -> str:
    return html.unescape(_MARK.sub("", fragment))


def _in_language(texts: Mapping[str, list[str]] | None, langs: list[str]
                 ) -> tuple[str | None, str | None]:
    """The first text in the reader's languages, then in any language, and its language."""
    for lang in [*langs, "en", "es", "zh", "other"]:
        if texts and texts.get(lang):
            return texts[lang][0], (None if lang == "other" else lang)
    return None, None


def _date(source: Mapping[str, Any]) -> str | None:
    begin, end = source.get("year_begin"), source.get("year_end")
    if source.get("date_label"):
        return str(source["date_label"])
    if begin is None:
        return None
    return str(begin) if end in (None, begin) else f"{begin}–{end}"


# -- URLs of states -------------------------------------------------------------------------


def state_args(args: Mapping[str, Any]) -> MultiDict[str, str]:
    """The search state in request arguments: text, facet choices, years, box, order, page."""
    out: MultiDict[str, str] = MultiDict()
    source = args if isinstance(args, MultiDict) else MultiDict(args)
    for key in source:
        if key in STATE_KEYS or key.startswith("f."):
            for value in source.getlist(key):
                if value != "":
                    out.add(key, value)
    return out


def search_url(state: MultiDict[str, str], endpoint: str = "search", **extra: str) -> str:
    """The URL of a state (plus `extra` arguments)."""
    pairs = [(k, v) for k in state for v in state.getlist(k)]
    pairs += list(extra.items())
    bases = g.setdefault("search_url_bases", {})
    base = bases.get(endpoint) or bases.setdefault(endpoint, url_for(endpoint))
    return f"{base}?{urlencode(pairs)}" if pairs else base


def changed(state: MultiDict[str, str],
            updates: Mapping[str, str | list[str] | None] | None = None, *,
            keep_page: bool = False, **changes: str | list[str] | None) -> MultiDict[str, str]:
    """A copy of the state with some keys set or removed; a new filter starts at page one."""
    out = MultiDict(state)
    if not keep_page:
        out.pop("page", None)
        out.pop("after", None)
    for key, value in {**(updates or {}), **changes}.items():
        out.pop(key, None)
        if isinstance(value, list):
            for v in value:
                out.add(key, v)
        elif value is not None:
            out[key] = value
    return out


def _toggled(state: MultiDict[str, str], name: str, key: str) -> MultiDict[str, str]:
    values = state.getlist(f"f.{name}")
    new = [v for v in values if v != key] if key in values else [*values, key]
    return changed(state, {f"f.{name}": new})


# -- the page data --------------------------------------------------------------------------


def _hit_view(hit: Hit, langs: list[str]) -> dict[str, Any]:
    source = dict(hit.source or {})
    title, title_lang = _in_language(source.get("title"), langs)
    title = title or source.get("title_display") or hit.id
    marked = hit.highlights or {}
    title_html: str = str(escape(title))
    for fragment in marked.get("title", []):
        if _plain(fragment) == title:
            title_html = str(safe_highlight(fragment))
            break
    snippets = []
    descriptions = source.get("description") or {}
    for lang in [*langs, "en", "es", "zh", "other"]:
        for fragment in marked.get("description", []):
            if any(_plain(fragment) in text for text in descriptions.get(lang, [])):
                snippets.append(str(safe_highlight(fragment)))
        if snippets:
            break
    if not snippets and marked.get("description"):
        snippets.append(str(safe_highlight(marked["description"][0])))
    thumb = source.get("thumbnail")
    location = source.get("location")
    return {
        "id": hit.id,
        "url": item_url(hit.id),
        "title": title,
        "title_lang": title_lang,
        "title_html": title_html,
        "date": _date(source),
        "year_begin": source.get("year_begin"),
        "year_end": source.get("year_end"),
        "creator": list(source.get("creator") or []),
        "place": list(source.get("place") or []),
        "type": source.get("type"),
        "type_label": type_label(source.get("type")),
        "level": source.get("level"),
        "thumbnail": (f"/iiif/3/{quote(str(thumb), safe='')}/full/!200,200/0/default.jpg"
                      if thumb else None),
        "location": location,
        "snippet_html": snippets[0] if snippets else None,
        "sort_values": list(hit.sort_values) if hit.sort_values else None,
    }


def _facets_view(result: SearchResult, langs: list[str]
                 ) -> list[dict[str, Any]]:
    defs = {f.name: f for f in facet_defs()}
    out = []
    for facet in result.facets:
        fdef = defs.get(facet.name)
        if fdef is None or fdef.name in HIDDEN_FACETS:
            continue
        buckets = [{
            "n": n,
            "key": b.key,
            "label": bucket_label(fdef, b.key, langs),
            "count": b.count,
            "count_text": f"{b.count:,}",
            "selected": b.selected,
        } for n, b in enumerate(facet.buckets, 1)]
        out.append({"name": fdef.name, "label": facet_label(fdef), "kind": fdef.kind,
                    "buckets": buckets})
    return out


def _histogram(result: SearchResult, query: SearchQuery) -> dict[str, Any]:
    defs = {f.name: f for f in facet_defs()}
    fdef = defs.get(HISTOGRAM_FACET)
    buckets = []
    for facet in result.facets:
        if facet.name == HISTOGRAM_FACET:
            buckets = [{"start": int(b.key), "count": b.count} for b in facet.buckets
                       if b.count]
    return {"interval": fdef.interval if fdef else 10, "buckets": buckets,
            "from": query.year_from, "to": query.year_to}


def _map_view(result: SearchResult, hits: list[dict[str, Any]], query: SearchQuery
              ) -> dict[str, Any]:
    settings = current_app.config["MEMORIA_SETTINGS"]
    points: dict[str, list[dict[str, Any]]] = {}
    markers: list[dict[str, Any]] = []
    for h in hits:
        loc = h.get("location")
        if loc and loc.get("lat") is not None and loc.get("lon") is not None:
            points.setdefault(geo_cell(loc["lat"], loc["lon"]), []).append(h)
            markers.append({"lat": loc["lat"], "lon": loc["lon"], "label": h["title"],
                            "url": h["url"]})
    cells = next((f.buckets for f in result.facets if f.name == MAP_FACET), [])
    for cell in cells:
        shown = points.get(cell.key, [])
        if cell.count <= len(shown):
            continue  # every record of the cell is already a point on the map
        # The bubble counts the region's records that are not points on this page.
        if shown:
            lat = sum(h["location"]["lat"] for h in shown) / len(shown)
            lon = sum(h["location"]["lon"] for h in shown) / len(shown)
        else:
            try:
                south, west = (float(x) for x in cell.key.split(","))
            except ValueError:
                continue
            lat, lon = south + GEO_CELL_DEGREES / 2, west + GEO_CELL_DEGREES / 2
        markers.append({"lat": lat, "lon": lon, "count": cell.count - len(shown),
                        "label": region_label(cell.key), "cell": cell.key})
    box = query.bbox
    return {
        "tileUrl": settings.map_tile_url or "",
        "attribution": settings.map_attribution or "",
        "markers": markers,
        "bbox": [box.south, box.west, box.north, box.east] if box else None,
        "label": gettext("Map of the results"),
    }


def _applied(query: SearchQuery, state: MultiDict[str, str], facets: list[dict[str, Any]],
             langs: list[str]) -> list[dict[str, Any]]:
    chips: list[dict[str, Any]] = []
    if query.text:
        chips.append({"kind": "q", "label": gettext("Text"), "value": query.text,
                      "remove_url": search_url(changed(state, q=None))})
    if query.within:
        chips.append({"kind": "within", "label": gettext("Collection"),
                      "value": collection_label(query.within, langs),
                      "remove_url": search_url(changed(state, within=None))})
    defs = {f.name: f for f in facet_defs()}
    shown = {f["name"]: f for f in facets}
    for name, keys in query.filters.items():
        fdef = defs[name]
        labels = {b["key"]: b["label"] for b in shown.get(name, {}).get("buckets", [])}
        for key in keys:
            chips.append({"kind": "facet", "name": name, "key": key,
                          "label": facet_label(fdef),
                          "value": labels.get(key) or bucket_label(fdef, key, langs),
                          "remove_url": search_url(_toggled(state, name, key))})
    if query.year_from is not None or query.year_to is not None:
        span = f"{'' if query.year_from is None else query.year_from}–" \
               f"{'' if query.year_to is None else query.year_to}"
        chips.append({"kind": "years", "label": gettext("Years"), "value": span,
                      "remove_url": search_url(changed(state, {"from": None, "to": None}))})
    if query.bbox is not None:
        b = query.bbox
        chips.append({"kind": "bbox", "label": gettext("Map area"),
                      "value": f"{b.south:g},{b.west:g} – {b.north:g},{b.east:g}",
                      "remove_url": search_url(changed(state, bbox=None))})
    return chips


def _paging(query: SearchQuery, result: SearchResult, state: MultiDict[str, str]
            ) -> dict[str, Any]:
    size = max(query.size, 1)
    last = max(1, math.ceil(min(result.total, MAX_RESULT_WINDOW) / size))
    current = None if query.search_after else query.page
    numbers = [{"number": n, "url": search_url(changed(state, keep_page=True, after=None,
                                                       page=None if n == 1 else str(n))),
                "current": n == current}
               for n in range(1, min(last, NUMBERED_PAGES) + 1)]
    next_url = prev_url = None
    full_page = len(result.hits) == query.size and query.size > 0
    last_hit = result.hits[-1] if result.hits else None
    cursor = json.dumps(list(last_hit.sort_values), ensure_ascii=False) \
        if last_hit and last_hit.sort_values else None
    if query.search_after is not None:
        if full_page and cursor:
            next_url = search_url(changed(state, after=cursor))
        prev_url = search_url(changed(state))
    elif query.page < NUMBERED_PAGES and query.page < last:
        next_url = search_url(changed(state, keep_page=True, page=str(query.page + 1)))
    elif full_page and cursor and query.sort is not Sort.RELEVANCE:
        next_url = search_url(changed(state, after=cursor))
    elif query.page < last:
        next_url = search_url(changed(state, keep_page=True, page=str(query.page + 1)))
    if query.search_after is None and query.page > 1:
        prev_url = search_url(changed(state, keep_page=True,
                                      page=None if query.page == 2 else str(query.page - 1)))
    first = 0 if not result.hits else (
        None if query.search_after else (query.page - 1) * query.size + 1)
    return {"pages": numbers, "next": next_url, "prev": prev_url, "page": current,
            "first": first, "last_page": last, "after": query.search_after is not None}


def page_data(query: SearchQuery, result: SearchResult, args: Mapping[str, Any]
              ) -> dict[str, Any]:
    """Everything the search page shows, as plain data (the page's JSON twin)."""
    langs = primary_languages(preferred_languages())
    state = state_args(args)
    hits = [_hit_view(h, langs) for h in result.hits]
    # The collection facet names records: read all their titles at once, before labelling.
    collections = [b.key for f in result.facets if f.name == "collection" for b in f.buckets]
    collection_titles([*collections, *([query.within] if query.within else [])], langs)
    facets = _facets_view(result, langs)
    export = changed(state)
    export.pop("size", None)
    return {
        "query": {
            "q": query.text, "within": query.within,
            "filters": {k: list(v) for k, v in query.filters.items()},
            "from": query.year_from, "to": query.year_to,
            "bbox": [query.bbox.south, query.bbox.west, query.bbox.north, query.bbox.east]
            if query.bbox else None,
            "sort": query.sort.value, "page": query.page, "size": query.size,
            "after": list(query.search_after) if query.search_after else None,
        },
        "total": result.total,
        "hits": hits,
        "facets": facets,
        "histogram": _histogram(result, query),
        "map": _map_view(result, hits, query),
        "applied": _applied(query, state, facets, langs),
        "paging": _paging(query, result, state),
        "sorts": [{"value": s.value, "label": str(label)} for s, label in SORT_LABELS.items()],
        "sizes": list(PAGE_SIZES),
        "export": {fmt: search_url(export, "api.export", format=fmt) for fmt in ("csv", "json")},
        "clear_url": url_for("search"),
    }


def _row(name: str, b: Mapping[str, Any]) -> str:
    esc = html.escape
    box = f"f-{name}-{b['n']}"
    checked = " checked" if b["selected"] else ""
    return (f'<li><input type="checkbox" id="{box}" name="f.{esc(name)}" '
            f'value="{esc(b["key"])}"{checked}><label for="{box}">'
            f'<span class="facet-value">{esc(isolate_bidi(b["label"]))}</span> '
            f'<span class="facet-count">{b["count_text"]}</span></label></li>\n')


def facet_rows(facets: list[dict[str, Any]]) -> dict[str, tuple[Markup, Markup]]:
    """Each facet's checkbox rows as HTML: the first few, and the rest behind "show more".

    Built here rather than in a template loop: a page has ~150 of them and this is ~10x faster.
    """
    out = {}
    for facet in facets:
        rows = [_row(facet["name"], b) for b in facet["buckets"]]
        # Safe: every value in a row went through html.escape in _row.
        out[facet["name"]] = (Markup("".join(rows[:VISIBLE_BUCKETS])),  # noqa: S704
                              Markup("".join(rows[VISIBLE_BUCKETS:])))  # noqa: S704
    return out


def _hit_row(n: int, hit: Mapping[str, Any]) -> str:
    esc = html.escape

    def text(value: Any) -> str:  # what {{ value }} makes of it: bidi isolated, escaped
        return esc(isolate_bidi(str(value)))

    url = esc(hit["url"])
    thumb = (f'<img src="{esc(hit["thumbnail"])}" alt="" loading="lazy" width="100" '
             f'height="100">' if hit["thumbnail"] else '<span class="hit-nothumb"></span>')
    lang = f' lang="{text(hit["title_lang"])}"' if hit["title_lang"] else ""
    meta = []
    if hit["date"]:
        meta.append(f'<span class="hit-date">{text(hit["date"])}</span>')
    if hit["creator"]:
        meta.append(f' <span class="hit-creator">{text("; ".join(hit["creator"]))}</span>')
    if hit["type"]:
        meta.append(f' <span class="hit-type">{text(hit["type_label"])}</span>')
    if hit["place"]:
        meta.append(f' <span class="hit-place">{text("; ".join(hit["place"]))}</span>')
    # title_html and snippet_html are safe HTML already (safe_highlight); bidi isolated as
    # every Markup value of the templates is.
    snippet = (f'<p class="hit-snippet">{isolate_bidi(hit["snippet_html"])}</p>'
               if hit["snippet_html"] else "")
    return (f'  <li class="hit" id="hit-{n}" data-id="{text(hit["id"])}">\n'
            f'    <a class="hit-thumb" href="{url}" tabindex="-1" aria-hidden="true">{thumb}</a>\n'
            f'    <div class="hit-body">\n'
            f'      <h3 class="hit-title"{lang}><a href="{url}">'
            f'{isolate_bidi(hit["title_html"])}</a></h3>\n'
            f'      <p class="hit-meta">{"".join(meta)}</p>\n'
            f'      {snippet}\n'
            f'    </div>\n'
            f'  </li>\n')


def hit_rows(hits: list[dict[str, Any]]) -> Markup:
    """The result list's items as HTML (built here, like facet_rows: ~20 a page)."""
    # Safe: every value went through html.escape in _hit_row, or is safe_highlight's output.
    return Markup("".join(_hit_row(n, h) for n, h in enumerate(hits, 1)))  # noqa: S704


def _error_page(reason: str) -> Response:
    data = {"error": reason, "query": {"q": request.args.get("q", "")[:500]}}
    resp = render_page("search.html", data)
    resp.status_code = 400
    return resp


def register(app: Flask) -> None:
    """Attach the search page."""

    @app.get("/search", endpoint="search")
    def search() -> Response:
        try:
            query = parse_query(request.args)
        except QueryError as exc:
            return _error_page(str(exc))
        result = get_archive().search(query)
        data = page_data(query, result, request.args)
        if wants_json():
            return render_page("search.html", data)
        return render_page("search.html", data, facet_rows=facet_rows(data["facets"]),
                           hit_rows=hit_rows(data["hits"]))
