"""The one function that turns a record's EDM graph into its search document."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pyoxigraph as ox
from rdflib import Graph, URIRef

from archive.ids import Minter
from archive.rdfio import graph_to_ox
from archive.recordgraph import OxTerm as Term
from archive.recordgraph import RecordGraph, from_ox
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
    if decomposed.isascii():
        return decomposed  # no combining marks to strip
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def suggest_words(text: str) -> list[str]:
    """The lowercase words of a title, offered as completions."""
    return [w.lower() for w in _SUGGEST_WORD.findall(text)]


_NUMBERED = re.compile(r"^(.*?)(\d+)$")

# The document is read straight from pyoxigraph terms (an rdflib Graph is converted first):
# rdflib terms made for it cost more than the rest of the document.
_STRING_TYPES = frozenset({"http://www.w3.org/2001/XMLSchema#string",
                           "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"})
_XSD_INTEGER = "http://www.w3.org/2001/XMLSchema#integer"
_CANONICAL_INTEGER = re.compile(r"-?[1-9][0-9]*|0")
_XSD_DECIMAL = "http://www.w3.org/2001/XMLSchema#decimal"
# An xsd:decimal written plainly: rdflib's lexical form of it may differ ("007" -> "7"), but
# it is the same number, so float() of either is the same.
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def _n(term: URIRef) -> ox.NamedNode:
    return ox.NamedNode(str(term))


_TYPE, _CHO_CLASS = _n(RDF.type), _n(EDM.ProvidedCHO)
_ORE_CHO, _EDM_CHO = _n(ORE.aggregatedCHO), _n(EDM.aggregatedCHO)
_TITLE, _ALTERNATIVE, _DESCRIPTION = _n(DC.title), _n(DCTERMS.alternative), _n(DC.description)
_CREATOR, _CONTRIBUTOR, _SUBJECT, _DC_TYPE = (
    _n(DC.creator), _n(DC.contributor), _n(DC.subject), _n(DC.type))
_SPATIAL, _LAT, _LONG = _n(DCTERMS.spatial), _n(WGS84.lat), _n(WGS84.long)
_DATES = (_n(DCTERMS.created), _n(DCTERMS.issued), _n(DC.date), _n(DCTERMS.temporal))
_BEGIN, _END = _n(MEM.beginYear), _n(MEM.endYear)
_PREF_LABEL, _PART_OF = _n(SKOS.prefLabel), _n(DCTERMS.isPartOf)
_SHOWN_BY, _HAS_VIEW, _IMAGE_ID = _n(EDM.isShownBy), _n(EDM.hasView), _n(MEM.imageId)
_LANGUAGE, _IDENTIFIER = _n(DC.language), _n(DC.identifier)
_EDM_TYPE, _LEVEL, _ORDER = _n(EDM.type), _n(MEM.level), _n(MEM.order)
_RIGHTS, _DATA_PROVIDER, _PROVIDER = _n(EDM.rights), _n(EDM.dataProvider), _n(EDM.provider)


def _text(term: Term) -> str:
    """What str() of the rdflib term gives: a typed literal's lexical form as rdflib keeps it."""
    if isinstance(term, ox.Literal) and not term.language:
        datatype = term.datatype.value
        if datatype not in _STRING_TYPES and not (
                datatype == _XSD_INTEGER and _CANONICAL_INTEGER.fullmatch(term.value)):
            return str(from_ox(term))
    return term.value


def _node_key(node: Term) -> tuple[str, int, str]:
    # Entities are minted #place-1, #place-2 ... #place-10: keep their numeric order.
    text = _text(node)
    head = text.rstrip("0123456789")
    if "\n" in text or (head and head[-1].isdecimal()):
        # A line break, or a digit that \d matches and rstrip keeps: the expression itself.
        m = _NUMBERED.match(text)
        return (m.group(1), int(m.group(2)), text) if m else (text, -1, text)
    # Otherwise _NUMBERED's lazy prefix (which tries every position of an IRI) is what
    # precedes the trailing ASCII digits: the same key, found from the end.
    if len(head) == len(text):
        return (text, -1, text)
    return (head, int(text[len(head):]), text)


def _texts(graph: RecordGraph, subject: Term, prop: ox.NamedNode) -> list[ox.Literal]:
    literals = [o for o in graph.view(subject, prop) if isinstance(o, ox.Literal)]
    if len(literals) > 1:
        literals.sort(key=lambda lit: (lit.language or "", _text(lit)))
    return literals


def _sorted_nodes(graph: RecordGraph, subject: Term, prop: ox.NamedNode) -> Sequence[Term]:
    """The values of subject prop in their numeric-aware order (most have one or none)."""
    nodes = graph.view(subject, prop)
    return sorted(nodes, key=_node_key) if len(nodes) > 1 else nodes


def _label(graph: RecordGraph, node: Term) -> str | None:
    if isinstance(node, ox.Literal):
        return _text(node).strip() or None
    labels = _texts(graph, node, _PREF_LABEL)
    return _text(labels[0]).strip() if labels else None


def _labels(graph: RecordGraph, cho: Term, *props: ox.NamedNode) -> list[str]:
    seen: dict[str, None] = {}
    for prop in props:
        for node in _sorted_nodes(graph, cho, prop):
            label = _label(graph, node)
            if label:
                seen.setdefault(label, None)
    return list(seen)


