"""IIIF manifests (Presentation 2 and 3): the real corpus through run_batch, sampled fields."""

from __future__ import annotations

import json
from pathlib import Path

from rdflib import Graph, Literal, URIRef

from archive.ids import Minter
from archive.service import Archive
from archive.settings import Settings
from archive.vocab import DC, DCTERMS, EBUCORE, EDM, MEM, SKOS, SVCS, WGS84
from ingest.iiif_reader import IiifManifestReader
from ingest.pipeline import run_batch
from ingest.reader import ReadContext, Rejection, SourceRecord
from tests.conftest import BASE_URL, CORPUS

IIIF = CORPUS / "iiif"
MINTER = Minter(BASE_URL)


def draft(path: Path, **options: object) -> tuple[Graph, list[str]]:
    reader, context = IiifManifestReader(), ReadContext(MINTER, "Memoria", dict(options))
    items = list(reader.read(path, context))
    assert len(items) == 1 and isinstance(items[0], SourceRecord), items
    result = reader.to_rdf(items[0], context)
    return result.graph, result.warnings


def cho_of(graph: Graph) -> URIRef:
    return next(s for s in graph.subjects(None, EDM.ProvidedCHO) if isinstance(s, URIRef))


def agg_of(graph: Graph) -> URIRef:
    return next(s for s in graph.subjects(EDM.aggregatedCHO, None) if isinstance(s, URIRef))


def images(graph: Graph) -> list[str]:
    agg = agg_of(graph)
    views = [*graph.objects(agg, EDM.isShownBy), *graph.objects(agg, EDM.hasView)]
    return [str(v) for v in sorted(views, key=lambda v: int(str(next(graph.objects(v, MEM.order)))))]


def test_every_manifest_goes_in(settings: Settings) -> None:
    with Archive(settings).open() as archive:
        for path in sorted(IIIF.glob("*.json")):
            report = run_batch(archive, IiifManifestReader(), path)
            assert report.counts()["accepted"] == 1, (path.name, report.rejected)
        assert len(archive.ids()) == 13


def test_v3_chinese_manifest() -> None:
    g, warnings = draft(IIIF / "v3_kyoto-toho_A033_zh.json")
    cho, agg = cho_of(g), agg_of(g)
    source = json.loads((IIIF / "v3_kyoto-toho_A033_zh.json").read_text())
    assert Literal(source["label"]["zh"][0].replace("\u3000", " "), lang="zh") in set(
        g.objects(cho, DC.title))
    assert Literal("瑞凝堂刊本", lang="zh") in set(g.objects(cho, DC.description))
    assert (agg, EDM.rights, URIRef("https://creativecommons.org/licenses/by-nc/4.0/")) in g
    assert (agg, EDM.dataProvider, Literal("Oriental Studies Digital Library")) in g
    shown = images(g)
    assert len(shown) == len(source["items"]) == 11
    first_body = source["items"][0]["items"][0]["items"][0]["body"]
    assert shown[0] == first_body["id"]
    first = URIRef(shown[0])
    assert (first, EBUCORE.width, Literal(1000)) in g and (first, EBUCORE.height,
                                                           Literal(1400)) in g
    assert (first, SVCS.has_service, URIRef(first_body["service"][0]["id"])) in g
    assert any("metadata 'Publication Info' kept only in the source" in w for w in warnings)


def test_v2_manifest_with_empty_canvases_and_two_licences() -> None:
    g, warnings = draft(IIIF / "v2_biblissima_florus-dispersus.json")
    cho, agg = cho_of(g), agg_of(g)
    assert len(images(g)) == 322 - 84
    assert any(w.startswith("84 of 322 canvases have no image") for w in warnings)
    assert (agg, EDM.rights, URIRef("https://creativecommons.org/licenses/by-nc/4.0/")) in g
    assert Literal("Codex Florus dispersus") in set(g.objects(cho, DC.title))
    assert Literal("Épîtres et sermons de saint Augustin") in set(g.objects(cho, DC.title))
    creators = {str(v) for a in g.objects(cho, DC.creator) for v in g.objects(a, SKOS.prefLabel)}
    assert "Saint Augustin. Auteur du texte" in creators
    assert (cho, DC.language, Literal("la")) in g


