"""Places: an index of every place with a map, and a page per place (items at it and near it)."""

from __future__ import annotations

import math
import threading
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, abort, current_app, request, url_for
from flask_babel import gettext

from archive.site.collections_page import page_number, search_backend
from archive.site.i18n import preferred_languages
from archive.site.pages import get_archive, render_page
from search.backend import BBox, Hit, SearchBackend, SearchQuery

PAGE_SIZE = 20
MAX_PLACES = 1000
MAP_PLACES = 200
DEFAULT_KM = 5.0
MAX_KM = 200.0
KM_PER_DEGREE = 111.32
CACHE_KEY = "memoria_place_points"


def place_url(name: str, **args: Any) -> str:
    """The place page of a place name (every place value on the site links here)."""
    return url_for("place", name=name, **args)


class PlacePoints:
    """Where each place name is, learnt from the index and forgotten when the index changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._points: dict[str, tuple[float, float] | None] = {}
        self._generation = -1

    def lookup(self, backend: SearchBackend, names: list[str]) -> dict[str, tuple[float, float]]:
        """The coordinates of the names that have some (one index query per unknown name)."""
        generation = backend.count()
        with self._lock:
            if generation != self._generation:
                self._points.clear()
                self._generation = generation
            missing = [n for n in names if n not in self._points]
        found = {n: point_of(backend, n) for n in missing}
        with self._lock:
            self._points.update(found)
            return {n: p for n in names if (p := self._points.get(n)) is not None}


def point_of(backend: SearchBackend, name: str) -> tuple[float, float] | None:
    """A place's coordinates: the location of a record whose first place it is."""
    result = backend.search(SearchQuery(filters={"place": [name]}, size=10, facets=False,
                                        highlight=False))
    # A record's location is its first place that has coordinates: trust records that
    # name only this place, then those that name it first.
    for exact in (True, False):
        for hit in result.hits:
            source = hit.source or {}
            places, location = source.get("place") or [], source.get("location")
            if location and places and places[0] == name and (len(places) == 1 or not exact):
                return float(location["lat"]), float(location["lon"])
    return None


def place_points(backend: SearchBackend, names: list[str]) -> dict[str, tuple[float, float]]:
    """Coordinates of place names, cached per app until the index changes."""
    cache: PlacePoints = current_app.extensions.setdefault(CACHE_KEY, PlacePoints())
    return cache.lookup(backend, names)


def places_with_counts(backend: SearchBackend, query: SearchQuery, limit: int
                       ) -> list[dict[str, Any]]:
    """Places of the matching records, most records first, with coordinates where known."""
    counts = backend.term_counts(query, "place", size=limit)
    names = sorted(counts, key=lambda n: (-counts[n], n))
    points = place_points(backend, names[:MAP_PLACES])
    rows = []
    for name in names:
        point = points.get(name)
        rows.append({"name": name, "count": counts[name], "url": place_url(name),
                     "lat": point[0] if point else None, "lon": point[1] if point else None})
    return rows


def map_options(markers: list[dict[str, Any]], label: str,
                bbox: list[float] | None = None) -> dict[str, Any]:
    """What static/maps.js needs: tiles from the settings (none: a blank map), the markers."""
    settings = get_archive().settings
    options: dict[str, Any] = {"tileUrl": settings.map_tile_url,
                               "attribution": settings.map_attribution,
                               "markers": markers, "label": label}
    if bbox is not None:
        options["bbox"] = bbox
    return options


