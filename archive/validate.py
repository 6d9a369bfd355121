"""Per-record checks compiled from schemas/record.shacl.ttl (pyshacl per record is ~100x slower).

tests/archive/test_shapes.py runs pyshacl with the shapes file and these checks on the same
good and bad records and asserts they agree, so the shapes stay the one written definition.
The checks read a RecordGraph (pyoxigraph terms, the ingest's light graph); an rdflib Graph is
converted first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyoxigraph as ox
from rdflib import Graph

from archive.rdfio import graph_to_ox
from archive.record import iri
from archive.recordgraph import OxSubject, OxTerm, RecordGraph
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
RDF_LANGSTRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
XSD_STRING = str(XSD.string)
XSD_INTEGER = str(XSD.integer)
XSD_DECIMAL = str(XSD.decimal)
_TYPE = iri(RDF.type)
# The properties and classes the checks read, made once.
_DCTERMS_CREATED = iri(DCTERMS.created)
_DCTERMS_IS_PART_OF = iri(DCTERMS.isPartOf)
_DCTERMS_SPATIAL = iri(DCTERMS.spatial)
_DC_CREATOR = iri(DC.creator)
_DC_DESCRIPTION = iri(DC.description)
_DC_TITLE = iri(DC.title)
_EBUCORE_HEIGHT = iri(EBUCORE.height)
_EBUCORE_WIDTH = iri(EBUCORE.width)
_EDM_AGENT = iri(EDM.Agent)
_EDM_AGGREGATED_CHO = iri(EDM.aggregatedCHO)
_EDM_DATA_PROVIDER = iri(EDM.dataProvider)
_EDM_HAS_VIEW = iri(EDM.hasView)
_EDM_IS_SHOWN_BY = iri(EDM.isShownBy)
_EDM_PLACE = iri(EDM.Place)
_EDM_PROVIDED_CHO = iri(EDM.ProvidedCHO)
_EDM_PROVIDER = iri(EDM.provider)
_EDM_RIGHTS = iri(EDM.rights)
_EDM_TIME_SPAN = iri(EDM.TimeSpan)
_EDM_TYPE = iri(EDM.type)
_EDM_WEB_RESOURCE = iri(EDM.WebResource)
_MEM_BEGIN_YEAR = iri(MEM.beginYear)
_MEM_END_YEAR = iri(MEM.endYear)
_MEM_IMAGE_ID = iri(MEM.imageId)
_MEM_LEVEL = iri(MEM.level)
_MEM_ORDER = iri(MEM.order)
_SKOS_PREF_LABEL = iri(SKOS.prefLabel)
_WGS84_LAT = iri(WGS84.lat)
_WGS84_LONG = iri(WGS84.long)
_LINKED = ((_DC_CREATOR, _EDM_AGENT, "dc:creator points at an edm:Agent"),
           (_DCTERMS_SPATIAL, _EDM_PLACE, "dcterms:spatial points at an edm:Place"),
           (_DCTERMS_CREATED, _EDM_TIME_SPAN, "dcterms:created points at an edm:TimeSpan"))


def _typed(value: OxTerm, datatype: str) -> bool:
    return isinstance(value, ox.Literal) and value.datatype.value == datatype


def _integer(value: OxTerm) -> int | None:
    if not _typed(value, XSD_INTEGER):
        return None
    try:
        return int(value.value)
    except ValueError:
        return None


def _decimal(value: OxTerm) -> Decimal | None:
    if not _typed(value, XSD_DECIMAL):
        return None
    try:
        return Decimal(value.value)
    except InvalidOperation:
        return None


def _is_a(graph: RecordGraph, node: OxTerm, cls: ox.NamedNode) -> bool:
    return not isinstance(node, ox.Literal) and graph.has(node, _TYPE, cls)


def _v(g: RecordGraph, node: OxSubject, prop: ox.NamedNode) -> Sequence[OxTerm]:
    return g.view(node, prop)  # read only: not copied


def _check_cho(g: RecordGraph, cho: OxSubject, out: list[str]) -> None:
    titles = _v(g, cho, _DC_TITLE)
    if not titles and not _v(g, cho, _DC_DESCRIPTION):
        out.append("a record needs a dc:title or a dc:description")
    types = _v(g, cho, _EDM_TYPE)
    if len(types) != 1 or types[0].value not in EDM_TYPES:
        out.append("edm:type must be exactly one of TEXT, IMAGE, SOUND, VIDEO, 3D")
    for title in titles:
        ok = isinstance(title, ox.Literal) and (
            title.datatype.value in (XSD_STRING, RDF_LANGSTRING))
        if not ok or not 1 <= len(title.value) <= 10000:
            out.append("a title is a non-empty string of at most 10,000 characters")
            break
    parents = _v(g, cho, _DCTERMS_IS_PART_OF)
    if len(parents) > 1 or any(not isinstance(p, ox.NamedNode) for p in parents):
        out.append("a record is part of at most one parent, named by IRI")
    orders = _v(g, cho, _MEM_ORDER)
    if len(orders) > 1 or any(_integer(o) is None for o in orders):
        out.append("mem:order is one integer")
    levels = _v(g, cho, _MEM_LEVEL)
    if len(levels) > 1 or any(v.value not in ARCHIVAL_LEVELS for v in levels):
        out.append("mem:level must be an archival level (collection, fonds, series, file, item...)")
    for prop, cls, message in _LINKED:
        if any(not isinstance(v, ox.NamedNode) or not _is_a(g, v, cls)
               for v in _v(g, cho, prop)):
            out.append(message)


def _check_aggregation(g: RecordGraph, agg: OxSubject, out: list[str]) -> None:
    chos = _v(g, agg, _EDM_AGGREGATED_CHO)
    if len(chos) != 1 or not _is_a(g, chos[0], _EDM_PROVIDED_CHO):
        out.append("an aggregation aggregates exactly one edm:ProvidedCHO")
    rights = _v(g, agg, _EDM_RIGHTS)
    if len(rights) != 1 or not isinstance(rights[0], ox.NamedNode) or not RIGHTS_PATTERN.match(
        rights[0].value
    ):
        out.append("edm:rights is exactly one RightsStatements.org or Creative Commons URI")
    if len(_v(g, agg, _EDM_DATA_PROVIDER)) != 1:
        out.append("an aggregation names exactly one edm:dataProvider")
    if len(_v(g, agg, _EDM_PROVIDER)) != 1:
        out.append("an aggregation names exactly one edm:provider")
    shown_by = _v(g, agg, _EDM_IS_SHOWN_BY)
    if len(shown_by) > 1 or any(not _is_a(g, v, _EDM_WEB_RESOURCE) for v in shown_by):
        out.append("edm:isShownBy is at most one edm:WebResource")
    if any(not _is_a(g, v, _EDM_WEB_RESOURCE) for v in _v(g, agg, _EDM_HAS_VIEW)):
        out.append("edm:hasView points at edm:WebResources")


def _one_positive_integer(g: RecordGraph, node: OxSubject, prop: ox.NamedNode) -> bool:
    values = _v(g, node, prop)
    return len(values) <= 1 and all((_integer(v) or 0) > 0 for v in values)


def _check_web_resource(g: RecordGraph, res: OxSubject, out: list[str]) -> None:
    if not _one_positive_integer(g, res, _EBUCORE_WIDTH):
        out.append("an image's width is one positive integer")
    if not _one_positive_integer(g, res, _EBUCORE_HEIGHT):
        out.append("an image's height is one positive integer")
    ids = _v(g, res, _MEM_IMAGE_ID)
    if len(ids) > 1 or any(not IMAGE_ID_PATTERN.match(i.value) for i in ids):
        out.append("mem:imageId is a safe image identifier")


def _in_range(values: Sequence[OxTerm], low: int, high: int) -> bool:
    if len(values) > 1:
        return False
    for v in values:
        number = _decimal(v)
        if number is None or not low <= number <= high:
            return False
    return True


def _check_place(g: RecordGraph, place: OxSubject, out: list[str]) -> None:
    if not _in_range(_v(g, place, _WGS84_LAT), -90, 90):
        out.append("latitude is one decimal between -90 and 90")
    if not _in_range(_v(g, place, _WGS84_LONG), -180, 180):
        out.append("longitude is one decimal between -180 and 180")


Check = Callable[[RecordGraph, OxSubject, list[str]], None]


def _labelled(message: str) -> Check:
    def check(g: RecordGraph, node: OxSubject, out: list[str]) -> None:
        if not _v(g, node, _SKOS_PREF_LABEL):
            out.append(message)
    return check


_check_timespan_label = _labelled("a time span keeps its original text as skos:prefLabel")


def _check_timespan(g: RecordGraph, span: OxSubject, out: list[str]) -> None:
    _check_timespan_label(g, span, out)
    begins = _v(g, span, _MEM_BEGIN_YEAR)
    ends = _v(g, span, _MEM_END_YEAR)
    begin_ok = len(begins) <= 1 and all(_integer(b) is not None for b in begins)
    if begin_ok and begins and ends:
        begin_ok = all((_integer(b) or 0) <= (_integer(e) or 0) for b in begins for e in ends)
    if not begin_ok:
        out.append("a time span's begin year is one integer, not after its end year")
    if len(ends) > 1 or any(_integer(e) is None for e in ends):
        out.append("a time span has at most one end year")


CHECKS: tuple[tuple[str, Check], ...] = (
    (EDM.ProvidedCHO, _check_cho),
    (ORE.Aggregation, _check_aggregation),
    (EDM.WebResource, _check_web_resource),
    (EDM.Place, _check_place),
    (EDM.Agent, _labelled("an agent has a skos:prefLabel")),
    (SKOS.Concept, _labelled("a concept has a skos:prefLabel")),
    (EDM.TimeSpan, _check_timespan),
)


_CHO = iri(EDM.ProvidedCHO)
_COMPILED = tuple((iri(cls), check) for cls, check in CHECKS)


def record_errors(graph: RecordGraph | Graph) -> list[str]:
    """Every way a record graph breaks the record shape (empty when it conforms)."""
    if isinstance(graph, Graph):
        graph = RecordGraph(graph_to_ox(graph))
    errors: list[str] = []
    # One pass over the subjects for the classes every check needs (not one per class).
    typed: dict[ox.NamedNode, list[OxSubject]] = {}
    for node, types in graph.subjects_and_types(_TYPE):
        for cls in types:
            typed.setdefault(cls, []).append(node)  # type: ignore[arg-type]
    chos = typed.get(_CHO, [])
    if len(chos) != 1:
        errors.append(f"a record describes exactly one edm:ProvidedCHO (found {len(chos)})")
    for cls, check in _COMPILED:
        for node in sorted(typed.get(cls, ()), key=lambda n: n.value):
            check(graph, node, errors)
    return list(dict.fromkeys(errors))