def test_v2_language_values_navdate_and_attribution_licence() -> None:
    g, _ = draft(IIIF / "v2_bsb_bsb00122140.json")
    cho, agg = cho_of(g), agg_of(g)
    # "Entstehung" ("2. Hälfte 15. Jh.") cannot be read as years, so navDate gives the year.
    assert any((span, MEM.beginYear, Literal(1451)) in g
               for span in g.objects(cho, DCTERMS.created))
    assert (agg, EDM.rights, URIRef("https://creativecommons.org/licenses/by-nc-sa/4.0/")) in g
    # "Deutsch"@de, "德语"@zh, "German"@en: one language, German.
    assert set(g.objects(cho, DC.language)) == {Literal("de")}
    bodleian, _ = draft(IIIF / "v2_bodleian_9cca8fdd.json")
    # Bodleian puts its licence URL in `attribution`.
    assert (agg_of(bodleian), EDM.rights,
            URIRef("https://creativecommons.org/licenses/by-nc-sa/3.0/")) in bodleian
    span = next(bodleian.objects(cho_of(bodleian), DCTERMS.created))
    assert (span, MEM.beginYear, Literal(1787)) in bodleian  # "[1787]"
    assert (agg_of(bodleian), EDM.isShownAt, URIRef(
        "https://digital.bodleian.ox.ac.uk/inquire/p/9cca8fdd-4a61-4429-8ac1-f648764b4d6d")) \
        in bodleian


def test_invalid_language_keys_and_video_canvas() -> None:
    g, warnings = draft(IIIF / "v3_prtd_hamilton.json")
    assert Literal("Letter from Alexander Hamilton Papers (September 6, 1780)") in set(
        g.objects(cho_of(g), DC.title))
    assert any("language 'true' is not a language tag" in w for w in warnings)
    video, warnings = draft(IIIF / "v3_cookbook_0015-start.json")
    assert (cho_of(video), EDM.type, Literal("VIDEO")) in video
    assert any("1 of 1 canvases have no image (they hold: VIDEO" in w for w in warnings)


def test_nav_place_fetch_and_collection(tmp_path: Path) -> None:
    manifest = {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": "https://example.org/m/1", "type": "Manifest",
        "label": {"es": ["Mapa de Oaxaca"], "none": ["Oaxaca"]},
        "navPlace": {"type": "FeatureCollection", "features": [{
            "type": "Feature", "properties": {"label": {"es": ["Oaxaca"]}},
            "geometry": {"type": "Point", "coordinates": [-96.7236, 17.0654]}}]},
        "rights": "http://creativecommons.org/publicdomain/zero/1.0/",
        "homepage": [{"id": "https://example.org/item/1", "type": "Text"}],
        "items": [{"id": "https://example.org/c/1", "type": "Canvas", "items": []}],
    }
    data = json.dumps(manifest).encode()
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return data

    g, warnings = draft(Path("https://example.org/m/1"), fetch=fetch)
    assert fetched == ["https://example.org/m/1"]
    place = next(g.objects(cho_of(g), DCTERMS.spatial))
    assert (place, WGS84.lat, None) in g and (place, SKOS.prefLabel,
                                              Literal("Oaxaca", lang="es")) in g
    assert {Literal("Mapa de Oaxaca", lang="es"), Literal("Oaxaca")} == set(
        g.objects(cho_of(g), DC.title))
    assert (agg_of(g), EDM.isShownAt, URIRef("https://example.org/item/1")) in g
    assert any("1 of 1 canvases have no image" in w for w in warnings)
    collection = tmp_path / "collection.json"
    collection.write_text(json.dumps({"id": "https://example.org/c", "type": "Collection",
                                      "items": [manifest, {"id": "https://example.org/m/2",
                                                           "type": "Manifest"}]}))
    items = list(IiifManifestReader().read(collection, ReadContext(MINTER, "Memoria")))
    assert isinstance(items[0], SourceRecord)
    assert isinstance(items[1], Rejection) and "give a fetch option" in items[1].reason


def test_not_a_manifest(tmp_path: Path) -> None:
    for text, reason in (("{not json", "cannot read a IIIF manifest"),
                         ('{"type": "Canvas"}', "not a IIIF Presentation manifest")):
        path = tmp_path / "x.json"
        path.write_text(text)
        items = list(IiifManifestReader().read(path, ReadContext(MINTER, "Memoria")))
        assert len(items) == 1 and isinstance(items[0], Rejection) and reason in items[0].reason
    items = list(IiifManifestReader().read(Path("https://example.org/m"),
                                           ReadContext(MINTER, "Memoria")))
    assert isinstance(items[0], Rejection) and "needs a `fetch` option" in items[0].reason
