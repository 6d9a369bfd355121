"""JSON and JSON Lines with mapping files: paths, presets on the real corpus through run_batch."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from rdflib import Graph, Literal, URIRef

from archive.ids import Minter
from archive.record import RecordDraft
from archive.service import Archive
from archive.settings import Settings
from archive.vocab import DC, DCTERMS, EDM, MEM, SKOS, WGS84
from ingest.json_reader import JsonReader, cell, select
from ingest.mapping import load_mapping, parse_mapping
from ingest.pipeline import run_batch
from ingest.reader import ReadContext, Rejection, SourceRecord
from tests.conftest import BASE_URL, CORPUS

PRESETS = Path(__file__).resolve().parents[2] / "schemas" / "mappings"
MINTER = Minter(BASE_URL)


def mapped(path: Path, preset: str, local_id: str) -> RecordDraft:
    """The draft of one record of a real file, found by its local id."""
    reader = JsonReader()
    context = ReadContext(MINTER, "Memoria", {"mapping": load_mapping(PRESETS / preset)})
    for item in reader.read(path, context):
        if isinstance(item, SourceRecord) and item.local_id == local_id:
            return reader.to_rdf(item, context)
    raise AssertionError(f"{local_id} not in {path}")


def cho_of(graph: Graph) -> URIRef:
    return next(s for s in graph.subjects(None, EDM.ProvidedCHO) if isinstance(s, URIRef))


def labels(graph: Graph, prop: URIRef) -> set[Literal]:
    return {v for n in graph.objects(cho_of(graph), prop) for v in graph.objects(n, SKOS.prefLabel)
            if isinstance(v, Literal)}


def test_paths() -> None:
    record = {"place": {"lat": "17.06"}, "contributors": [{"name": "A"}, {"name": "B"}],
              "titles": ["x", "y"], "n": 3, "dc": {"content": "v"},
              "list": [{"content": "p"}, {"content": "q"}]}
    assert select(record, "place.lat") == ["17.06"]
    assert select(record, "contributors[0].name") == ["A"]
    assert select(record, "contributors[-1].name") == ["B"]
    assert select(record, "contributors.name") == ["A", "B"]
    assert select(record, "titles[*]") == ["x", "y"]
    assert select(record, "missing.path") == []
    assert cell(record, "titles[*]", "|") == "x|y"
    assert cell(record, "n", None) == "3"
    assert cell(record, "dc", None) == "v"
    assert cell(record, "list.content", "|") == "p|q"
    assert cell(record, "{n}-{place.lat}", None) == "3-17.06"
    assert cell(record, "{n}-{nothing}", None) == "3"
    assert cell(record, "=CC0", None) == "CC0"


MAPPING = """
[source]
namespace = "demo"
id = "id"
records = "items"

[[column]]
name = "title"
to = "dc:title"
lang = "es"

[[column]]
name = "place.name"
kind = "place"
lat = "place.lat"
long = "place.long"

