"""EDM in RDF: the real RDF/XML corpus through run_batch, Turtle and JSON-LD, hostile input."""

from __future__ import annotations

from pathlib import Path

import pytest
from rdflib import Graph, Literal, URIRef

from archive.ids import Minter
from archive.service import Archive
from archive.settings import Settings
from archive.vocab import DC, DCTERMS, EDM, MEM, OWL, SKOS, WGS84
from ingest.pipeline import run_batch
from ingest.rdf_reader import RdfReader
from ingest.reader import ReadContext, Rejection, SourceRecord
from tests.conftest import BASE_URL, CORPUS

EDM_FILE = CORPUS / "edm_rdf" / "ut-benson_relaciones-geograficas_edm.rdf"
MINTER = Minter(BASE_URL)
SOURCE_CHO = "https://unlockingarchives.com/relaciones/cho/20c443dd-6b30-4629-8ddf-04c9703bdd3e"


def drafts(path: Path, **options: object) -> dict[str, tuple[Graph, list[str]]]:
    reader, context = RdfReader(), ReadContext(MINTER, "Memoria", dict(options))
    out = {}
    for item in reader.read(path, context):
        assert isinstance(item, SourceRecord), item
        draft = reader.to_rdf(item, context)
        out[item.local_id or ""] = (draft.graph, draft.warnings)
    return out


def cho_of(graph: Graph) -> URIRef:
    return next(s for s in graph.subjects(None, EDM.ProvidedCHO) if isinstance(s, URIRef))


def agg_of(graph: Graph) -> URIRef:
    return next(s for s in graph.subjects(EDM.aggregatedCHO, None) if isinstance(s, URIRef))


def test_all_81_chos_go_in_with_their_places(settings: Settings) -> None:
    with Archive(settings).open() as archive:
        report = run_batch(archive, RdfReader(), EDM_FILE)
        assert report.counts() == {"input": 81, "accepted": 81, "rejected": 0, "created": 81}
        located = set()
        for rid in archive.ids():
            record = archive.get(rid)
            assert record is not None
            located |= {p for p in record.graph.subjects(WGS84.lat, None)}
        source = Graph().parse(EDM_FILE, format="xml")
        assert len(located) == len(set(source.subjects(WGS84.lat, None))) == 76
        rid = next(a.record_id for a in report.accepted if a.position == f"<{SOURCE_CHO}>")
        stored = archive.storage.read(rid, "source/record.ttl").decode()
        assert SOURCE_CHO in stored


def test_sampled_cho_against_the_source() -> None:
    g, warnings = drafts(EDM_FILE)[SOURCE_CHO]
    cho, agg = cho_of(g), agg_of(g)
    assert cho != URIRef(SOURCE_CHO)
    assert (cho, OWL.sameAs, URIRef(SOURCE_CHO)) in g
    assert Literal("utblac:20c443dd-6b30-4629-8ddf-04c9703bdd3e") in set(
        g.objects(cho, DC.identifier))
    creator = URIRef("https://unlockingarchives.com/relaciones/agent/trevino-diosdado")
    assert (cho, DC.creator, creator) in g
    assert (creator, SKOS.prefLabel, Literal("Treviño, Diosdado")) in g
    place = URIRef("https://unlockingarchives.com/relaciones/place/santamariapeñoles")
    assert (cho, DCTERMS.spatial, place) in g
    assert float(str(next(g.objects(place, WGS84.lat)))) == pytest.approx(17.079163)
    assert float(str(next(g.objects(place, WGS84.long)))) == pytest.approx(-97.002235)
    span = next(g.objects(cho, DCTERMS.issued))
    assert (span, MEM.beginYear, Literal(1579)) in g
    assert (agg, EDM.rights, URIRef("https://creativecommons.org/publicdomain/mark/1.0/")) in g
    assert any("taken from its web resources" in w for w in warnings)
    assert (agg, EDM.isShownAt, URIRef(
        "https://collections.lib.utexas.edu/catalog/utblac:20c443dd-6b30-4629-8ddf-04c9703bdd3e"
    )) in g
    assert str(next(g.objects(agg, EDM.isShownBy))).endswith(
        "utblac_20c443dd-6b30-4629-8ddf-04c9703bdd3e.jpg")
    assert any(w.endswith(".pdf is not an image; kept only in the source") for w in warnings)
    assert any("edm:isRelatedTo" in w and w.startswith("kept only in the source") for w in warnings)
    assert (cho, DC.language, Literal("es")) in g  # "Spanish"@en


