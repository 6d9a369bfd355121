"""MARCXML: the real corpus through run_batch, 880 alternate scripts, types, OAI-PMH routing."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from rdflib import Graph, Literal, URIRef

from archive.ids import Minter
from archive.service import Archive
from archive.settings import Settings
from archive.vocab import DC, DCTERMS, EDM, MEM, SKOS
from ingest.marc_reader import MarcXmlReader, iiif_service_of, relator_code
from ingest.pipeline import run_batch
from ingest.reader import ReadContext, RecordRejected, Rejection, SourceRecord
from tests.conftest import BASE_URL, CORPUS

MARC = CORPUS / "marcxml"
MINTER = Minter(BASE_URL)
RELATORS = "http://id.loc.gov/vocabulary/relators/"


def drafts(path: Path) -> dict[str, tuple[Graph, list[str]]]:
    """Every record of a file mapped by the reader, by local id, with its warnings."""
    reader, context = MarcXmlReader(), ReadContext(MINTER, "Memoria")
    out = {}
    for item in reader.read(path, context):
        assert isinstance(item, SourceRecord)
        draft = reader.to_rdf(item, context)
        out[item.local_id or ""] = (draft.graph, draft.warnings)
    return out


def cho_of(graph: Graph) -> URIRef:
    return next(s for s in graph.subjects(None, EDM.ProvidedCHO) if isinstance(s, URIRef))


def agent_labels(graph: Graph, prop: URIRef) -> set[Literal]:
    return {v for a in graph.objects(cho_of(graph), prop) for v in graph.objects(a, SKOS.prefLabel)
            if isinstance(v, Literal)}


def years(graph: Graph, prop: URIRef = DCTERMS.issued) -> tuple[int, int]:
    span = next(graph.objects(cho_of(graph), prop))
    return (int(next(graph.objects(span, MEM.beginYear))),  # type: ignore[call-overload]
            int(next(graph.objects(span, MEM.endYear))))  # type: ignore[call-overload]


def test_every_corpus_file_goes_in(settings: Settings) -> None:
    counts = {}
    with Archive(settings).open() as archive:
        for path in sorted(MARC.glob("*.xml")):
            report = run_batch(archive, MarcXmlReader(), path)
            assert not report.rejected, report.rejected
            counts[path.name] = report.counts()["accepted"]
        source = archive.storage.read("marc-99117267623506421", "source/record.xml").decode()
    assert counts == {"helsinki_japanese-alt-script_marcxml.xml": 1,
                      "loc_batch_marcxml.xml": 2, "nyu_american-communist_marcxml.xml": 1,
                      "princeton_chinese-880_99117267623506421.xml": 1,
                      "princeton_unam-spanish_99125416143306421.xml": 1}
    assert source.startswith("<record>") and "晚清軍機大臣日記五種" in source


def test_chinese_880_fields_become_tagged_literals() -> None:
    g, warnings = drafts(MARC / "princeton_chinese-880_99117267623506421.xml")[
        "99117267623506421"]
    cho = cho_of(g)
    assert {Literal("晚清軍機大臣日記五種", lang="zh"),
            Literal("Wan Qing jun ji da chen ri ji wu zhong", lang="zh-Latn")} <= set(
        g.objects(cho, DC.title))
    creators = agent_labels(g, DC.creator)
    assert Literal("何汝霖, 1618-1689", lang="zh") in creators
    assert Literal("He, Rulin, 1618-1689", lang="zh-Latn") in creators
    assert Literal("张剑", lang="zh") in agent_labels(g, DC.contributor)
    assert Literal("中华书局", lang="zh") in agent_labels(g, DC.publisher)
    assert Literal("北京市", lang="zh") in agent_labels(g, DCTERMS.spatial)
    assert years(g) == (2019, 2019)
    assert (cho, DC.language, Literal("zh")) in g
    # The 008 here lost its runs of blanks (31 characters); the language is read from its end.
    assert any("008 has 31 characters" in w for w in warnings)
    assert (cho, URIRef(RELATORS + "edt"), None) in g


def test_japanese_alternate_script_and_subject_languages() -> None:
    g, _ = drafts(MARC / "helsinki_japanese-alt-script_marcxml.xml")["9933385663506253"]
    cho = cho_of(g)
    assert Literal("漢字源: 上級漢和辞典", lang="ja") in set(g.objects(cho, DC.title))
    assert Literal("Shinmeikai gendai kanwa jiten", lang="ja-Latn") in set(
        g.objects(cho, DC.title))
    assert Literal("影山, 輝国", lang="ja") in agent_labels(g, DC.contributor)
    yso = URIRef("http://www.yso.fi/onto/yso/p19175")
    assert {Literal("japanin kieli", lang="fi"), Literal("japanska", lang="sv")} == set(
        g.objects(yso, SKOS.prefLabel))
    assert years(g) == (2012, 2012)


def test_spanish_character_references_and_isbd_punctuation() -> None:
    g, _ = drafts(MARC / "princeton_unam-spanish_99125416143306421.xml")["99125416143306421"]
    cho = cho_of(g)
    assert set(g.objects(cho, DC.title)) == {
        Literal("Las lenguas mayas en la Guatemala colonial: lengua K'ekchí", lang="es")}
    assert Literal("Ciudad de México") in agent_labels(g, DCTERMS.spatial)
    assert Literal("Universidad Nacional Autónoma de México") in agent_labels(g, DC.publisher)
    assert (cho, DC.language, Literal("es")) in g and years(g) == (2020, 2020)


def test_leader_types_links_and_fixed_field_dates() -> None:
    records = drafts(MARC / "loc_batch_marcxml.xml")
    ray, _ = records["5637241"]
    assert (cho_of(ray), EDM.type, Literal("SOUND")) in ray
    assert years(ray) == (1957, 1957)  # 260 $c "[1957?]"
    white_house, warnings = records["12149120"]
    agg = next(white_house.subjects(EDM.aggregatedCHO, None))
    assert (agg, EDM.isShownAt, URIRef("http://www.whitehouse.gov")) in white_house
    assert any("lcweb.loc.gov/staff/wpp/whitehouse.html kept only in the source" in w
               for w in warnings)
    assert years(white_house)[0] == 1994
    assert (cho_of(white_house), EDM.type, Literal("TEXT")) in white_house


def test_record_without_001_uses_a_local_number_and_says_so() -> None:
    g, warnings = drafts(MARC / "nyu_american-communist_marcxml.xml")["TAM.132"]
    assert any("no 001 control number; identified by 099 $a 'TAM.132'" in w for w in warnings)
    assert years(g) == (1900, 2007)  # from 008 (i19002007): no 260/264
    assert Literal("Flynn, Elizabeth Gurley") in agent_labels(g, DC.creator)
    assert any("Processed portions available" in w and "Copyright Not Evaluated" in w
               for w in warnings)


def test_rights_image_links_and_oai_element(tmp_path: Path) -> None:
    path = tmp_path / "one.xml"
    path.write_text("""<marc:record xmlns:marc="http://www.loc.gov/MARC21/slim">
      <marc:leader>00000nkm a2200000 a 4500</marc:leader>
      <marc:controlfield tag="001">ph-1</marc:controlfield>
      <marc:controlfield tag="008">200101s1910    mx            000 0 spa d</marc:controlfield>
      <marc:datafield tag="245" ind1="0" ind2="0"><marc:subfield code="a">Catedral de Oaxaca /
        </marc:subfield></marc:datafield>
      <marc:datafield tag="260" ind1=" " ind2=" "><marc:subfield code="c">c1910.</marc:subfield>
      </marc:datafield>
      <marc:datafield tag="540" ind1=" " ind2=" "><marc:subfield code="a">CC0</marc:subfield>
      </marc:datafield>
      <marc:datafield tag="651" ind1=" " ind2="0"><marc:subfield code="a">Oaxaca (Mexico)
        </marc:subfield><marc:subfield code="x">History.</marc:subfield></marc:datafield>
      <marc:datafield tag="856" ind1="4" ind2="0"><marc:subfield code="u">https://img.example.org/iiif/ph1/full/max/0/default.jpg</marc:subfield>
      </marc:datafield>
      <marc:datafield tag="856" ind1="4" ind2="0"><marc:subfield code="u">https://example.org/ph1</marc:subfield></marc:datafield>
    </marc:record>""", encoding="utf-8")
    g, _ = drafts(path)["ph-1"]
    cho = cho_of(g)
    agg = next(g.subjects(EDM.aggregatedCHO, None))
    assert (cho, EDM.type, Literal("IMAGE")) in g
    assert set(g.objects(cho, DC.title)) == {Literal("Catedral de Oaxaca", lang="es")}
    assert years(g) == (1910, 1910)
    assert (agg, EDM.rights, URIRef("https://creativecommons.org/publicdomain/zero/1.0/")) in g
    assert (agg, EDM.isShownAt, URIRef("https://example.org/ph1")) in g
    image = URIRef("https://img.example.org/iiif/ph1/full/max/0/default.jpg")
    assert (agg, EDM.isShownBy, image) in g
    assert Literal("Oaxaca (Mexico)", lang="en") in agent_labels(g, DCTERMS.spatial)
    element = etree.fromstring(path.read_bytes())
    draft = MarcXmlReader().to_rdf(
        SourceRecord("oai:x", "metadata", None, etree.tostring(element), "application/xml",
                     element), ReadContext(MINTER, "Memoria", {"namespace": "oai"}))
    assert draft.record_id == "oai-ph-1"
    collection = etree.fromstring(b"<collection>" + path.read_bytes() + b"</collection>")
    wrapped = MarcXmlReader().to_rdf(
        SourceRecord("oai:x", "metadata", None, b"", "application/xml", collection),
        ReadContext(MINTER, "Memoria", {"namespace": "oai"}))
    assert wrapped.record_id == "oai-ph-1"


def test_bad_input() -> None:
    context = ReadContext(MINTER, "Memoria")
    record = SourceRecord("x", "metadata", None, b"<record><leader>00000nam</leader></record>",
                          "application/xml")
    with pytest.raises(RecordRejected, match="no 001"):
        MarcXmlReader().to_rdf(record, context)
    broken = SourceRecord("x", "metadata", None, b"<record>", "application/xml")
    with pytest.raises(RecordRejected, match="not well-formed"):
        MarcXmlReader().to_rdf(broken, context)


def test_unparseable_file_is_one_rejection(tmp_path: Path) -> None:
    path = tmp_path / "bad.xml"
    path.write_bytes(b"<collection><record><leader>x</leader>")
    items = list(MarcXmlReader().read(path, ReadContext(MINTER, "Memoria")))
    assert len(items) == 1 and isinstance(items[0], Rejection) and items[0].position == "file"


def test_relators_and_iiif_urls() -> None:
    assert relator_code(["author."]) == "aut"
    assert relator_code(["Author (aut)"]) == "aut"
    assert relator_code([], ["http://id.loc.gov/vocabulary/relators/prt"]) == "prt"
    assert relator_code(["toimittaja."]) == "edt"
    assert relator_code(["Münzstand"]) is None
    assert iiif_service_of("https://x.org/iiif/a%2Fb/full/max/0/default.jpg") == \
        "https://x.org/iiif/a%2Fb"
    assert iiif_service_of("https://x.org/a.jpg") is None
