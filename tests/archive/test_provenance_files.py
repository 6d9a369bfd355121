"""The provenance written from a template equals what the serialiser makes of its statements."""

from __future__ import annotations

import pyoxigraph as ox
import pytest

from archive.rdfio import serialize_stored
from archive.service import Archive, Provenance
from archive.settings import Settings
from archive.state import utc_now
from archive.vocab import DCTERMS, MEM, PROV, RDF, XSD

ODD = [
    ("data/records.csv", "line 2", "20261121T154202Z-972ec7", "csv", "1.0"),
    ('quote " and \\ back', "xpath /a/b[2]\nnext line\ttab", "b", "dc", "2.1"),
    ("http://memoria.test/record/x", "OAI oai:x:1 — 中文 ñ", "b", "oai", "1"),
    ("\u0000\u0007\u007f odd controls \U0001F600", "<pos>", "b", "r", "v"),
]


def reference_triples(archive: Archive, rid: str, prov: Provenance) -> list[ox.Triple]:
    """The provenance statements of one ingest, as terms (what the template must write)."""
    entity = ox.NamedNode(archive.minter.graph(rid))
    activity = ox.NamedNode(f"{archive.minter.graph(rid)}#ingest")

    def iri(term: object) -> ox.NamedNode:
        return ox.NamedNode(str(term))

    return [
        ox.Triple(entity, iri(RDF.type), iri(PROV.Entity)),
        ox.Triple(entity, iri(PROV.wasGeneratedBy), activity),
        ox.Triple(entity, iri(DCTERMS.source), ox.Literal(prov.source)),
        ox.Triple(entity, iri(MEM.position), ox.Literal(prov.position)),
        ox.Triple(activity, iri(RDF.type), iri(PROV.Activity)),
        ox.Triple(activity, iri(MEM.batch), ox.Literal(prov.batch_id)),
        ox.Triple(activity, iri(MEM.reader), ox.Literal(f"{prov.reader} {prov.reader_version}")),
        ox.Triple(activity, iri(PROV.endedAtTime),
                  ox.Literal(utc_now(), datatype=iri(XSD.dateTime))),
    ]


@pytest.mark.parametrize("values", ODD)
def test_template_equals_the_serialiser(settings: Settings, values: tuple[str, ...]) -> None:
    archive = Archive(settings)
    prov = Provenance(*values)
    stored, nquads = archive._provenance_files("museo-1", prov)
    triples = reference_triples(archive, "museo-1", prov)
    # The time is taken once per call: line it up before comparing.
    time = next(t.object for t in triples if str(t.predicate).endswith("endedAtTime>"))
    written = next(q.object for q in ox.parse(nquads, format=ox.RdfFormat.N_QUADS)
                   if str(q.predicate).endswith("endedAtTime>"))
    triples = [ox.Triple(t.subject, t.predicate, written) if t.object == time else t
               for t in triples]
    assert stored == serialize_stored(triples, settings.base_url)
    quads = list(ox.parse(nquads, format=ox.RdfFormat.N_QUADS))
    assert sorted(str(q.triple) for q in quads) == sorted(str(t) for t in triples)
    assert {q.graph_name for q in quads} == {ox.NamedNode(archive.minter.graph("museo-1"))}
