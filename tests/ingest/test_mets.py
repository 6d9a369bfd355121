"""METS/MODS from the corpus: the book, its page images in order, its chapters; MODS over OAI."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from rdflib import Graph, Literal, URIRef

from archive.ids import record_id
from archive.service import Archive
from archive.settings import Settings
from archive.vocab import DC, DCTERMS, EDM, MEM, SKOS
from ingest.pipeline import run_batch
from ingest.registry import get_reader
from tests.conftest import CORPUS

METS_MODS = CORPUS / "mets_mods"
PEMBROKE = METS_MODS / "sbb_pembroke_werke_1766_mets.xml"
HARVARD = METS_MODS / "harvard_botanicals_oai_listrecords_mods.xml"
METS = "{http://www.loc.gov/METS/}"
XLINK = "{http://www.w3.org/1999/xlink}"


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


def ordered_images(graph: Graph, agg: URIRef) -> list[str]:
    views = [*graph.objects(agg, EDM.isShownBy), *graph.objects(agg, EDM.hasView)]
    return [str(v) for v in sorted(views, key=lambda v: int(str(graph.value(v, MEM.order))))]


@pytest.mark.parametrize("path", sorted(METS_MODS.glob("*.xml")), ids=lambda p: p.name)
def test_every_corpus_file_ingests(settings: Settings, path: Path) -> None:
    with Archive(settings).open() as archive:
        report = run_batch(archive, get_reader("mets"), path)
    assert report.rejected == []
    assert len(report.accepted) == {PEMBROKE.name: 35, HARVARD.name: 10}[path.name]


def test_pembroke_book_images_and_chapters(settings: Settings) -> None:
    root = etree.parse(str(PEMBROKE)).getroot()
    files = {f.get("ID"): f.find(f"{METS}FLocat").get(f"{XLINK}href")
             for f in root.iter(f"{METS}file")}
    physical = next(s for s in root.iter(f"{METS}structMap") if s.get("TYPE") == "PHYSICAL")
    pages = sorted((int(d.get("ORDER")), d.find(f"{METS}fptr").get("FILEID"))
                   for d in physical.iter(f"{METS}div") if d.get("ORDER"))
    expected = [files[fid] for _, fid in pages if files[fid].startswith("http")]
    with Archive(settings).open() as archive:
        report = run_batch(archive, get_reader("mets"), PEMBROKE)
        main = "mods-PPN85249078X"
        assert report.accepted[0].record_id == main
        notes = report.accepted[0].warnings
        assert any("9 logical divisions without their own MODS" in w for w in notes)
        assert any("DEFAULT/FILE_0010_DEFAULT.tif" in w for w in notes)
        g, cho, agg = graph_of(archive, main)
        assert texts(g, cho, DC.title) == {
            "Des Grafen und der Gräfin von Pembrock sämtliche Werke der Punctirkunst : nach "
            "welcher ein jeder sich selbst die Nativität stellen und wissen kan, ob er in der "
            "Welt glücklich oder unglücklich seyn, und ob er jung oder alt sterben werde : Zum "
            "allgemeinen Vergnügen und Zeitvertreib sonderlich des schönen Geschlechts "
            "herausgegeben : Mit Kupfern"}
        assert texts(g, cho, DCTERMS.alternative) == {"Sämtliche Werke der Punctirkunst"}
        assert labels(g, cho, DC.creator) == {"Pembroke, Henry Herbert", "Pembroke, Mary Herbert"}
        assert labels(g, cho, DC.contributor) == {"Deutsche Forschungsgemeinschaft"}
        issued = next(g.objects(cho, DCTERMS.issued))
        assert int(str(g.value(issued, MEM.beginYear))) == 1766
        assert labels(g, cho, DCTERMS.spatial) == {"Ulm", "Leipzig", "Frankfurt"}  # not Berlin
        assert texts(g, cho, DC.language) == {"de"}
        assert (agg, EDM.rights,
                URIRef("https://creativecommons.org/licenses/by-nc-sa/4.0/")) in g
        assert (cho, EDM.type, Literal("TEXT")) in g
        assert len(expected) == 194
        assert ordered_images(g, agg) == expected
        assert (agg, EDM.isShownAt,
                URIRef("http://resolver.staatsbibliothek-berlin.de/SBB0001CA7900000000")) in g
        chapters = archive.children(main)
        assert len(chapters) == 32  # 34 divisions with MODS, two of them nested
        assert [o for _, o in chapters] == list(range(1, 33))
        caput2 = record_id("mods", "PPN85249078X/LOG_0005")
        assert chapters[1] == (caput2, 2)
        g, cho, agg = graph_of(archive, caput2)
        assert next(iter(texts(g, cho, DC.title))).startswith("Caput II. Was man eigentlich")
        assert (agg, EDM.rights,
                URIRef("https://creativecommons.org/licenses/by-nc-sa/4.0/")) in g
        assert archive.children(caput2) == [(record_id("mods", "PPN85249078X/LOG_0006"), 1)]


def test_harvard_mods_in_an_oai_response(settings: Settings) -> None:
    with Archive(settings).open() as archive:
        report = run_batch(archive, get_reader("mets"), HARVARD)
        assert [a.record_id for a in report.accepted][:2] == ["mods-arn00007c00001",
                                                              "mods-arn00007c00002"]
        g, cho, agg = graph_of(archive, "mods-arn00007c00001")
        assert texts(g, cho, DC.title) == {"Plate 1. Clematis cylindrica"}
        assert texts(g, cho, DC.description) == {
            "Full color. Reproduced in Herbier Général, page 70, by Mme. Deville, Aumont."}
        assert (agg, EDM.isShownBy, URIRef("https://nrs.harvard.edu/urn-3:FMUS.ARN:37524535")) in g
        assert (agg, EDM.isShownAt, URIRef(
            "https://id.lib.harvard.edu/curiosity/botanical-illustrations/62-arn00007c00001")) in g
        assert texts(g, cho, DC.language) == set()  # "und" is no language
        assert "Alfred Riocreux botanical watercolors" in texts(g, cho, DC.relation)
        assert any("available by appointment" in t for t in texts(g, cho, DC.rights))


def test_plain_mods_collection(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "mods.xml"
    path.write_text("""<modsCollection xmlns="http://www.loc.gov/mods/v3">