def _by_lang(literals: list[ox.Literal]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for lit in literals:
        text = _text(lit).strip()
        if text:
            out.setdefault(lang_bucket(lit.language, text), []).append(text)
    return {lang: out[lang] for lang in LANGS if lang in out}


def _int(graph: RecordGraph, node: Term, prop: ox.NamedNode) -> int | None:
    for value in graph.view(node, prop):
        if isinstance(value, ox.Literal):
            try:
                return int(_text(value))
            except (TypeError, ValueError):
                continue
    return None


def _float(graph: RecordGraph, node: Term, prop: ox.NamedNode) -> float | None:
    for value in graph.view(node, prop):
        if isinstance(value, ox.Literal):
            # Coordinates: skip the rdflib literal that _text makes of a decimal (~20 us).
            if value.datatype.value == _XSD_DECIMAL and _PLAIN_DECIMAL.fullmatch(value.value):
                return float(value.value)
            try:
                return float(_text(value))
            except (TypeError, ValueError):
                continue
    return None


def _places(graph: RecordGraph, cho: Term) -> tuple[list[str], dict[str, float] | None]:
    names: list[str] = []
    location: dict[str, float] | None = None
    for place in _sorted_nodes(graph, cho, _SPATIAL):
        label = _label(graph, place)
        if label and label not in names:
            names.append(label)
        if location is None and not isinstance(place, ox.Literal):
            lat, lon = _float(graph, place, _LAT), _float(graph, place, _LONG)
            if lat is not None and lon is not None:
                location = {"lat": lat, "lon": lon}
    return names, location


def _years(graph: RecordGraph, cho: Term) -> tuple[int | None, int | None, list[str]]:
    begins: list[int] = []
    ends: list[int] = []
    labels: list[str] = []
    for prop in _DATES:
        for span in _sorted_nodes(graph, cho, prop):
            if isinstance(span, ox.Literal):
                continue
            begin, end = _int(graph, span, _BEGIN), _int(graph, span, _END)
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


def _first_literal(graph: RecordGraph, subject: Term, prop: ox.NamedNode) -> str | None:
    values = graph.view(subject, prop)
    return min(map(_text, values)) if values else None


def _thumbnail(graph: RecordGraph, aggregation: Term) -> tuple[str | None, int]:
    first = min(graph.view(aggregation, _SHOWN_BY), key=_text, default=None)
    views = graph.view(aggregation, _HAS_VIEW)
    count = (1 if first is not None else 0) + len(views)
    image_id = _first_literal(graph, first, _IMAGE_ID) if first is not None else None
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
    # Callers pass a RecordGraph (the ingest's light graph) or an rdflib Graph.
    light = graph if isinstance(graph, RecordGraph) else RecordGraph(graph_to_ox(graph))
    cho_iri = minter.item(record_id)
    cho = ox.NamedNode(cho_iri)
    aggregation: Term = ox.NamedNode(minter.aggregation(record_id))
    if not light.has(cho, _TYPE, _CHO_CLASS):
        raise ValueError(f"record {record_id}: graph has no edm:ProvidedCHO {cho_iri}")
    if not light.has(aggregation, _ORE_CHO, cho):  # type: ignore[arg-type]
        aggregation = next(
            (a for a in light.subjects_with(_EDM_CHO, cho) if isinstance(a, ox.NamedNode)),
            aggregation,
        )

    titles = _by_lang(_texts(light, cho, _TITLE) + _texts(light, cho, _ALTERNATIVE))
    descriptions = _by_lang(_texts(light, cho, _DESCRIPTION))
    creators = _labels(light, cho, _CREATOR)
    contributors = _labels(light, cho, _CONTRIBUTOR)
    subjects = _labels(light, cho, _SUBJECT, _DC_TYPE)
    places, location = _places(light, cho)
    year_begin, year_end, date_labels = _years(light, cho)
    parent = _first_literal(light, cho, _PART_OF)
    parent_id = minter.record_id_of(parent) if parent else None
    thumbnail, image_count = _thumbnail(light, aggregation)
    languages = sorted({_text(v).strip().lower() for v in light.view(cho, _LANGUAGE)
                        if _text(v).strip()})
    identifiers = [_text(v) for v in _texts(light, cho, _IDENTIFIER)]

    display = next((titles[lang][0] for lang in LANGS if lang in titles), None)
    all_titles = [t for lang in LANGS for t in titles.get(lang, [])]
    # Titles and descriptions are matched in their own fields with their language's analysis
    # (those in other or unknown languages stemmed both ways there); this is the text with no
    # language of its own, which is stemmed both ways.
    other_text = [*creators, *contributors, *subjects, *places, *date_labels, *identifiers]
    doc: dict[str, Any] = {
        "id": record_id,
        "uri": cho_iri,
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
        "type": _first_literal(light, cho, _EDM_TYPE),
        "level": _first_literal(light, cho, _LEVEL),
        "order": _int(light, cho, _ORDER),
        "parent_id": parent_id,
        "ancestors": [],
        "collection": None,
        "language": languages,
        "rights": _first_literal(light, aggregation, _RIGHTS),
        "data_provider": _first_literal(light, aggregation, _DATA_PROVIDER),
        "provider": _first_literal(light, aggregation, _PROVIDER),
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