[[column]]
name = "=CC0"
kind = "rights"
"""


def test_json_document_and_json_lines(settings: Settings, tmp_path: Path) -> None:
    mapping = parse_mapping(tomllib.loads(MAPPING))
    doc = tmp_path / "records.json"
    doc.write_text(json.dumps({"items": [
        {"id": "1", "title": "Templo", "place": {"name": "Oaxaca", "lat": 17.06, "long": -96.72}},
        {"id": "1", "title": "Otra vez"},
        "not an object",
        {"id": "2", "title": "Sin lugar", "color": "rojo"},
    ]}), encoding="utf-8")
    lines = tmp_path / "records.jsonl"
    lines.write_text('{"id": "3", "title": "Uno"}\n{broken\n\n{"title": "sin id"}\n',
                     encoding="utf-8")
    with Archive(settings).open() as archive:
        report = run_batch(archive, JsonReader(), doc, options={"mapping": mapping})
        assert report.counts() == {"input": 4, "accepted": 2, "rejected": 2, "created": 2}
        reasons = {r.position: r.reason for r in report.rejected}
        assert reasons == {"items[1]": "duplicate identifier '1', first at items[0]",
                           "items[2]": "a record is a JSON object"}
        assert any("color" in w for w in report.warnings)
        record = archive.get("demo-1")
        assert record is not None
        place = next(record.graph.objects(None, DCTERMS.spatial))
        assert (place, WGS84.lat, None) in record.graph
        assert (None, EDM.rights, URIRef("https://creativecommons.org/publicdomain/zero/1.0/")) \
            in record.graph
        source = json.loads(archive.storage.read("demo-1", "source/record.json"))
        assert source["title"] == "Templo"
        report = run_batch(archive, JsonReader(), lines, options={"mapping": mapping})
        assert [a.position for a in report.accepted] == ["line 1"]
        reasons = {r.position: r.reason for r in report.rejected}
        assert reasons["line 2"].startswith("not valid JSON")
        assert "empty identifier" in reasons["line 4"]


def test_unreadable_document(tmp_path: Path) -> None:
    mapping = parse_mapping(tomllib.loads(MAPPING))
    for text, position, reason in (("{\n  oops", "line 2, column 3", "not valid JSON"),
                                   ('{"other": []}', "file", "leads nowhere")):
        path = tmp_path / "bad.json"
        path.write_text(text, encoding="utf-8")
        items = list(JsonReader().read(path, ReadContext(MINTER, "M", {"mapping": mapping})))
        assert len(items) == 1 and isinstance(items[0], Rejection)
        assert items[0].position == position and reason in items[0].reason


SHANGHAI = CORPUS / "json" / "shanghai-library_immovable-heritage-sites_zh.json"
DILA = CORPUS / "json" / "dila_taisho-canon_catalogue_zh.json"
INAH = CORPUS / "oai_harvest_json" / "inah_mediateca_oai_dc.json"


@pytest.mark.parametrize("path, preset, counts, rejected", [
    (SHANGHAI, "shanghai-library-heritage-sites.toml", (694, 691), 3),
    (DILA, "dila-taisho-canon.toml", (2457, 2457), 0),
    (INAH, "inah-mediateca-oai-dc.toml", (10, 10), 0),
])
def test_presets_take_every_record_or_say_why(settings: Settings, path: Path, preset: str,
                                              counts: tuple[int, int], rejected: int) -> None:
    with Archive(settings).open() as archive:
        report = run_batch(archive, JsonReader(), path,
                           options={"mapping": load_mapping(PRESETS / preset)}, dry_run=True)
    assert (report.input, len(report.accepted)) == counts
    assert len(report.rejected) == rejected
    # Shanghai lists three sites twice (once per district they span): same uri, second refused.
    assert all("duplicate identifier" in r.reason for r in report.rejected)


def test_shanghai_sample_against_the_source() -> None:
    source = json.loads(SHANGHAI.read_text(encoding="utf-8"))["data"][0]
    draft = mapped(SHANGHAI, "shanghai-library-heritage-sites.toml", source["uri"])
    g = draft.graph
    cho = cho_of(g)
    assert {Literal(source["nameS"], lang="zh-Hans"), Literal(source["nameT"], lang="zh-Hant")} \
        == set(g.objects(cho, DC.title))
    place = next(p for p in g.objects(cho, DCTERMS.spatial) if (p, WGS84.lat, None) in g)
    assert (place, SKOS.prefLabel, Literal(source["address"], lang="zh-Hans")) in g
    assert float(str(next(g.objects(place, WGS84.lat)))) == pytest.approx(float(source["lat"]))
    assert float(str(next(g.objects(place, WGS84.long)))) == pytest.approx(float(source["long"]))
    assert Literal("上海市文物保护单位", lang="zh-Hans") in labels(g, DC.type)


def test_dila_sample_against_the_source() -> None:
    source = json.loads(DILA.read_text(encoding="utf-8"))["T0001"]
    g = mapped(DILA, "dila-taisho-canon.toml", "T0001").graph
    cho = cho_of(g)
    assert set(g.objects(cho, DC.title)) == {Literal(source["title"], lang="zh-Hant")}
    span = next(g.objects(cho, DCTERMS.created))
    assert (span, MEM.beginYear, Literal(source["time_from"])) in g
    assert (span, MEM.endYear, Literal(source["time_to"])) in g
    assert {str(c["name"]) for c in source["contributors"]} == {
        str(v) for v in labels(g, DC.contributor)}
    place = next(g.objects(cho, DCTERMS.spatial))
    assert (place, SKOS.prefLabel, Literal("長安", lang="zh-Hant")) in g
    assert float(str(next(g.objects(place, WGS84.lat)))) == pytest.approx(34.3288)
    assert (None, EDM.rights, URIRef("https://creativecommons.org/licenses/by-sa/3.0/")) in g


def test_inah_sample_against_the_source() -> None:
    source = json.loads(INAH.read_text(encoding="utf-8"))[0]
    draft = mapped(INAH, "inah-mediateca-oai-dc.toml", source["header"]["identifier"])
    g, cho = draft.graph, cho_of(draft.graph)
    dc = source["metadata"]["oai_dc_dc"]
    assert set(g.objects(cho, DC.title)) == {Literal(dc["dc_title"]["content"], lang="es")}
    assert (cho, EDM.type, Literal("TEXT")) in g
    assert Literal("Colonial", lang="es") in labels(g, DC.subject)
    assert any("Creative Commons (by-nc-nd)" in w and "Copyright Not Evaluated" in w
               for w in draft.warnings)
    # "1821-02-13 y 1821-03-12" (two days, Spanish "y") is read as the year 1821.
    assert not any("1821-02-13 y 1821-03-12" in w for w in draft.warnings)
    assert (None, EDM.begin, Literal("1821")) in g and (None, EDM.end, Literal("1821")) in g


def test_keyed_records_under_a_path(tmp_path: Path) -> None:
    path = tmp_path / "keyed.json"
    path.write_text(json.dumps({"catalogue": {"T1": {"t": "uno"}, "T2": {"t": "dos"}}}))
    mapping = parse_mapping(tomllib.loads(
        '[source]\nnamespace = "k"\nid = "@key"\nrecords = "catalogue.*"\n'
        '[[column]]\nname = "t"\nto = "dc:title"\n'))
    reader, context = JsonReader(), ReadContext(MINTER, "M", {"mapping": mapping})
    items = list(reader.read(path, context))
    assert [(i.position, i.local_id) for i in items if isinstance(i, SourceRecord)] == [
        ("key T1", "T1"), ("key T2", "T2")]
    g = reader.to_rdf(items[1], context).graph  # type: ignore[arg-type]
    assert Literal("dos") in set(g.objects(cho_of(g), DC.title))