<mods><titleInfo><title>Mapa de Oaxaca</title></titleInfo>
<typeOfResource>cartographic</typeOfResource>
<name><namePart>García, Juan</namePart><role><roleTerm>cartographer</roleTerm></role></name>
<originInfo><dateCreated point="start">1790</dateCreated><dateCreated point="end">1795</dateCreated>
</originInfo>
<subject><topic>Mapas</topic><geographic>Oaxaca</geographic></subject>
<accessCondition type="use and reproduction">Public domain</accessCondition>
<recordInfo><recordIdentifier>M1</recordIdentifier></recordInfo></mods>
<mods><titleInfo><title></title></titleInfo></mods>
</modsCollection>""", encoding="utf-8")
    with Archive(settings).open() as archive:
        report = run_batch(archive, get_reader("mets"), path, options={"namespace": "mapas"})
        assert [a.record_id for a in report.accepted] == ["mapas-M1"]
        assert len(report.rejected) == 1 and "dc:title" in report.rejected[0].reason
        g, cho, agg = graph_of(archive, "mapas-M1")
        assert (cho, EDM.type, Literal("IMAGE")) in g
        assert labels(g, cho, DC.creator) == {"García, Juan"}
        created = next(g.objects(cho, DCTERMS.created))
        assert (int(str(g.value(created, MEM.beginYear))), int(str(g.value(created, MEM.endYear)))) == (
            1790, 1795)
        assert labels(g, cho, DCTERMS.spatial) == {"Oaxaca"}
        assert (agg, EDM.rights, URIRef("https://creativecommons.org/publicdomain/mark/1.0/")) in g
