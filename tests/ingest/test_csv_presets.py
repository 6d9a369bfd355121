"""CSV mapping presets for real museum exports, end to end through run_batch."""

from __future__ import annotations

from pathlib import Path

from rdflib import Graph, Literal, URIRef

from archive.ids import Minter
from archive.service import Archive
from archive.settings import Settings
from archive.vocab import DC, DCTERMS, EDM, MEM, SKOS, WGS84
from ingest.csv_reader import CsvReader
from ingest.mapping import load_mapping
from ingest.pipeline import BatchReport, run_batch
from ingest.reader import ReadContext, SourceRecord
from tests.conftest import BASE_URL, CORPUS

PRESETS = Path(__file__).resolve().parents[2] / "schemas" / "mappings"
TATE = CORPUS / "csv" / "tate_artwork_data_2013.csv"
PALACE = CORPUS / "csv" / "palace-museum-beijing_embroidery_zh.csv"
UNESCO = CORPUS / "csv" / "unesco_whc_sites_2019.csv"


def ingest(archive: Archive, path: Path, preset: str, dry_run: bool = True) -> BatchReport:
    return run_batch(archive, CsvReader(), path,
                     options={"mapping": load_mapping(PRESETS / preset)}, dry_run=dry_run)


def mapped(path: Path, preset: str, local_id: str) -> Graph:
    reader = CsvReader()
    context = ReadContext(Minter(BASE_URL), "Memoria",
                          {"mapping": load_mapping(PRESETS / preset)})
    for item in reader.read(path, context):
        if isinstance(item, SourceRecord) and item.local_id == local_id:
            return reader.to_rdf(item, context).graph
    raise AssertionError(f"{local_id} not in {path}")


def cho_of(graph: Graph) -> URIRef:
    return next(s for s in graph.subjects(None, EDM.ProvidedCHO) if isinstance(s, URIRef))


def test_tate_every_row_goes_in(settings: Settings) -> None:
    with Archive(settings).open() as archive:
        report = ingest(archive, TATE, "tate-artworks.toml")
    assert report.counts() == {"input": 2000, "accepted": 2000, "rejected": 0, "valid": 2000}
    assert any("thumbnailUrl" in w for w in report.warnings)
    g = mapped(TATE, "tate-artworks.toml", "A00003")
    cho = cho_of(g)
    assert Literal("The Preaching of Warning. Verso: An Old Man Enthroned between Two Groups "
                   "of Figures, by ?William Blake", lang="en") in set(g.objects(cho, DC.title))
    assert {str(v) for a in g.objects(cho, DC.creator) for v in g.objects(a, SKOS.prefLabel)} \
        == {"Blake, Robert"}
    span = next(g.objects(cho, DCTERMS.created))
    assert (span, MEM.beginYear, Literal(1785)) in g
    assert Literal("?c.1785") in set(g.objects(cho, DC.date))


def test_palace_museum_every_row_goes_in(settings: Settings) -> None:
    with Archive(settings).open() as archive:
        report = ingest(archive, PALACE, "palace-museum-embroidery.toml", dry_run=False)
        assert report.counts() == {"input": 462, "accepted": 462, "rejected": 0,
                                   "created": 462}
    g = mapped(PALACE, "palace-museum-embroidery.toml",
               "http://www.dpm.org.cn/Uploads/Picture/dc/15709.jpg")
    cho = cho_of(g)
    assert set(g.objects(cho, DC.title)) == {Literal("缂丝花鸟图轴", lang="zh-Hans")}
    assert {str(v) for c in g.objects(cho, DC.type) for v in g.objects(c, SKOS.prefLabel)} == {
        "织绣画", "缂丝"}
    description = str(next(g.objects(cho, DC.description)))
    assert description.startswith("缂丝花鸟图轴，宋，纵26厘米")
    # Dynasty names ("宋") are read as the dynasty's years and kept as the time span's label.
    span = next(g.objects(cho, DCTERMS.created))
    assert (span, SKOS.prefLabel, Literal("宋")) in g
    assert (span, MEM.beginYear, Literal(960)) in g and (span, MEM.endYear, Literal(1279)) in g


def test_unesco_file_with_one_stray_utf8_sequence(settings: Settings, tmp_path: Path) -> None:
    """The export is Windows-1252, but one description holds a UTF-8 “…” whose 0x9D byte is
    not Windows-1252: that record alone is refused, with its line; every other row goes in."""
    data = UNESCO.read_bytes()
    with Archive(settings).open() as archive:
        report = ingest(archive, UNESCO, "unesco-whc-sites.toml")
    assert report.input == 700 and len(report.rejected) == 1
    rejection = report.rejected[0]
    assert rejection.position.startswith("line ")
    assert int(rejection.position.split()[1]) <= 327
    assert "not valid cp1252 (byte 0x9d)" in rejection.reason
    assert len(report.accepted) == 699
    # The record as a whole: the rows before the bad byte, read on their own, map the same.
    lines = data.decode("latin-1").splitlines(keepends=True)
    bad_record = int(rejection.position.split()[1])
    good = tmp_path / "unesco_first_rows.csv"
    good.write_bytes("".join(lines[: bad_record - 1]).encode("latin-1"))
    g = mapped(good, "unesco-whc-sites.toml", "208")
    cho = cho_of(g)
    assert Literal("Cultural Landscape and Archaeological Remains of the Bamiyan Valley",
                   lang="en") in set(g.objects(cho, DC.title))
    assert Literal("Paysage culturel et vestiges archéologiques de la vallée de Bamiyan",
                   lang="fr") in set(g.objects(cho, DC.title))
    site = next(p for p in g.objects(cho, DCTERMS.spatial) if (p, WGS84.lat, None) in g)
    assert float(str(next(g.objects(site, WGS84.lat)))) == 34.84694
    assert float(str(next(g.objects(site, WGS84.long)))) == 67.82525
    assert (cho, DCTERMS.dateAccepted, Literal("2003")) in g
