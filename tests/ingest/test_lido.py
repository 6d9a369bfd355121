"""LIDO: the real corpus through run_batch, sampled fields against the source, OAI-PMH routing."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from rdflib import Graph, Literal, URIRef

from archive.ids import Minter
from archive.service import Archive
from archive.settings import Settings
from archive.vocab import DC, DCTERMS, EBUCORE, EDM, MEM, SKOS, WGS84
from ingest.lido_reader import LidoReader
from ingest.pipeline import run_batch
from ingest.reader import ReadContext, RecordRejected, Rejection, SourceRecord
from tests.conftest import BASE_URL, CORPUS

LIDO = CORPUS / "lido"
MINTER = Minter(BASE_URL)


def drafts(path: Path) -> dict[str, Graph]:
    """Every record of a file mapped by the reader, by local id."""
    reader, context = LidoReader(), ReadContext(MINTER, "Memoria")
    out = {}
    for item in reader.read(path, context):
        assert isinstance(item, SourceRecord)
        out[item.local_id or ""] = reader.to_rdf(item, context).graph
    return out


def cho_of(graph: Graph) -> URIRef:
    return next(s for s in graph.subjects(None, EDM.ProvidedCHO) if isinstance(s, URIRef))


def aggregation_of(graph: Graph) -> URIRef:
    return next(s for s in graph.subjects(EDM.aggregatedCHO, None) if isinstance(s, URIRef))


def labels(graph: Graph, node: object) -> set[str]:
    return {str(v) for v in graph.objects(node, SKOS.prefLabel)}  # type: ignore[arg-type]


def test_every_corpus_file_goes_in_with_every_record(settings: Settings) -> None:
    expected = {"lido-v1.1-example_la-primavera.xml": 1, "msk-gent_lido.xml": 1,
                "ddb_deutsches-museum_lido.xml": 1, "kenom_coins_lidowrap.xml": 20,
                "finna_design-museum_lido.xml": 1}
    with Archive(settings).open() as archive:
        for name, count in expected.items():
            report = run_batch(archive, LidoReader(), LIDO / name)
            assert report.counts()["accepted"] == count, (name, report.rejected)
            assert not report.rejected
        assert len(archive.ids()) == 24
        primavera = archive.get("lido-_dbd13d867066ebc80760")
        assert primavera is not None
        source = archive.storage.read("lido-_dbd13d867066ebc80760", "source/record.xml")
        assert source.startswith(b"<lido:lido") and b"DE-Mb112/lido-obj00154983" in source


def test_la_primavera_titles_creator_date_rights_images() -> None:
    g = drafts(LIDO / "lido-v1.1-example_la-primavera.xml")["DE-Mb112/lido-obj00154983"]
    cho, agg = cho_of(g), aggregation_of(g)
    titles = set(g.objects(cho, DC.title))
    assert {Literal("La Primavera", lang="it"), Literal("Spring", lang="en"),
            Literal("Der Frühling", lang="de"), Literal("Allégorie du Printemps", lang="fr")} \
        <= titles
    # The alternate title set goes to dcterms:alternative, not dc:title.
    assert Literal("allegoria della primavera", lang="it") in set(g.objects(cho,
                                                                            DCTERMS.alternative))
    botticelli = URIRef("http://vocab.getty.edu/ulan/500015254")
    assert (cho, DC.creator, botticelli) in g
    assert "Botticelli, Sandro" in labels(g, botticelli)
    assert (cho, URIRef("http://id.loc.gov/vocabulary/relators/art"), botticelli) in g
    span = next(g.objects(cho, DCTERMS.created))
    assert (span, MEM.beginYear, Literal(1480)) in g and (span, MEM.endYear, Literal(1485)) in g
    # The display date is now read itself (um = circa, oder = or): it labels the span.
    assert Literal("um 1480 oder 1482/1485") in set(g.objects(span, SKOS.prefLabel))
    assert (agg, EDM.rights, URIRef("http://rightsstatements.org/vocab/NoC-OKLR/1.0/")) in g
    assert (agg, EDM.isShownAt, URIRef("https://www.bildindex.de/document/obj00154983")) in g
    # One image per resourceSet, the larger (not the thumbnail), in resourceSet order.
    first = URIRef("http://www.bildindex.de/bilder/d/fmp_gkka1982_01929_2l")
    assert (agg, EDM.isShownBy, first) in g
    views = sorted((int(str(next(g.objects(v, MEM.order)))), str(v))
                   for v in g.objects(agg, EDM.hasView))
    assert views == [(2, "http://www.bildindex.de/bilder/d/fmc654591"),
                     (3, "http://www.bildindex.de/bilder/d/fm1005045")]
    assert (cho, EDM.type, Literal("IMAGE")) in g
    assert (URIRef("http://iconclass.org/23D42"), SKOS.prefLabel,
            Literal("spring, 'Ver'; 'Primavera' (Ripa)", lang="en")) in g


def test_kenom_coins_places_rights_and_iiif_images() -> None:
    records = drafts(LIDO / "kenom_coins_lidowrap.xml")
    assert len(records) == 20
    g = records["record_DE-68_kenom_123644"]
    cho, agg = cho_of(g), aggregation_of(g)
    assert Literal("Geldschein / Notgeld, 50 Pfennig, 7.1921", lang="de") in set(
        g.objects(cho, DC.title))
    # The first rightsResource says only "Urheberrecht"; the CC licence further on is used.
    assert (agg, EDM.rights, URIRef("https://creativecommons.org/licenses/by-nc/4.0/")) in g
    place = URIRef("http://uri.gbv.de/terminology/kenom_place/63130854-3b88-499a-8a9e-0966017d424e")
    assert (cho, DCTERMS.spatial, place) in g and "Büsum" in labels(g, place)
    image = next(g.objects(agg, EDM.isShownBy))
    assert str(image).endswith("record_DE-68_kenom_123644_vs.jpg/full/full/0/default.jpg")
    assert (image, EBUCORE.width, Literal(5684)) in g
    service = next(g.objects(image, URIRef("http://rdfs.org/sioc/services#has_service")))
    assert str(service).endswith("record_DE-68_kenom_123644_vs.jpg")
    printer = URIRef("http://uri.gbv.de/terminology/kenom_actor/3f26ad4d-3368-4edd-8fc0-"
                     "8b82a109b52c")
    assert (cho, DC.contributor, printer) in g
    assert (cho, URIRef("http://id.loc.gov/vocabulary/relators/prt"), printer) in g
    assert (agg, EDM.isShownAt, URIRef("https://www.kenom.de/id/record_DE-68_kenom_123644")) \
        in g


def test_lido_without_namespace_and_unknown_rights() -> None:
    g = drafts(LIDO / "finna_design-museum_lido.xml")["M016-116854"]
    cho, agg = cho_of(g), aggregation_of(g)
    assert Literal("aterimet", lang="fi") in set(g.objects(cho, DC.title))
    creators = {label for a in g.objects(cho, DC.creator) for label in labels(g, a)}
    assert {"Gardberg Bertel", "Hackman Sorsakoski"} <= creators
    assert (agg, EDM.rights, URIRef("http://rightsstatements.org/vocab/CNE/1.0/")) in g
    assert str(next(g.objects(agg, EDM.isShownBy))).startswith(
        "http://oai-pmh.memoron.fi/designmuseo/Kuva.aspx?id=116854")


def test_event_place_with_gml_coordinates(tmp_path: Path) -> None:
    path = tmp_path / "one.xml"
    path.write_text("""<lido:lido xmlns:lido="http://www.lido-schema.org"
        xmlns:gml="http://www.opengis.net/gml">
      <lido:lidoRecID>X-1</lido:lidoRecID>
      <lido:descriptiveMetadata xml:lang="es"><lido:objectIdentificationWrap><lido:titleWrap>
        <lido:titleSet><lido:appellationValue>Plano</lido:appellationValue></lido:titleSet>
      </lido:titleWrap></lido:objectIdentificationWrap>
      <lido:eventWrap><lido:eventSet><lido:event>
        <lido:eventType><lido:term>Creation</lido:term></lido:eventType>
        <lido:eventDate><lido:displayDate>hacia 1580</lido:displayDate></lido:eventDate>
        <lido:eventPlace><lido:place>
          <lido:placeID>http://sws.geonames.org/3522509</lido:placeID>
          <lido:namePlaceSet><lido:appellationValue>Oaxaca</lido:appellationValue>
          </lido:namePlaceSet>
          <lido:gml><gml:Point><gml:pos>17.0654 -96.7236</gml:pos></gml:Point></lido:gml>
        </lido:place></lido:eventPlace>
      </lido:event></lido:eventSet></lido:eventWrap></lido:descriptiveMetadata>
      <lido:administrativeMetadata><lido:rightsWorkWrap><lido:rightsWorkSet><lido:rightsType>
        <lido:term>CC0</lido:term></lido:rightsType></lido:rightsWorkSet></lido:rightsWorkWrap>
      </lido:administrativeMetadata></lido:lido>""", encoding="utf-8")
    g = drafts(path)["X-1"]
    place = URIRef("http://sws.geonames.org/3522509")
    assert (place, WGS84.lat, Literal("17.0654", datatype=URIRef(
        "http://www.w3.org/2001/XMLSchema#decimal"))) in g
    assert (place, SKOS.prefLabel, Literal("Oaxaca", lang="es")) in g
    span = next(g.objects(cho_of(g), DCTERMS.created))
    assert (span, MEM.beginYear, Literal(1580)) in g
    assert (aggregation_of(g), EDM.rights,
            URIRef("https://creativecommons.org/publicdomain/zero/1.0/")) in g


def test_oai_pmh_payload_element_maps_without_read() -> None:
    wrapped = (LIDO / "kenom_coins_lidowrap.xml").read_bytes()
    root = etree.fromstring(wrapped)
    element = root[2]
    record = SourceRecord("oai:kenom", "metadata", None, etree.tostring(element),
                          "application/xml", element)
    draft = LidoReader().to_rdf(record, ReadContext(MINTER, "Memoria",
                                                    {"namespace": "kenom"}))
    assert draft.record_id.startswith("kenom-")
    # Without the element, the raw bytes are parsed (through the hardened parser).
    again = LidoReader().to_rdf(SourceRecord("oai:kenom", "metadata", None, record.raw,
                                             "application/xml"),
                                ReadContext(MINTER, "Memoria", {"namespace": "kenom"}))
    assert again.record_id == draft.record_id
    assert set(again.graph) == set(draft.graph)
    # A payload wrapped in lido:lidoWrap is read as its (first) lido:lido.
    wrap = etree.fromstring(b"<lido:lidoWrap xmlns:lido='http://www.lido-schema.org'>"
                            + etree.tostring(element) + b"</lido:lidoWrap>")
    wrapped_draft = LidoReader().to_rdf(
        SourceRecord("oai:kenom", "metadata", None, b"", "application/xml", wrap),
        ReadContext(MINTER, "Memoria", {"namespace": "kenom"}))
    assert wrapped_draft.record_id == draft.record_id


@pytest.mark.parametrize("text, reason", [
    (b"<lido:lido xmlns:lido='http://www.lido-schema.org'><unclosed></lido:lido>",
     "not well-formed"),
    (b"<!DOCTYPE x [<!ENTITY e 'boom'>]><lido xmlns='http://www.lido-schema.org'>&e;</lido>",
     "entity"),
    (b"<root/>", "no lido:lido element"),
])
def test_a_bad_file_is_one_rejection(tmp_path: Path, text: bytes, reason: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_bytes(text)
    items = list(LidoReader().read(path, ReadContext(MINTER, "Memoria")))
    assert len(items) == 1 and isinstance(items[0], Rejection)
    assert items[0].position == "file" and reason in items[0].reason


def test_missing_and_duplicate_ids(tmp_path: Path) -> None:
    path = tmp_path / "wrap.xml"
    path.write_text("""<lidoWrap xmlns="http://www.lido-schema.org">
      <lido><lidoRecID>A</lidoRecID></lido><lido><lidoRecID>A</lidoRecID></lido><lido/>
    </lidoWrap>""", encoding="utf-8")
    reader, context = LidoReader(), ReadContext(MINTER, "Memoria")
    items = list(reader.read(path, context))
    assert isinstance(items[1], Rejection) and "duplicate lidoRecID 'A'" in items[1].reason
    assert isinstance(items[2], SourceRecord)
    with pytest.raises(RecordRejected, match="no lidoRecID"):
        reader.to_rdf(items[2], context)
