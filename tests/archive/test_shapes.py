"""The SHACL shapes (schemas/record.shacl.ttl) and the compiled checks agree, record by record."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pyshacl import validate as shacl_validate
from rdflib import Graph, Literal, URIRef

from archive import vocab
from archive.ids import Minter
from archive.record import ImageFile, RecordBuilder
from archive.recordgraph import RecordGraph
from archive.validate import SHAPES_PATH, record_errors
from archive.vocab import DC, DCTERMS, EBUCORE, EDM, MEM, RDF, SKOS, WGS84

XSD_INTEGER = vocab.XSD.integer
XSD_DECIMAL = vocab.XSD.decimal

MINTER = Minter("http://memoria.test")
SHAPES = Graph().parse(SHAPES_PATH)


def good_record() -> RecordBuilder:
    b = RecordBuilder(MINTER, "demo-1")
    b.add_literal(DC.title, "陈家祠", "zh-Hans")
    b.add_literal(DC.title, "Chen Clan Ancestral Hall", "en")
    b.add_agent(DC.creator, "Unknown builders")
    b.add_concept("ancestral halls", "en")
    b.add_place("Guangzhou", 23.1259, 113.2446)
    b.add_date("1888-1894")
    b.set_type("IMAGE")
    b.set_rights("https://creativecommons.org/publicdomain/zero/1.0/")
    b.set_providers("Memoria demo")
    b.set_parent("demo-s1", order=2)
    b.set_level("item")
    b.add_image(ImageFile("GZ-0001", Path("x.jpg"), "x.jpg", "image/jpeg", 100, 80))
    return b


BREAKAGES: dict[str, Callable[[RecordBuilder], None]] = {
    "no title or description": lambda b: b.graph.remove((b.cho, DC.title, None)),
    "no edm:type": lambda b: b.graph.remove((b.cho, EDM.type, None)),
    "bad edm:type": lambda b: b.graph.set((b.cho, EDM.type, Literal("PAINTING"))),
    "two parents": lambda b: b.graph.add((b.cho, DCTERMS.isPartOf,
                                          URIRef(MINTER.item("demo-s2")))),
    "literal parent": lambda b: b.graph.set((b.cho, DCTERMS.isPartOf, Literal("demo-s1"))),
    "order not integer": lambda b: b.graph.set((b.cho, MEM.order, Literal("second"))),
    "unknown level": lambda b: b.graph.set((b.cho, MEM.level, Literal("drawer"))),
    "creator not an agent": lambda b: b.graph.add((b.cho, DC.creator, URIRef("http://x/y"))),
    "no rights": lambda b: b.graph.remove((b.aggregation, EDM.rights, None)),
    "rights not a known URI": lambda b: b.graph.set((b.aggregation, EDM.rights,
                                                     URIRef("http://example.org/mine"))),
    "rights as literal": lambda b: b.graph.set((b.aggregation, EDM.rights, Literal("CC0"))),
    "two data providers": lambda b: b.graph.add((b.aggregation, EDM.dataProvider,
                                                 Literal("Other"))),
    "no provider": lambda b: b.graph.remove((b.aggregation, EDM.provider, None)),
    "negative width": lambda b: b.graph.set((
        URIRef(MINTER.image("GZ-0001")), EBUCORE.width, Literal(-5, datatype=XSD_INTEGER))),
    "unsafe image id": lambda b: b.graph.set((
        URIRef(MINTER.image("GZ-0001")), MEM.imageId, Literal("../../etc"))),
    "latitude out of range": lambda b: b.graph.set((
        URIRef(MINTER.entity("demo-1", "place", 1)), WGS84.lat,
        Literal("123.5", datatype=XSD_DECIMAL))),
    "agent without label": lambda b: b.graph.remove((
        URIRef(MINTER.entity("demo-1", "agent", 1)), SKOS.prefLabel, None)),
    "timespan begins after it ends": lambda b: b.graph.set((
        URIRef(MINTER.entity("demo-1", "timespan", 1)), MEM.beginYear,
        Literal(2000, datatype=XSD_INTEGER))),
    "aggregation without CHO": lambda b: b.graph.remove((b.aggregation, EDM.aggregatedCHO, None)),
    "shown-by not a web resource": lambda b: b.graph.remove((
        URIRef(MINTER.image("GZ-0001")), RDF.type, EDM.WebResource)),
}


def shacl_conforms(graph: RecordGraph) -> bool:
    conforms, _, _ = shacl_validate(graph.to_rdflib(), shacl_graph=SHAPES, inference="none")
    return bool(conforms)


def test_a_good_record_passes_both() -> None:
    g = good_record().graph
    assert record_errors(g) == []
    assert shacl_conforms(g)


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_each_breakage_fails_both(breakage: str) -> None:
    b = good_record()
    BREAKAGES[breakage](b)
    errors = record_errors(b.graph)
    assert errors, f"compiled checks missed: {breakage}"
    assert not shacl_conforms(b.graph), f"SHACL shapes missed: {breakage}"


def test_messages_come_from_the_shapes_file() -> None:
    b = good_record()
    BREAKAGES["no rights"](b)
    messages = {str(m) for m in SHAPES.objects(None, URIRef("http://www.w3.org/ns/shacl#message"))}
    assert set(record_errors(b.graph)) <= messages


def test_an_rdflib_graph_is_checked_the_same() -> None:
    b = good_record()
    BREAKAGES["two data providers"](b)
    assert record_errors(b.graph.to_rdflib()) == record_errors(b.graph) != []
