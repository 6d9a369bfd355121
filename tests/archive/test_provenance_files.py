"""The provenance written from a template equals what the serialiser makes of its statements."""

from __future__ import annotations

import pyoxigraph as ox
import pytest

from archive.rdfio import serialize_stored
from archive.service import Archive, Provenance
from archive.settings import Settings

ODD = [
    ("data/records.csv", "line 2", "20261121T154202Z-972ec7", "csv", "1.0"),
    ('quote " and \\ back', "xpath /a/b[2]\nnext line\ttab", "b", "dc", "2.1"),
    ("http://memoria.test/record/x", "OAI oai:x:1 — 中文 ñ", "b", "oai", "1"),
    ("\u0000\u0007\u007f odd controls \U0001F600", "<pos>", "b", "r", "v"),
]


@pytest.mark.parametrize("values", ODD)
def test_template_equals_the_serialiser(settings: Settings, values: tuple[str, ...]) -> None:
    archive = Archive(settings)
    prov = Provenance(*values)
    stored, nquads = archive._provenance_files("museo-1", prov)
    triples = archive._provenance_triples("museo-1", prov)
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
