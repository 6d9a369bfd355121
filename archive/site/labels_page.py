"""The QR label sheet: chosen items as printable labels with QR code, titles and permanent URL."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pyoxigraph as ox
from flask import Flask, Response, abort, request, url_for
from markupsafe import Markup
from rdflib import Literal, URIRef
from werkzeug.datastructures import MultiDict

from archive.api import QueryError, parse_query
from archive.ids import is_record_id
from archive.service import Archive
from archive.site.i18n import ui_language
from archive.site.pages import get_archive, render_page
from archive.site.qr import qr_inline_svg
from archive.views import pick_language, store_value, title_of, title_texts
from archive.vocab import DC, EDM, ORE, RDF

MAX_LABELS = 100
MAX_LANGS = 4
# Labels per A4 page -> (columns, rows); labels.css has a class for each.
LAYOUTS: dict[int, tuple[int, int]] = {8: (2, 4), 12: (3, 4), 24: (3, 8)}
DEFAULT_LAYOUT = 8
# The interface languages offered as checkboxes; any other BCP 47 tag works by URL.
OFFERED_LANGS = ("en", "zh-Hans", "es")
_LANG_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8}){0,2}$")
# The search arguments a sheet can be chosen by, as on /search.
_SEARCH_KEYS = ("q", "from", "to", "bbox", "sort")
_TYPE, _CHO, _AGGREGATED, _DATA_PROVIDER = (ox.NamedNode(str(t)) for t in (
    RDF.type, EDM.ProvidedCHO, EDM.aggregatedCHO, EDM.dataProvider))


def chosen_langs(args: MultiDict[str, str]) -> list[str]:
    """The languages asked for (well-formed BCP 47 tags, at most MAX_LANGS), or the UI's."""
    langs = [t for t in args.getlist("langs") if _LANG_TAG.match(t)]
    return list(dict.fromkeys(langs))[:MAX_LANGS] or [ui_language()]


def chosen_layout(args: MultiDict[str, str]) -> int:
    """Labels per page: one of LAYOUTS (anything else gets the default)."""
    raw = args.get("layout", "")
    return int(raw) if raw.isdigit() and int(raw) in LAYOUTS else DEFAULT_LAYOUT


def search_args(args: MultiDict[str, str]) -> MultiDict[str, str]:
    """The part of the query string that is a search (q, f.*, years, box, sort)."""
    return MultiDict([(k, v) for k, v in args.items(multi=True)
                      if k in _SEARCH_KEYS or k.startswith("f.")])


def chosen_ids(archive: Archive, args: MultiDict[str, str]) -> list[str]:
    """Record ids from ?id=, or else the first MAX_LABELS results of the search in the URL."""
    ids = [i for i in args.getlist("id") if i]
    if ids:
        return list(dict.fromkeys(ids))[:MAX_LABELS]
    wanted = search_args(args)
    if not any(v.strip() for v in wanted.values()):
        return []
    try:
        query = dataclasses.replace(parse_query(wanted, size_default=MAX_LABELS), page=1,
                                    size=MAX_LABELS, facets=False, highlight=False)
    except QueryError as exc:
        abort(400, description=str(exc))
    if archive.index is None:
        abort(503, description="search is not available")
    return archive.search(query).ids


def _label(rid: str, uri: str, titles: list[Literal], fallback: str, provider: str,
           langs: list[str]) -> dict[str, Any]:
    out = []
    for lang in langs:
        # A language without a title falls back to the other chosen ones first.
        chosen = pick_language(titles, [lang, *langs])
        found = chosen.language if chosen is not None else None
        out.append({"lang": lang, "text": str(chosen) if chosen is not None else fallback,
                    "text_lang": found,
                    "fallback": not found or found.split("-")[0].lower()
                    != lang.split("-")[0].lower()})
    return {
        "id": rid,
        "uri": uri,
        "titles": out,
        "data_provider": provider,
        "qr": {fmt: url_for("item_qr", name=rid, fmt=fmt) for fmt in ("svg", "png")},
    }


def labels_of(archive: Archive, rids: list[str], langs: list[str]
              ) -> tuple[list[dict[str, Any]], list[str]]:
    """The labels of published records in the given order, and the ids that are not."""
    wanted = [r for r in dict.fromkeys(rids) if is_record_id(r)]
    found: dict[str, dict[str, Any]] = {}
    if archive.derives and wanted:
        store = archive.rdf.store
        for rid in wanted:
            subject = ox.NamedNode(archive.minter.item(rid))
            if not any(store.quads_for_pattern(subject, _TYPE, _CHO, None)):
                continue
            texts = title_texts(archive, rid)
            providers = (store_value(store, q.subject, _DATA_PROVIDER)
                         for q in store.quads_for_pattern(None, _AGGREGATED, subject, None)
                         if isinstance(q.subject, ox.NamedNode))
            description = pick_language(sorted(set(texts.get("description", []))), langs)
            fallback = str(description)[:80] if description is not None else "(untitled)"
            found[rid] = _label(rid, subject.value, sorted(set(texts.get("title", []))),
                                fallback, next((p for p in providers if p), ""), langs)
    elif wanted:
        for rid in wanted:
            record = archive.get(rid)
            if record is None or record.withdrawn:
                continue
            g = record.graph
            cho = URIRef(archive.minter.item(rid))
            agg = next(iter(g.subjects(RDF.type, ORE.Aggregation)), None)
            found[rid] = _label(
                rid, str(cho), [o for o in g.objects(cho, DC.title) if isinstance(o, Literal)],
                title_of(g, cho, langs),
                str(next(iter(g.objects(agg, EDM.dataProvider)), "")) if agg is not None else "",
                langs)
    ordered = [r for r in dict.fromkeys(rids)]
    return [found[r] for r in ordered if r in found], [r for r in ordered if r not in found]


def register(app: Flask) -> None:
    """Attach /labels."""

    @app.get("/labels", endpoint="labels")
    def labels() -> Response:
        archive = get_archive()
        args = request.args
        langs = chosen_langs(args)
        per_page = chosen_layout(args)
        ids = chosen_ids(archive, args)
        items, missing = labels_of(archive, ids, langs)
        columns, rows = LAYOUTS[per_page]
        data = {
            "items": items,
            "missing": missing,
            "langs": langs,
            "layout": {"per_page": per_page, "columns": columns, "rows": rows,
                       "paper": "A4"},
            "pages": -(-len(items) // per_page),
            "search": {k: search_args(args).getlist(k) for k in search_args(args)},
        }
        sheets = [items[i:i + per_page] for i in range(0, len(items), per_page)]
        qr_svgs: dict[str, Markup] = {item["id"]: qr_inline_svg(item["uri"]) for item in items}
        return render_page("labels.html", data, sheets=sheets, qr_svgs=qr_svgs,
                           layouts=sorted(LAYOUTS), offered_langs=OFFERED_LANGS,
                           ids=[i["id"] for i in items] if args.getlist("id") else [])
