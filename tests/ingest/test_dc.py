"""Dublin Core: oai_dc and qualified DC from the corpus, OAI-PMH response files, edge cases."""

from __future__ import annotations

from pathlib import Path

import pytest
from rdflib import Graph, Literal, URIRef

from archive.ids import record_id
from archive.rights import NOT_EVALUATED
from archive.service import Archive
from archive.settings import Settings
from archive.vocab import DC, DCTERMS, EDM, MEM, SKOS
from ingest.pipeline import run_batch
from ingest.registry import get_reader
from tests.conftest import CORPUS

OAI_DC = CORPUS / "oai_dc"


def graph_of(archive: Archive, rid: str) -> tuple[Graph, URIRef, URIRef]:
    record = archive.get(rid)
    assert record is not None, rid
    graph = Graph()
    for triple in record.graph:  # a plain in-memory copy: many small lookups follow
        graph.add(triple)
    return (graph, URIRef(archive.minter.item(rid)),
            URIRef(archive.minter.aggregation(rid)))


def texts(graph: Graph, subject: URIRef, prop: URIRef) -> set[str]:
    return {str(v) for v in graph.objects(subject, prop)}


def labels(graph: Graph, subject: URIRef, prop: URIRef) -> set[str]:
    return {str(label) for node in graph.objects(subject, prop)
            for label in graph.objects(node, SKOS.prefLabel)}


def years(graph: Graph, subject: URIRef, prop: URIRef) -> set[tuple[int, int]]:
    return {(int(str(graph.value(span, MEM.beginYear))), int(str(graph.value(span, MEM.endYear))))
            for span in graph.objects(subject, prop) if graph.value(span, MEM.beginYear)}


@pytest.mark.parametrize("path", sorted(OAI_DC.glob("*.xml")), ids=lambda p: p.name)
def test_every_corpus_file_ingests_and_explains(settings: Settings, path: Path) -> None:
    with Archive(settings).open() as archive:
        report = run_batch(archive, get_reader("dc"), path)
    assert report.input >= 1
    assert all(r.reason for r in report.rejected)
    if path.name == "harvard_listsets_oai_dc.xml":
        assert [r.position for r in report.rejected] == ["file"]
        assert "ListSets response holds no records" in report.rejected[0].reason
    else:
        assert report.rejected == []


def test_oai_listrecords_file(settings: Settings) -> None:
    with Archive(settings).open() as archive:
        report = run_batch(archive, get_reader("dc"),
                           OAI_DC / "eur_dspace_listrecords_oai_dc_2003.xml")
        assert report.counts() == {"input": 16, "accepted": 16, "rejected": 0, "created": 16}
        rid = record_id("dc", "hdl:1765/308")
        assert report.accepted[0].record_id == rid
        assert report.accepted[0].position == "hdl:1765/308"
        g, cho, agg = graph_of(archive, rid)
        assert texts(g, cho, DC.title) == {"Kijken in het brein: Over de mogelijkheden van "
                                           "neuromarketing"}
        assert labels(g, cho, DC.contributor) == {"Smidts, A."}
        assert {"90-5892-036-4", "http://hdl.handle.net/1765/308"} <= texts(g, cho, DC.identifier)
        assert (agg, EDM.isShownAt, URIRef("http://hdl.handle.net/1765/308")) in g
        assert years(g, cho, DC.date) == {(2003, 2003)}
        assert len(list(g.objects(cho, DC.date))) == 1  # the three equal dc:date are one
        assert "neuromarketing" in labels(g, cho, DC.subject)
        assert (cho, EDM.type, Literal("TEXT")) in g
        assert (agg, EDM.rights, URIRef(NOT_EVALUATED)) in g
        assert any("Copyright Not Evaluated" in w for w in report.accepted[0].warnings)
        assert texts(g, cho, DC.language) == {"other"}
        source = archive.storage.read(rid, "source/record.xml")
        assert source.startswith(b"<record") and b"hdl:1765/308" in source
        assert b"hdl:1765/309" not in source


def test_rumsey_oai_dc_record(settings: Settings) -> None:
    with Archive(settings).open() as archive:
        run_batch(archive, get_reader("dc"), OAI_DC / "dpla_rumsey_record_oai_dc.xml")
        g, cho, agg = graph_of(archive, record_id("dc", "oai:N/A:RUMSEY~8~1~318428~90087368"))
        assert "City of Calcutta" in texts(g, cho, DC.title)
        assert labels(g, cho, DC.creator) == {"Burrard, Sidney Gerald", "Survey of India"}
        assert labels(g, cho, DC.publisher) == {"Survey of India"}
        assert labels(g, cho, DCTERMS.spatial) == {"Kolkata (India)", "Calcutta (India)",
                                                   "Calcutta"}
        assert years(g, cho, DC.date) == {(1912, 1912)}
        assert (agg, EDM.isShownAt, URIRef(
            "https://www.davidrumsey.com/luna/servlet/detail/RUMSEY~8~1~318428~90087368")) in g
        image = URIRef("https://www.davidrumsey.com/rumsey/Size1/RUMSEY~8~1/179/10403000.jpg")
        assert (agg, EDM.isShownBy, image) in g


