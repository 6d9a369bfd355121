"""How search facets and their values are named to the reader, in the interface language."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from babel import Locale, UnknownLocaleError
from flask_babel import get_locale

from archive.site.i18n import gettext, lazy_gettext, ui_language
from archive.site.pages import get_archive
from archive.views import rights_label, titles_of
from search.backend import FacetDef
from search.document import GEO_CELL_DEGREES

TYPE_LABELS: Mapping[str, Any] = {
    "IMAGE": lazy_gettext("Image"), "TEXT": lazy_gettext("Text"),
    "SOUND": lazy_gettext("Sound"), "VIDEO": lazy_gettext("Video"), "3D": lazy_gettext("3D"),
}
LEVEL_LABELS: Mapping[str, Any] = {
    "collection": lazy_gettext("Collection"), "fonds": lazy_gettext("Fonds"),
    "series": lazy_gettext("Series"), "file": lazy_gettext("File"),
    "item": lazy_gettext("Item"),
}
# Collection titles name the collection facet's values; reading a record per request would cost
# more than the search itself, so titles are kept for ten minutes.
COLLECTION_TITLE_TTL = 600.0
_COLLECTION_TITLES: dict[tuple[str, str], tuple[str, float]] = {}
_COLLECTION_LOCK = threading.Lock()


def primary_languages(tags: Iterable[str]) -> list[str]:
    """Language tags reduced to their primary subtags (zh-Hans -> zh), without repeats."""
    seen: dict[str, None] = {}
    for tag in tags:
        seen.setdefault(tag.replace("_", "-").split("-")[0].lower(), None)
    return list(seen)


def type_label(value: str | None) -> str:
    """An EDM type (IMAGE, TEXT ...) in the interface language."""
    return str(TYPE_LABELS.get(value or "", value or ""))


def language_label(code: str) -> str:
    """A language code's name in the interface language (the code if Babel does not know it)."""
    try:
        name = Locale.parse(code.replace("-", "_")).get_display_name(str(get_locale()))
    except (UnknownLocaleError, ValueError):
        return code
    return name or code


def region_label(key: str, size: int = GEO_CELL_DEGREES) -> str:
    """A geo cell key ("south,west") as a span of latitudes and longitudes."""
    try:
        south, west = (int(float(x)) for x in key.split(","))
    except ValueError:
        return key  # a choice typed into the URL that names no cell

    def lat(v: int) -> str:
        return f"{abs(v)}°{'S' if v < 0 else 'N'}"

    def lon(v: int) -> str:
        return f"{abs(v)}°{'W' if v < 0 else 'E'}"

    return f"{lat(south)}–{lat(south + size)}, {lon(west)}–{lon(west + size)}"


def collection_titles(rids: Iterable[str], langs: list[str]) -> dict[str, str]:
    """Collections' titles: kept ones, the rest read in one query (never a record whole)."""
    lang = langs[0] if langs else ""
    now = time.monotonic()
    out: dict[str, str] = {}
    missing: list[str] = []
    with _COLLECTION_LOCK:
        for rid in dict.fromkeys(rids):
            cached = _COLLECTION_TITLES.get((rid, lang))
            if cached and cached[1] > now:
                out[rid] = cached[0]
            else:
                missing.append(rid)
    if missing:
        found = titles_of(get_archive(), missing, langs)
        with _COLLECTION_LOCK:
            if len(_COLLECTION_TITLES) > 5000:
                _COLLECTION_TITLES.clear()
            for rid in missing:
                out[rid] = found.get(rid, rid)
                _COLLECTION_TITLES[(rid, lang)] = (out[rid], now + COLLECTION_TITLE_TTL)
    return out


def collection_label(rid: str, langs: list[str]) -> str:
    """One collection's title (see collection_titles)."""
    return collection_titles([rid], langs)[rid]


def bucket_label(facet: FacetDef, key: str, langs: list[str]) -> str:
    """How a facet value is shown to the reader."""
    if facet.name == "type":
        return type_label(key)
    if facet.name == "level":
        return str(LEVEL_LABELS.get(key, key))
    if facet.name == "language":
        return language_label(key)
    if facet.name == "rights":
        return rights_label(key)
    if facet.name == "collection":
        return collection_label(key, langs)
    if facet.kind == "geo":
        return region_label(key)
    if facet.kind == "year_histogram":
        return f"{key}–{int(key) + facet.interval - 1}"
    if facet.kind == "range":
        lo, hi = facet.range_bounds(key)
        if lo is None and hi is not None:
            return gettext("before %(year)s", year=int(hi))
        if hi is None and lo is not None:
            return gettext("%(year)s and later", year=int(lo))
        return f"{int(lo or 0)}–{int(hi or 0) - 1}"
    return key


def facet_label(facet: FacetDef) -> str:
    """A facet's name in the interface language."""
    lang = primary_languages([ui_language()])[0]
    return facet.label.get(lang) or facet.label.get("en") or facet.name
