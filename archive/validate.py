"""Per-record checks compiled from schemas/record.shacl.ttl (pyshacl per record is ~100x slower).

tests/archive/test_shapes.py runs pyshacl with the shapes file and these checks on the same
good and bad records and asserts they agree, so the shapes stay the one written definition.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path

from rdflib import Graph, Literal, URIRef
from rdflib.term import Node

from archive.vocab import (
    ARCHIVAL_LEVELS,
    DC,
    DCTERMS,
    EBUCORE,
    EDM,
    EDM_TYPES,
    MEM,
    ORE,
    RDF,
    SKOS,
    WGS84,
    XSD,
)

SHAPES_PATH = Path(__file__).resolve().parent.parent / "schemas" / "record.shacl.ttl"
RIGHTS_PATTERN = re.compile(
    r"^(http://rightsstatements\.org/vocab/[A-Za-z-]+/1\.0/"
    r"|https?://creativecommons\.org/(licenses|publicdomain)/[a-z-]+/[0-9.]+/)$"
)
IMAGE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
RDF_LANGSTRING = URIRef("http://www.w3.org/1999/02/22-rdf-syntax-ns#langString")


def _typed(value: Node, datatype: URIRef) -> bool:
    return isinstance(value, Literal) and value.datatype == datatype


def _integer(value: Node) -> int | None:
    if not _typed(value, XSD.integer):
        return None
    try:
        return int(str(value))
    except ValueError:
        return None


def _decimal(value: Node) -> Decimal | None:
    if not _typed(value, XSD.decimal):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _is_a(graph: Graph, node: Node, cls: URIRef) -> bool:
    return (node, RDF.type, cls) in graph


def _check_cho(g: Graph, cho: Node, out: list[str]) -> None:
    titles = list(g.objects(cho, DC.title))
    if not titles and (cho, DC.description, None) not in g:
        out.append("a record needs a dc:title or a dc:description")
    types = list(g.objects(cho, EDM.type))
    if len(types) != 1 or str(types[0]) not in EDM_TYPES:
        out.append("edm:type must be exactly one of TEXT, IMAGE, SOUND, VIDEO, 3D")
    for title in titles:
        ok = isinstance(title, Literal) and (title.datatype in (None, XSD.string, RDF_LANGSTRING))
        if not ok or not 1 <= len(str(title)) <= 10000:
            out.append("a title is a non-empty string of at most 10,000 characters")
            break
    parents = list(g.objects(cho, DCTERMS.isPartOf))
    if len(parents) > 1 or any(not isinstance(p, URIRef) for p in parents):
        out.append("a record is part of at most one parent, named by IRI")
    orders = list(g.objects(cho, MEM.order))
    if len(orders) > 1 or any(_integer(o) is None for o in orders):
        out.append("mem:order is one integer")
    levels = list(g.objects(cho, MEM.level))
    if len(levels) > 1 or any(str(v) not in ARCHIVAL_LEVELS for v in levels):
        out.append("mem:level must be an archival level (collection, fonds, series, file, item...)")
    linked = ((DC.creator, EDM.Agent, "dc:creator points at an edm:Agent"),
              (DCTERMS.spatial, EDM.Place, "dcterms:spatial points at an edm:Place"),
              (DCTERMS.created, EDM.TimeSpan, "dcterms:created points at an edm:TimeSpan"))
    for prop, cls, message in linked:
        if any(not isinstance(v, URIRef) or not _is_a(g, v, cls) for v in g.objects(cho, prop)):
            out.append(message)


def _check_aggregation(g: Graph, agg: Node, out: list[str]) -> None:
    chos = list(g.objects(agg, EDM.aggregatedCHO))
    if len(chos) != 1 or not _is_a(g, chos[0], EDM.ProvidedCHO):
        out.append("an aggregation aggregates exactly one edm:ProvidedCHO")
    rights = list(g.objects(agg, EDM.rights))
    if len(rights) != 1 or not isinstance(rights[0], URIRef) or not RIGHTS_PATTERN.match(
        str(rights[0])
    ):
        out.append("edm:rights is exactly one RightsStatements.org or Creative Commons URI")
    if len(list(g.objects(agg, EDM.dataProvider))) != 1:
        out.append("an aggregation names exactly one edm:dataProvider")
    if len(list(g.objects(agg, EDM.provider))) != 1:
        out.append("an aggregation names exactly one edm:provider")
    shown_by = list(g.objects(agg, EDM.isShownBy))
    if len(shown_by) > 1 or any(not _is_a(g, v, EDM.WebResource) for v in shown_by):
        out.append("edm:isShownBy is at most one edm:WebResource")
    if any(not _is_a(g, v, EDM.WebResource) for v in g.objects(agg, EDM.hasView)):
        out.append("edm:hasView points at edm:WebResources")


def _one_positive_integer(g: Graph, node: Node, prop: URIRef) -> bool:
    values = list(g.objects(node, prop))
    return len(values) <= 1 and all((_integer(v) or 0) > 0 for v in values)


def _check_web_resource(g: Graph, res: Node, out: list[str]) -> None:
    if not _one_positive_integer(g, res, EBUCORE.width):
        out.append("an image's width is one positive integer")
    if not _one_positive_integer(g, res, EBUCORE.height):
        out.append("an image's height is one positive integer")
    ids = list(g.objects(res, MEM.imageId))
    if len(ids) > 1 or any(not IMAGE_ID_PATTERN.match(str(i)) for i in ids):
        out.append("mem:imageId is a safe image identifier")


def _in_range(values: list[Node], low: int, high: int) -> bool:
    if len(values) > 1:
        return False
    for v in values:
        number = _decimal(v)
        if number is None or not low <= number <= high:
            return False
    return True


def _check_place(g: Graph, place: Node, out: list[str]) -> None:
    if not _in_range(list(g.objects(place, WGS84.lat)), -90, 90):
        out.append("latitude is one decimal between -90 and 90")
    if not _in_range(list(g.objects(place, WGS84.long)), -180, 180):
        out.append("longitude is one decimal between -180 and 180")


def _labelled(message: str) -> Callable[[Graph, Node, list[str]], None]:
    def check(g: Graph, node: Node, out: list[str]) -> None:
        if (node, SKOS.prefLabel, None) not in g:
            out.append(message)
    return check


def _check_timespan(g: Graph, span: Node, out: list[str]) -> None:
    _labelled("a time span keeps its original text as skos:prefLabel")(g, span, out)
    begins = list(g.objects(span, MEM.beginYear))
    ends = list(g.objects(span, MEM.endYear))
    begin_ok = len(begins) <= 1 and all(_integer(b) is not None for b in begins)
    if begin_ok and begins and ends:
        begin_ok = all((_integer(b) or 0) <= (_integer(e) or 0) for b in begins for e in ends)
    if not begin_ok:
        out.append("a time span's begin year is one integer, not after its end year")
    if len(ends) > 1 or any(_integer(e) is None for e in ends):
        out.append("a time span has at most one end year")


CHECKS: tuple[tuple[URIRef, Callable[[Graph, Node, list[str]], None]], ...] = (
    (EDM.ProvidedCHO, _check_cho),
    (ORE.Aggregation, _check_aggregation),
    (EDM.WebResource, _check_web_resource),
    (EDM.Place, _check_place),
    (EDM.Agent, _labelled("an agent has a skos:prefLabel")),
    (SKOS.Concept, _labelled("a concept has a skos:prefLabel")),
    (EDM.TimeSpan, _check_timespan),
)


def record_errors(graph: Graph) -> list[str]:
    """Every way a record graph breaks the record shape (empty when it conforms)."""
    errors: list[str] = []
    chos = set(graph.subjects(RDF.type, EDM.ProvidedCHO))
    if len(chos) != 1:
        errors.append(f"a record describes exactly one edm:ProvidedCHO (found {len(chos)})")
    for cls, check in CHECKS:
        for node in sorted(set(graph.subjects(RDF.type, cls)), key=str):
            check(graph, node, errors)
    return list(dict.fromkeys(errors))