def place_markers(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Map markers of places that have coordinates, each linking to its place page."""
    return [{"lat": r["lat"], "lon": r["lon"], "label": r["name"], "count": r["count"],
             "url": r["url"]} for r in rows if r["lat"] is not None]


def box_around(lat: float, lon: float, km: float) -> BBox:
    """A box reaching `km` kilometres north, south, east and west of a point."""
    dlat = km / KM_PER_DEGREE
    dlon = min(km / (KM_PER_DEGREE * max(math.cos(math.radians(lat)), 0.01)), 179.0)
    west, east = lon - dlon, lon + dlon
    # Past the antimeridian the box wraps (BBox allows west > east).
    west = west + 360 if west < -180 else west
    east = east - 360 if east > 180 else east
    return BBox(max(lat - dlat, -90.0), west, min(lat + dlat, 90.0), east)


def hit_row(hit: Hit, langs: list[str]) -> dict[str, Any]:
    """One record in a list: its title in the reader's language, date and link."""
    source = hit.source or {}
    titles = source.get("title") or {}
    title = source.get("title_display") or hit.id
    for lang in langs:
        texts = titles.get(lang.split("-")[0].lower())
        if texts:
            title = texts[0]
            break
    location = source.get("location")
    return {"id": hit.id, "title": title, "date": source.get("date_label"),
            "places": source.get("place") or [], "url": url_for("item", name=hit.id),
            "lat": location["lat"] if location else None,
            "lon": location["lon"] if location else None}


def km_argument() -> float:
    """The ?km= radius of "near", within bounds."""
    try:
        km = float(request.args.get("km", DEFAULT_KM))
    except ValueError:
        return DEFAULT_KM
    return DEFAULT_KM if not math.isfinite(km) else min(max(km, 0.1), MAX_KM)


def register(app: Flask) -> None:
    """Attach the places index and the place page; templates get place_url()."""
    app.jinja_env.globals["place_url"] = place_url

    @app.get("/places", endpoint="places")
    def places() -> Response:
        backend = search_backend(get_archive())
        rows = places_with_counts(backend, SearchQuery(facets=False), MAX_PLACES)
        data = {"places": rows, "located": sum(1 for r in rows if r["lat"] is not None),
                "map": map_options(place_markers(rows), gettext("Map of places"))}
        return render_page("places.html", data)

    @app.get("/place", endpoint="place")
    def place() -> Response:
        name = request.args.get("name", "").strip()
        if not name or len(name) > 500:
            abort(404, description="which place? /place?name=...")
        backend = search_backend(get_archive())
        langs = preferred_languages()
        page = page_number()
        if page * PAGE_SIZE > 10_000:
            abort(404, description="no such page")
        at = backend.search(SearchQuery(filters={"place": [name]}, size=PAGE_SIZE, page=page,
                                        facets=False, highlight=False))
        if at.total == 0:
            abort(404, description=f"no records at {name}")
        km = km_argument()
        point = place_points(backend, [name]).get(name)
        near: dict[str, Any] | None = None
        markers: list[dict[str, Any]] = []
        bbox = None
        if point is not None:
            box = box_around(point[0], point[1], km)
            bbox = [box.south, box.west, box.north, box.east]
            near_result = backend.search(SearchQuery(bbox=box, size=PAGE_SIZE, facets=False,
                                                     highlight=False))
            nearby = [r for r in places_with_counts(backend, SearchQuery(bbox=box,
                                                                          facets=False), 50)
                      if r["name"] != name]
            near = {"km": km, "total": near_result.total, "bbox": bbox,
                    "items": [hit_row(h, langs) for h in near_result.hits],
                    "places": nearby,
                    "search_url": url_for("search", bbox=",".join(str(round(v, 5))
                                                                  for v in bbox))}
            markers = [{"lat": point[0], "lon": point[1], "label": name, "count": at.total,
                        "url": place_url(name)}]
            markers += place_markers(nearby)
        pages = max(1, math.ceil(min(at.total, 10_000) / PAGE_SIZE))
        data = {
            "name": name, "lat": point[0] if point else None, "lon": point[1] if point else None,
            "at": {"total": at.total, "items": [hit_row(h, langs) for h in at.hits],
                   "page": page, "pages": pages,
                   "previous_url": place_url(name, page=page - 1) if page > 1 else None,
                   "next_url": place_url(name, page=page + 1) if page < pages else None,
                   "search_url": url_for("search") + "?" + urlencode({"f.place": name})},
            "near": near,
            "map": map_options(markers, gettext("Map of %(place)s", place=name), bbox),
        }
        return render_page("place.html", data)