def test_qualified_dc_record(settings: Settings) -> None:
    with Archive(settings).open() as archive:
        report = run_batch(archive, get_reader("dc"), OAI_DC / "dpla_ohio_bgsu_record_qdc.xml")
        rid = record_id("dc", "urn:ohiodplahub.library.ohio.gov:bgsu_12:oai:"
                              "digitalgallery.bgsu.edu:14058")
        assert report.accepted[0].record_id == rid
        g, cho, agg = graph_of(archive, rid)
        assert texts(g, cho, DC.title) == {"Valrie Kantorski & Ann Pope"}
        assert texts(g, cho, DCTERMS.alternative) == {"Alt title one", "Alt title two"}
        assert labels(g, cho, DC.creator) == {"Sam G.", "Merry B."}
        assert labels(g, cho, DC.contributor) == {"Kantorksi, Valrie", "Pope, Ann"}
        assert (agg, EDM.rights, URIRef("http://rightsstatements.org/vocab/NoC-US/1.0/")) in g
        assert (agg, EDM.isShownAt,
                URIRef("https://digitalgallery.bgsu.edu/collections/item/14058")) in g
        assert (agg, EDM.dataProvider, Literal("Bowling Green State University Libraries")) in g
        assert (cho, EDM.type, Literal("IMAGE")) in g
        assert texts(g, cho, DC.language) == {"en"}
        assert years(g, cho, DC.date) == {(1990, 1990), (2008, 2008), (2016, 2016)}
        assert years(g, cho, DCTERMS.temporal) == {(1989, 1990)}
        assert "Cincinnati, OH" in labels(g, cho, DCTERMS.spatial)
        assert "21.5 centimeters high, 14 centimeters wide" in texts(g, cho, DCTERMS.extent)


PLAIN = """<?xml version="1.0" encoding="UTF-8"?>
<records xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/">
  <record><dc:identifier>R-1</dc:identifier>
    <dc:title xml:lang="es">Plano de la ciudad</dc:title>
    <dc:title xml:lang="en">Map of the city</dc:title>
    <dc:type>Still image</dc:type><dc:language>spa</dc:language>
    <dc:language>chi</dc:language>
    <dc:date>ca. 1790</dc:date><dc:coverage>Oaxaca</dc:coverage><dc:coverage>1790-1800</dc:coverage>
    <dc:rights>CC BY 4.0</dc:rights></record>
  <record><dc:identifier>R-2</dc:identifier><dc:title>Sin derechos conocidos</dc:title>
    <dc:rights>All rights reserved by the family</dc:rights><dc:date>someday</dc:date></record>
  <record><dc:identifier>R-3</dc:identifier><dc:format>nothing to call it</dc:format></record>
  <record><dc:title>No identifier</dc:title></record>
</records>
"""


def test_plain_dc_record_set(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "plain.xml"
    path.write_text(PLAIN, encoding="utf-8")
    with Archive(settings).open() as archive:
        report = run_batch(archive, get_reader("dc"), path, options={"namespace": "plano"})
        assert report.input == 4
        accepted = {a.record_id: a for a in report.accepted}
        assert set(accepted) == {"plano-R-1", "plano-R-2", record_id(
            "plano", "/records/record[4]")}
        assert [r.position for r in report.rejected] == ["/records/record[3]"]
        assert "dc:title or a dc:description" in report.rejected[0].reason
        g, cho, agg = graph_of(archive, "plano-R-1")
        assert Literal("Plano de la ciudad", lang="es") in set(g.objects(cho, DC.title))
        assert Literal("Map of the city", lang="en") in set(g.objects(cho, DC.title))
        assert texts(g, cho, DC.language) == {"es", "zh"}
        assert (cho, EDM.type, Literal("IMAGE")) in g
        assert years(g, cho, DC.date) == {(1790, 1790)}
        assert years(g, cho, DCTERMS.temporal) == {(1790, 1800)}
        assert labels(g, cho, DCTERMS.spatial) == {"Oaxaca"}
        assert (agg, EDM.rights, URIRef("https://creativecommons.org/licenses/by/4.0/")) in g
        notes = accepted["plano-R-2"].warnings
        assert any("'All rights reserved by the family' is not a known statement" in w
                   for w in notes)
        assert any("'someday' could not be read" in w for w in notes)


def test_deleted_records_in_a_response_file_are_rejected(settings: Settings,
                                                         tmp_path: Path) -> None:
    path = tmp_path / "deleted.xml"
    path.write_text("""<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">
<responseDate>2024-01-01T00:00:00Z</responseDate><ListRecords>
<record><header status="deleted"><identifier>oai:x:1</identifier>
<datestamp>2024-01-01</datestamp></header></record>
<record><header><identifier>oai:x:2</identifier><datestamp>2024-01-01</datestamp></header>
<metadata><oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"
 xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Kept</dc:title></oai_dc:dc></metadata>
</record>
<record><header><identifier>oai:x:3</identifier><datestamp>2024-01-01</datestamp></header>
<metadata><lido xmlns="http://www.lido-schema.org"/></metadata></record>
</ListRecords></OAI-PMH>""", encoding="utf-8")
    with Archive(settings).open() as archive:
        report = run_batch(archive, get_reader("dc"), path)
    assert [a.record_id for a in report.accepted] == [record_id("dc", "oai:x:2")]
    reasons = {r.position: r.reason for r in report.rejected}
    assert reasons["oai:x:1"] == "deleted at the source (OAI header status=deleted)"
    assert "not Dublin Core" in reasons["oai:x:3"]


def test_oai_error_response_is_one_file_rejection(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "error.xml"
    path.write_text("""<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">
<responseDate>2024-01-01T00:00:00Z</responseDate>
<error code="badArgument">Illegal argument</error></OAI-PMH>""", encoding="utf-8")
    with Archive(settings).open() as archive:
        report = run_batch(archive, get_reader("dc"), path)
    assert [(r.position, r.reason) for r in report.rejected] == [
        ("file", "OAI-PMH error badArgument: Illegal argument")]
