"""The light record graph: same statements and documents as rdflib, and hierarchies in bulk."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox
from rdflib import Literal, URIRef

from archive import vocab
from archive.ids import Minter
from archive.rdfio import parse_stored, serialize_stored, stored_and_nquads, to_nquads
from archive.record import ImageFile, RecordBuilder
from archive.recordgraph import RecordGraph
from archive.service import Archive
from archive.settings import Settings
from archive.vocab import DC, DCTERMS, EDM, MEM, RDF, SKOS
from ingest.mapping import load_mapping
from ingest.pipeline import run_batch
from ingest.registry import get_reader
from search.backend import SearchQuery
from search.document import record_document

MINTER = Minter("http://memoria.test")


def _builder() -> RecordBuilder:
    b = RecordBuilder(MINTER, "demo-7")
    b.add_literal(DC.title, "广州陈家祠", "zh-Hans")
    b.add_literal(DC.title, "Chen Clan Hall", "en")
    b.add_literal(DC.description, 'A "quoted"\nline and a tab\t.')
    b.add_agent(DC.creator, "Unknown builders")
    b.add_concept("ancestral halls", "en")
    b.add_place("Guangzhou", 23.1259, 113.2446)
    b.add_date("1888-1894")
    b.set_type("image")
    b.set_rights("https://creativecommons.org/publicdomain/zero/1.0/")
    b.set_providers("Memoria demo")
    b.set_parent("demo-1", order=3)
    b.set_level("Item")
    b.add_image(ImageFile("GZ-7", Path("x.jpg"), "x.jpg", "image/jpeg", 100, 80))
    b.add_remote_image("https://images.example/iiif/a/full/max/0/default.jpg",
                       service="https://images.example/iiif/a", width=10, height=20)
    return b


def test_statements_round_trip_through_storage_unchanged() -> None:
    graph = _builder().graph
    stored = serialize_stored(graph, "http://memoria.test")
    assert stored == serialize_stored(graph.to_rdflib(), "http://memoria.test")
    assert set(parse_stored(stored, "http://memoria.test")) == set(graph.ox_triples())
    assert b'"1888"^^<http://www.w3.org/2001/XMLSchema#integer>' in stored
    assert b'"23.1259"^^<http://www.w3.org/2001/XMLSchema#decimal>' in stored
    assert b'"\\u5e7f\\u5dde' not in stored and "广州陈家祠".encode() in stored


def test_stored_and_nquads_in_one_walk_are_the_same_bytes() -> None:
    graph = _builder().graph
    name = MINTER.graph("demo-7")
    stored, nquads = stored_and_nquads(graph, "http://memoria.test/", name)
    assert stored == serialize_stored(graph, "http://memoria.test")
    assert nquads == to_nquads(graph.ox_triples(), name)
    assert nquads is not None and b"<item/" not in nquads and b"<item/demo-7>" in stored
    # A blank node anywhere: no N-Quads (as to_nquads), record.ttl all the same.
    graph.add_ox(ox.BlankNode("b0"), ox.NamedNode(str(RDF.type)), ox.NamedNode(str(EDM.Agent)))
    stored, nquads = stored_and_nquads(graph, "http://memoria.test", name)
    assert nquads is None and to_nquads(graph.ox_triples(), name) is None
    assert stored == serialize_stored(graph, "http://memoria.test") and b"_:b0" in stored


def test_coordinates_written_any_way_give_the_rdflib_numbers() -> None:
    lat, lon = ox.NamedNode(str(vocab.WGS84.lat)), ox.NamedNode(str(vocab.WGS84.long))
    decimal = ox.NamedNode("http://www.w3.org/2001/XMLSchema#decimal")
    for text_lat, text_lon in (("007.50", "-0.25"), ("+3.0", ".5"), ("1e1", "12")):
        graph = _builder().graph
        place = next(s for s, by_pred in graph.by_subject() if lat in by_pred)
        graph.set_ox(place, lat, ox.Literal(text_lat, datatype=decimal))
        graph.set_ox(place, lon, ox.Literal(text_lon, datatype=decimal))
        light = record_document(graph, "demo-7", MINTER)  # type: ignore[arg-type]
        assert light == record_document(graph.to_rdflib(), "demo-7", MINTER)
        assert light["location"] == {"lat": float(text_lat), "lon": float(text_lon)}


def test_the_search_document_is_the_same_from_rdflib() -> None:
    graph = _builder().graph
    light = record_document(graph, "demo-7", MINTER)  # type: ignore[arg-type]
    assert light == record_document(graph.to_rdflib(), "demo-7", MINTER)
    assert light["title"]["zh"] == ["广州陈家祠"] and light["order"] == 3
    assert (light["year_begin"], light["year_end"]) == (1888, 1894)


def test_rdflib_style_calls() -> None:
    b = _builder()
    g = b.graph
    assert (b.cho, RDF.type, EDM.ProvidedCHO) in g
    assert (b.cho, DC.title, Literal("Chen Clan Hall", lang="en")) in g
    assert sorted(str(t) for t in g.objects(b.cho, DC.title)) == ["Chen Clan Hall", "广州陈家祠"]
    assert list(g.subjects(EDM.aggregatedCHO, b.cho)) == [b.aggregation]
    assert g.value(b.cho, MEM.level) == Literal("item")
    g.set((b.cho, MEM.level, Literal("file")))
    assert list(g.objects(b.cho, MEM.level)) == [Literal("file")]
    before = len(g)
    g.add((b.cho, MEM.level, Literal("file")))  # a set: repeated statements are kept once
    assert len(g) == before
    g.remove((b.cho, DC.title, None))
    assert not list(g.objects(b.cho, DC.title))
    assert len(g) == before - 2 == len(g.to_rdflib())
    agent = URIRef(MINTER.entity("demo-7", "agent", 1))
    assert (agent, SKOS.prefLabel, Literal("Unknown builders")) in g
    assert b.objects(DCTERMS.isPartOf) == [URIRef(MINTER.item("demo-1"))]


def test_bad_values_are_refused_when_built() -> None:
    b = RecordBuilder(MINTER, "demo-8")
    for bad in (lambda: b.add_same_as("http://example.org/a b"),
                lambda: b.add_literal(DC.title, "x", "not a tag")):
        try:
            bad()
        except ValueError:
            continue
        raise AssertionError("a bad value went into the record")
    assert len(RecordGraph(b.graph.ox_triples())) == len(b.graph) == 3
    assert all(isinstance(t, ox.Triple) for t in b.graph.ox_triples())


def test_bulk_documents_know_their_ancestors(settings: Settings, sample_source: Path) -> None:
    with Archive(settings).open() as archive:
        options = {"mapping": load_mapping(sample_source / "mapping.toml"),
                   "images_dir": sample_source}
        report = run_batch(archive, get_reader("csv"), sample_source / "records.csv",
                           options=options)
        assert len(report.accepted) == 4
        within_fonds = archive.search(SearchQuery(within="museo-F1", size=10))
        assert sorted(h.id for h in within_fonds.hits) == ["museo-I1", "museo-I2", "museo-S1"]
        within_series = archive.search(SearchQuery(within="museo-S1", size=10))
        assert sorted(h.id for h in within_series.hits) == ["museo-I1", "museo-I2"]
        assert archive.search(SearchQuery(within="museo-I1", size=10)).total == 0


def test_terms_come_back_as_rdflib_makes_them() -> None:
    from archive.recordgraph import from_ox

    cases = [
        (ox.Literal("Obj 中", language="zh-hans"), Literal("Obj 中", lang="zh-hans")),
        (ox.Literal("plain"), Literal("plain")),
        (ox.Literal("1890", datatype=ox.NamedNode(str(vocab.XSD.integer))),
         Literal("1890", datatype=vocab.XSD.integer)),
        (ox.NamedNode("http://memoria.test/item/a#place-1"),
         URIRef("http://memoria.test/item/a#place-1")),
    ]
    for term, expected in cases:
        made = from_ox(term)
        assert type(made) is type(expected) and made == expected and made.eq(expected)
        assert hash(made) == hash(expected) and repr(made) == repr(expected)
        if isinstance(expected, Literal):
            assert (made.value, made.language, made.datatype) == \
                (expected.value, expected.language, expected.datatype)
