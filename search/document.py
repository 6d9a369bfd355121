"""The one function that turns a record's EDM graph into its search document."""

from __future__ import annotations

import json
import re
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

from rdflib import Graph, Literal, URIRef
from rdflib.term import Node

from archive.ids import Minter
from archive.vocab import DC, DCTERMS, EDM, MEM, ORE, RDF, SKOS, WGS84

LANGS = ("en", "es", "zh", "other")
# Geo facet cells are this many degrees wide; coarse on purpose (a city-wide archive).
GEO_CELL_DEGREES = 10
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_SUGGEST_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "search"


def lang_bucket(lang: str | None, text: str) -> str:
    """Which per-language slot (en, es, zh, other) a literal belongs to."""
    if lang:
        primary = lang.split("-", 1)[0].lower()
        if primary in ("en", "es", "zh"):
            return primary
        return "other"
    # Untagged literals are common in catalogue exports; Han script is a safe signal.
    return "zh" if _HAN.search(text) else "other"


def fold(text: str) -> str:
    """Lowercase and strip accents: the sort and suggestion form of a string."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def suggest_words(text: str) -> list[str]:
    """The lowercase words of a title, offered as completions."""
    return [w.lower() for w in _SUGGEST_WORD.findall(text)]


_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def _node_key(node: Node) -> tuple[str, int, str]:
    # Entities are minted #place-1, #place-2 ... #place-10: keep their numeric order.
    text = str(node)
    m = _NUMBERED.match(text)
    return (m.group(1), int(m.group(2)), text) if m else (text, -1, text)


def _texts(graph: Graph, subject: Node, prop: URIRef) -> list[Literal]:
    return sorted(
        (o for o in graph.objects(subject, prop) if isinstance(o, Literal)),
        key=lambda lit: (lit.language or "", str(lit)),
    )


def _label(graph: Graph, node: Node) -> str | None:
    if isinstance(node, Literal):
        return str(node).strip() or None
    labels = _texts(graph, node, SKOS.prefLabel)
    return str(labels[0]).strip() if labels else None


def _labels(graph: Graph, cho: URIRef, *props: URIRef) -> list[str]:
    seen: dict[str, None] = {}
    for prop in props:
        for node in sorted(graph.objects(cho, prop), key=_node_key):
            label = _label(graph, node)
            if label:
                seen.setdefault(label, None)
    return list(seen)


def _by_lang(literals: list[Literal]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for lit in literals:
        text = str(lit).strip()
        if text:
            out.setdefault(lang_bucket(lit.language, text), []).append(text)
    return {lang: out[lang] for lang in LANGS if lang in out}


def _int(graph: Graph, node: Node, prop: URIRef) -> int | None:
    for value in graph.objects(node, prop):
        if isinstance(value, Literal):
            try:
                return int(value)
            except (TypeError, ValueError):
                continue
    return None


def _float(graph: Graph, node: Node, prop: URIRef) -> float | None:
    for value in graph.objects(node, prop):
        if isinstance(value, Literal):
            try:
                return float(value)
            except (TypeError, ValueError):
                continue
    return None


def _places(graph: Graph, cho: URIRef) -> tuple[list[str], dict[str, float] | None]:
    names: list[str] = []
    location: dict[str, float] | None = None
    for place in sorted(graph.objects(cho, DCTERMS.spatial), key=_node_key):
        label = _label(graph, place)
        if label and label not in names:
            names.append(label)
        if location is None and not isinstance(place, Literal):
            lat, lon = _float(graph, place, WGS84.lat), _float(graph, place, WGS84.long)
            if lat is not None and lon is not None:
                location = {"lat": lat, "lon": lon}
    return names, location


def _years(graph: Graph, cho: URIRef) -> tuple[int | None, int | None, list[str]]:
    begins: list[int] = []
    ends: list[int] = []
    labels: list[str] = []
    for prop in (DCTERMS.created, DCTERMS.issued, DC.date, DCTERMS.temporal):
        for span in sorted(graph.objects(cho, prop), key=_node_key):
            if isinstance(span, Literal):
                continue
            begin, end = _int(graph, span, MEM.beginYear), _int(graph, span, MEM.endYear)
            if begin is not None and end is not None:
                begins.append(begin)
                ends.append(end)
            label = _label(graph, span)
            if label and label not in labels:
                labels.append(label)
        # The creation date wins; other dates are only a fallback.
        if begins:
            break
    return (min(begins) if begins else None, max(ends) if ends else None, labels)


def _first_literal(graph: Graph, subject: Node, prop: URIRef) -> str | None:
    for value in sorted(graph.objects(subject, prop), key=str):
        return str(value)
    return None


def _thumbnail(graph: Graph, aggregation: URIRef) -> tuple[str | None, int]:
    first = next(iter(sorted(graph.objects(aggregation, EDM.isShownBy), key=str)), None)
    views = list(graph.objects(aggregation, EDM.hasView))
    count = (1 if first is not None else 0) + len(views)
    image_id = _first_literal(graph, first, MEM.imageId) if first is not None else None
    return image_id, count


def geo_cell(lat: float, lon: float) -> str:
    """The geo facet cell of a point: south-west corner of a GEO_CELL_DEGREES square."""
    size = GEO_CELL_DEGREES
    south = min(int(lat // size) * size, 90 - size)
    west = min(int(lon // size) * size, 180 - size)
    return f"{south},{west}"


def record_document(
    graph: Graph, record_id: str, minter: Minter, collection: str | None = None,
    ancestors: list[str] | None = None,
) -> dict[str, Any]:
    """Build the search document of one record from its EDM graph.

    `collection` is the id of the record's root ancestor and `ancestors` the ids of every
    record above it; the graph only knows the parent, so a caller that knows the tree passes
    them. Without them, a record with no parent is its own collection, a child has none, and
    the parent is its only known ancestor.
    """
    cho = URIRef(minter.item(record_id))
    aggregation = URIRef(minter.aggregation(record_id))
    if (cho, RDF.type, EDM.ProvidedCHO) not in graph:
        raise ValueError(f"record {record_id}: graph has no edm:ProvidedCHO {cho}")
    if (aggregation, ORE.aggregatedCHO, cho) not in graph:
        aggregation = next(
            (a for a in graph.subjects(EDM.aggregatedCHO, cho) if isinstance(a, URIRef)),
            aggregation,
        )

    titles = _by_lang(_texts(graph, cho, DC.title) + _texts(graph, cho, DCTERMS.alternative))
    descriptions = _by_lang(_texts(graph, cho, DC.description))
    creators = _labels(graph, cho, DC.creator)
    contributors = _labels(graph, cho, DC.contributor)
    subjects = _labels(graph, cho, DC.subject, DC.type)
    places, location = _places(graph, cho)
    year_begin, year_end, date_labels = _years(graph, cho)
    parent = _first_literal(graph, cho, DCTERMS.isPartOf)
    parent_id = minter.record_id_of(parent) if parent else None
    thumbnail, image_count = _thumbnail(graph, aggregation)
    languages = sorted({str(v).strip().lower() for v in graph.objects(cho, DC.language)
                        if str(v).strip()})
    identifiers = [str(v) for v in _texts(graph, cho, DC.identifier)]

    display = next((titles[lang][0] for lang in LANGS if lang in titles), None)
    all_titles = [t for lang in LANGS for t in titles.get(lang, [])]
    # Titles and descriptions in English, Spanish or Chinese are matched in their own fields
    # with their language's analysis; this is the rest, which is stemmed both ways.
    other_text = [
        *titles.get("other", []), *descriptions.get("other", []),
        *creators, *contributors, *subjects, *places, *date_labels, *identifiers,
    ]
    doc: dict[str, Any] = {
        "id": record_id,
        "uri": str(cho),
        "title": titles,
        "title_display": display,
        "title_sort": fold(display) if display else None,
        "description": descriptions,
        "creator": creators,
        "contributor": contributors,
        "subject": subjects,
        "place": places,
        "location": location,
        "geo_cell": geo_cell(location["lat"], location["lon"]) if location else None,
        "year_begin": year_begin,
        "year_end": year_end,
        "date_label": date_labels[0] if date_labels else None,
        "type": _first_literal(graph, cho, EDM.type),
        "level": _first_literal(graph, cho, MEM.level),
        "order": _int(graph, cho, MEM.order),
        "parent_id": parent_id,
        "ancestors": [],
        "collection": None,
        "language": languages,
        "rights": _first_literal(graph, aggregation, EDM.rights),
        "data_provider": _first_literal(graph, aggregation, EDM.dataProvider),
        "provider": _first_literal(graph, aggregation, EDM.provider),
        "thumbnail": thumbnail,
        "image_count": image_count,
        "has_image": image_count > 0,
        "identifier": identifiers,
        "suggest": sorted({w for t in all_titles for w in suggest_words(t)}),
        "other_text": "\n".join(other_text),
    }
    place_in_hierarchy(doc, collection, ancestors)
    return doc


def place_in_hierarchy(doc: dict[str, Any], collection: str | None,
                       ancestors: list[str] | None) -> None:
    """Set a document's collection and ancestors (see record_document for the defaults)."""
    parent_id = doc["parent_id"]
    if collection is None and parent_id is None:
        collection = doc["id"]
    if ancestors is None:
        ancestors = [parent_id] if parent_id else []
    doc["ancestors"] = sorted(set(ancestors))
    doc["collection"] = collection


@cache
def _schema_text(name: str) -> str:
    return (SCHEMA_PATH / name).read_text(encoding="utf-8")


def load_schema(name: str) -> Any:
    """Load one of the JSON files in schemas/search (document schema, facets, ES index)."""
    return json.loads(_schema_text(name))


__all__ = ["LANGS", "fold", "geo_cell", "lang_bucket", "load_schema", "place_in_hierarchy",
           "record_document", "suggest_words"]
