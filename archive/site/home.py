"""The home page: collections, a search box, a map of places, recent additions."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, url_for
from flask_babel import gettext

from archive.service import Archive
from archive.site.collections_page import record_summaries, search_backend, top_collections
from archive.site.i18n import preferred_languages
from archive.site.pages import get_archive, render_page
from archive.site.places_page import map_options, place_markers, places_with_counts
from search.backend import SearchQuery

HOME_COLLECTIONS = 12
HOME_PLACES = 200
RECENT = 8
# Rows of the batch log read to find RECENT distinct live records (newest rows first).
RECENT_SCAN = 200


def recent_ids(archive: Archive, limit: int = RECENT) -> list[str]:
    """Records most recently created or changed by an ingest, newest first (the batch log)."""
    rows = archive.state.conn.execute(
        "SELECT br.record_id FROM batch_records br JOIN batches b ON b.id = br.batch_id "
        "WHERE br.action IN ('created', 'updated') AND b.dry_run = 0 "
        "AND b.status != 'undone' ORDER BY br.rowid DESC LIMIT ?", (RECENT_SCAN,))
    seen: dict[str, None] = {}
    for (rid,) in rows:
        seen.setdefault(rid, None)
        if len(seen) >= limit * 2:
            break
    return list(seen)


def recent_additions(archive: Archive, langs: list[str], limit: int = RECENT
                     ) -> list[dict[str, Any]]:
    """The newest records that are still published, with titles: one store query."""
    ids = recent_ids(archive, limit)
    info = record_summaries(archive, ids, langs)
    return [{"id": rid, "title": info[rid]["title"], "level_label": info[rid]["level_label"],
             "url": url_for("item", name=rid)} for rid in ids if rid in info][:limit]


def register(app: Flask) -> None:
    """Attach the home page."""

    @app.get("/", endpoint="home")
    def home() -> Response:
        archive = get_archive()
        langs = preferred_languages()
        backend = search_backend(archive)
        collections, collection_count = top_collections(archive, langs,
                                                        biggest=HOME_COLLECTIONS)
        places = places_with_counts(backend, SearchQuery(facets=False), HOME_PLACES)
        data = {
            "total_records": backend.count(),
            "collections": collections,
            "collection_count": collection_count,
            "places": places[:10],
            "place_count": len(places),
            "map": map_options(place_markers(places), gettext("Map of places")),
            "recent": recent_additions(archive, langs),
        }
        return render_page("home.html", data)