def test_not_an_edm_type_is_read_with_a_note() -> None:
    records = drafts(EDM_FILE)
    maps = [g for g, w in records.values()
            if any("edm:type 'maps (documents)' is not an EDM type; read as IMAGE" in x
                   for x in w)]
    assert len(maps) == 37
    assert all((cho_of(g), EDM.type, Literal("IMAGE")) in g for g in maps)


TURTLE = """
@prefix edm: <http://www.europeana.eu/schemas/edm/> . @prefix ore: <http://www.openarchives.org/ore/terms/> .
@prefix dc: <http://purl.org/dc/elements/1.1/> . @prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix dcterms: <http://purl.org/dc/terms/> .
<http://ex.org/cho/1> a edm:ProvidedCHO ; dc:title "Templo"@es ; edm:type "IMAGE" ;
  dc:subject <http://ex.org/c/1> ; dcterms:temporal <http://ex.org/t/1> .
<http://ex.org/c/1> a skos:Concept ; skos:prefLabel "templos"@es .
<http://ex.org/t/1> a edm:TimeSpan ; skos:prefLabel "1575" ; edm:begin "1575" ; edm:end "1575" .
<http://ex.org/agg/1> a ore:Aggregation ; edm:aggregatedCHO <http://ex.org/cho/1> ;
  edm:rights <http://creativecommons.org/publicdomain/zero/1.0/> ; edm:dataProvider "Museo" .
"""


def test_turtle_and_json_ld(tmp_path: Path) -> None:
    ttl = tmp_path / "one.ttl"
    ttl.write_text(TURTLE, encoding="utf-8")
    g, _ = drafts(ttl)["http://ex.org/cho/1"]
    cho = cho_of(g)
    assert (cho, DC.subject, URIRef("http://ex.org/c/1")) in g
    span = next(g.objects(cho, DCTERMS.temporal))
    assert (span, MEM.beginYear, Literal(1575)) in g
    assert (agg_of(g), EDM.dataProvider, Literal("Museo")) in g
    jsonld = tmp_path / "one.jsonld"
    jsonld.write_text(Graph().parse(data=TURTLE, format="turtle").serialize(
        format="json-ld", auto_compact=True), encoding="utf-8")
    again, _ = drafts(jsonld)["http://ex.org/cho/1"]
    assert Literal("Templo", lang="es") in set(again.objects(cho_of(again), DC.title))


@pytest.mark.parametrize("name, text, reason", [
    ("remote.jsonld", '{"@context": "https://example.org/ctx.jsonld", "@id": "x"}',
     "would be fetched from the network"),
    ("dtd.rdf", '<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">&e;</rdf:RDF>',
     "entity"),
    ("doctype.rdf", '<!DOCTYPE rdf:RDF []>'
                    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>',
     "DOCTYPE is not allowed"),
    ("broken.ttl", "<a> <b> .", "cannot read as turtle"),
    ("empty.ttl", "<http://a/> <http://b/> <http://c/> .", "no edm:ProvidedCHO"),
])
def test_hostile_or_useless_files_are_one_rejection(tmp_path: Path, name: str, text: str,
                                                    reason: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    items = list(RdfReader().read(path, ReadContext(MINTER, "Memoria")))
    assert len(items) == 1 and isinstance(items[0], Rejection), items
    assert reason in items[0].reason
