"""Expected answers computed in plain Python from the documents, for filters and facets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from search.backend import FacetDef, SearchQuery, facet_by_name, facet_defs


def facet_values(doc: dict[str, Any], facet: FacetDef) -> list[str]:
    """The facet keys one document counts under."""
    value = doc.get(facet.field)
    if facet.kind in ("terms", "geo"):
        values = value if isinstance(value, list) else [value]
        return sorted({str(v) for v in values if v is not None})
    if value is None:
        return []
    if facet.kind == "year_histogram":
        return [str((value // facet.interval) * facet.interval)]
    keys = []
    for r in facet.ranges:
        if r.get("from", float("-inf")) <= value < r.get("to", float("inf")):
            keys.append(r["key"])
    return keys


def _in_box(doc: dict[str, Any], query: SearchQuery) -> bool:
    box = query.bbox
    if box is None:
        return True
    loc = doc.get("location")
    if not loc or not box.south <= loc["lat"] <= box.north:
        return False
    if box.west <= box.east:
        return bool(box.west <= loc["lon"] <= box.east)
    return bool(loc["lon"] >= box.west or loc["lon"] <= box.east)


def full_text(doc: dict[str, Any]) -> str:
    """Every text a document can be found by: titles, descriptions and other_text."""
    parts = [t for part in ("title", "description") for texts in doc[part].values()
             for t in texts]
    return "\n".join([*parts, doc["other_text"]])


def base_match(doc: dict[str, Any], query: SearchQuery) -> bool:
    """Year span and box (text is checked by the tests themselves)."""
    if query.year_from is not None and (doc["year_end"] is None
                                        or doc["year_end"] < query.year_from):
        return False
    if query.year_to is not None and (doc["year_begin"] is None
                                      or doc["year_begin"] > query.year_to):
        return False
    return _in_box(doc, query)


def facet_match(doc: dict[str, Any], query: SearchQuery, skip: str | None = None) -> bool:
    """Every facet choice but `skip`: OR within a facet, AND across facets."""
    for name, keys in query.filters.items():
        if name == skip or not keys:
            continue
        if not set(facet_values(doc, facet_by_name(name))) & set(keys):
            return False
    return True


def matching(docs: Iterable[dict[str, Any]], query: SearchQuery) -> set[str]:
    """Ids of the documents a text-less query should return."""
    return {d["id"] for d in docs if base_match(d, query) and facet_match(d, query)}


def facet_counts(docs: Iterable[dict[str, Any]], query: SearchQuery, name: str
                 ) -> dict[str, int]:
    """A facet's expected counts: the query with every choice but the facet's own."""
    facet = facet_by_name(name)
    counts: Counter[str] = Counter()
    for d in docs:
        if base_match(d, query) and facet_match(d, query, skip=name):
            counts.update(facet_values(d, facet))
    return dict(counts)


def all_facet_names() -> list[str]:
    """Every facet name."""
    return [f.name for f in facet_defs()]
