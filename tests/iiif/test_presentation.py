"""Manifests from the record graph: descriptive properties, canvases, services, structures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from archive.service import Archive
from iiif.presentation import (
    ManifestCache,
    NoManifest,
    build_manifest,
    lang_key,
    may_have_manifest,
    rights_uri,
)
from iiif.schema import validate_presentation
from tests.iiif.test_presentation_support import (  # noqa: F401
    BOOK_CSV,
    IIIF_CORPUS,
    book_app,
    corpus_app,
    demo_app,
    reingest_books,
)

BASE = "http://memoria.test"


def manifest(app: Flask, rid: str) -> dict[str, Any]:
    resp = app.test_client().get(f"/iiif/3/manifest/{rid}")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    doc: dict[str, Any] = resp.get_json()
    assert validate_presentation(doc) == []
    return doc


def body(canvas: dict[str, Any]) -> dict[str, Any]:
    anno = canvas["items"][0]["items"][0]
    assert anno["motivation"] == "painting" and anno["target"] == canvas["id"]
    result: dict[str, Any] = anno["body"]
    return result


def test_language_keys() -> None:
    assert lang_key("zh-hans") == "zh-Hans"
    assert lang_key("ZH-HANT-tw") == "zh-Hant-TW"
    assert lang_key("es") == "es"
    assert lang_key(None) == "none" and lang_key("") == "none"


def test_rights_uris_in_the_schema_form() -> None:
    assert rights_uri("https://creativecommons.org/publicdomain/zero/1.0/") == \
        "http://creativecommons.org/publicdomain/zero/1.0/"
    assert rights_uri("http://rightsstatements.org/vocab/InC/1.0/") == \
        "http://rightsstatements.org/vocab/InC/1.0/"
    assert rights_uri("https://example.org/terms") is None


def test_demo_item_manifest(demo_app: Flask) -> None:  # noqa: F811
    doc = manifest(demo_app, "demo-GZ-0001")
    mid = f"{BASE}/iiif/3/manifest/demo-GZ-0001"
    assert doc["id"] == mid and doc["type"] == "Manifest"
    assert doc["@context"][-1] == "http://iiif.io/api/presentation/3/context.json"
    assert "http://iiif.io/api/extension/navplace/context.json" in doc["@context"]
    assert doc["label"] == {"en": ["Chen Clan Ancestral Hall"], "zh-Hans": ["陈家祠"]}
    assert set(doc["summary"]) == {"en", "zh-Hans"}
    meta = {m["label"]["en"][0]: m["value"] for m in doc["metadata"]}
    assert meta["Date"] == {"none": ["1888-1894"]}
    assert "ancestral halls" in meta["Subject"]["en"]
    assert doc["requiredStatement"] == {"label": {"en": ["Attribution"]},
                                        "value": {"none": ["Memoria demo collection"]}}
    assert doc["rights"] == "http://creativecommons.org/publicdomain/zero/1.0/"
    assert doc["provider"][0]["type"] == "Agent"
    assert doc["homepage"][0]["id"] == f"{BASE}/item/demo-GZ-0001"
    assert [s["id"] for s in doc["seeAlso"]] == [f"{BASE}/item/demo-GZ-0001.ttl",
                                                 f"{BASE}/item/demo-GZ-0001.jsonld"]
    assert doc["navDate"] == "1888-01-01T00:00:00Z"
    feature = doc["navPlace"]["features"][0]
    assert feature["geometry"] == {"type": "Point", "coordinates": [113.2454, 23.1256]}
    assert doc["partOf"] == [{"id": f"{BASE}/iiif/3/collection/demo-GZ-S01",
                              "type": "Collection"}]
    thumb = doc["thumbnail"][0]
    assert thumb["id"] == f"{BASE}/iiif/3/GZ-0001/full/400,/0/default.jpg"
    assert thumb["service"][0]["id"] == f"{BASE}/iiif/3/GZ-0001"
    canvases = doc["items"]
    assert [c["id"] for c in canvases] == [f"{mid}/canvas/GZ-0001", f"{mid}/canvas/GZ-0001-detail"]
    first = body(canvases[0])
    assert (canvases[0]["width"], canvases[0]["height"]) == (2800, 1867)
    assert (first["width"], first["height"]) == (2800, 1867)
    assert first["id"] == f"{BASE}/iiif/3/GZ-0001/full/max/0/default.jpg"
    assert first["service"] == [
        {"id": f"{BASE}/iiif/3/GZ-0001", "type": "ImageService3", "profile": "level2"},
        {"@id": f"{BASE}/iiif/2/GZ-0001", "@type": "ImageService2",
         "profile": "http://iiif.io/api/image/2/level2.json"},
    ]
    assert "behavior" not in doc  # an IMAGE record with two views is not a book


def test_book_is_paged_with_zh_hant_and_none(book_app: Flask) -> None:  # noqa: F811
    doc = manifest(book_app, "lib-B1")
    assert doc["behavior"] == ["paged"]
    assert doc["label"] == {"es": ["Libro de horas"], "zh-Hant": ["時禱書"]}
    assert doc["summary"] == {"none": ["Un libro sin idioma declarado"]}
    assert doc["rights"] == "http://rightsstatements.org/vocab/NoC-US/1.0/"
    assert doc["navDate"] == "1605-01-01T00:00:00Z"
    assert [c["id"].rsplit("/", 1)[1] for c in doc["items"]] == ["B1-p1", "B1-p2", "B1-p3"]
    assert [c["width"] for c in doc["items"]] == [600, 610, 620]
    assert "structures" not in doc


def test_fonds_has_ranges_in_archival_order(book_app: Flask) -> None:  # noqa: F811
    doc = manifest(book_app, "lib-F1")
    assert "behavior" not in doc
    ranges = doc["structures"]
    assert [r["id"].rsplit("/", 1)[1] for r in ranges] == \
        ["lib-B1", "lib-B2", "lib-P1", "lib-P2", "lib-P3", "lib-P4"]
    canvas_ids = [c["id"] for c in doc["items"]]
    assert [i["id"] for r in ranges for i in r["items"]] == canvas_ids
    assert len(ranges[0]["items"]) == 3 and ranges[0]["label"]["zh-Hant"] == ["時禱書"]


def test_records_without_images_have_no_manifest(book_app: Flask) -> None:  # noqa: F811
    client = book_app.test_client()
    resp = client.get("/iiif/3/manifest/lib-P5")
    assert resp.status_code == 404
    assert "no images" in resp.get_json()["error"]
    assert client.get("/iiif/3/manifest/lib-NOPE").status_code == 404
    assert client.get("/iiif/3/manifest/not a record").status_code == 404
    archive: Archive = book_app.extensions["memoria"]
    record = archive.get("lib-P5")
    assert record is not None
    with pytest.raises(NoManifest):
        build_manifest(record, archive)


def test_may_have_manifest_agrees_with_building_one(book_app: Flask) -> None:  # noqa: F811
    archive: Archive = book_app.extensions["memoria"]
    # A fonds whose parts have images, a book with its own, a record with neither.
    assert may_have_manifest(archive, "lib-F1")
    assert may_have_manifest(archive, "lib-B1")
    assert not may_have_manifest(archive, "lib-P5")
    for rid in ("lib-F1", "lib-B1", "lib-P5"):
        record = archive.get(rid)
        assert record is not None
        try:
            build_manifest(record, archive)
            built = True
        except NoManifest:
            built = False
        assert built == may_have_manifest(archive, rid)


def test_withdrawn_record_is_gone(book_app: Flask) -> None:  # noqa: F811
    archive: Archive = book_app.extensions["memoria"]
    client = book_app.test_client()
    assert client.get("/iiif/3/manifest/lib-B2").status_code == 200
    archive.withdraw("lib-B2", "test")
    resp = client.get("/iiif/3/manifest/lib-B2")
    assert resp.status_code == 410 and "withdrawn" in resp.get_json()["error"]
    ranges = client.get("/iiif/3/manifest/lib-F1").get_json()["structures"]
    assert "lib-B2" not in [r["id"].rsplit("/", 1)[1] for r in ranges]


def test_cache_is_keyed_by_version_and_rebuilt_on_change(book_app: Flask,  # noqa: F811
                                                          tmp_path: Path) -> None:
    archive: Archive = book_app.extensions["memoria"]
    cache = ManifestCache()
    first = cache.get(archive, "lib-F1")
    assert cache.get(archive, "lib-F1") is first and cache.hits == 1
    changed = BOOK_CSV.replace("Grabado suelto", "Grabado suelto (corregido)")
    assert reingest_books(archive, tmp_path / "again", changed) == ["lib-B2"]
    # The child changed, so the parent's manifest (its ranges) is rebuilt too.
    rebuilt = cache.get(archive, "lib-F1")
    assert rebuilt is not first and cache.misses == 2
    labels = [r["label"]["es"][0] for r in rebuilt.doc["structures"]]
    assert "Grabado suelto (corregido)" in labels
    served = book_app.test_client().get("/iiif/3/manifest/lib-B2").get_json()
    assert served["label"]["es"] == ["Grabado suelto (corregido)"]


def _source_services(path: Path) -> dict[str, list[Any]]:
    doc = json.loads(path.read_text())
    out: dict[str, list[Any]] = {}
    for canvas in doc.get("items") or doc["sequences"][0]["canvases"]:
        bodies = [a["resource"] for a in canvas.get("images", [])] + \
            [a["body"] for p in canvas.get("items", []) for a in p["items"]]
        for b in bodies:
            if not isinstance(b, dict):
                continue
            service = b.get("service")
            out[str(b.get("id") or b.get("@id"))] = service if isinstance(service, list) else [service]
    return out


@pytest.mark.slow
def test_imported_manifests_keep_their_image_services(corpus_app: Flask) -> None:  # noqa: F811
    archive: Archive = corpus_app.extensions["memoria"]
    checked = 0
    for path in sorted(IIIF_CORPUS.glob("*.json")):
        source = _source_services(path)
        rid = next(r for r in archive.ids() if r.startswith("iiif-") and
                   archive.storage.read(r, next(p for p in archive.storage.state(r)
                                                if p.startswith("source/"))) ==
                   path.read_bytes())
        resp = corpus_app.test_client().get(f"/iiif/3/manifest/{rid}")
        if resp.status_code == 404:
            continue
        doc = resp.get_json()
        assert validate_presentation(doc) == []
        for canvas in doc["items"]:
            b = body(canvas)
            original = [s for s in source.get(b["id"], []) if s]
            if not original:
                continue
            ids = [s.get("id") or s.get("@id") for s in b["service"]]
            wanted = [str(s.get("id") or s.get("@id")) for s in original]
            assert ids == [w.rstrip("/") for w in wanted] or ids == wanted, (path.name, ids)
            v2 = "image/2" in json.dumps(original)
            kinds = {s.get("type") or s.get("@type") for s in b["service"]}
            assert kinds == ({"ImageService2"} if v2 else kinds)
            checked += 1
    assert checked > 20
