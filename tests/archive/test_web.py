"""The web app: health, item pages, linked data by Accept header and by extension."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rdflib import Graph
from rdflib.compare import isomorphic

from ingest.mapping import load_mapping
from ingest.pipeline import run_batch
from ingest.registry import get_reader
from tests.conftest import BASE_URL

MEDIA = {
    "ttl": ("text/turtle", "turtle"),
    "jsonld": ("application/ld+json", "json-ld"),
    "rdf": ("application/rdf+xml", "xml"),
    "nt": ("application/n-triples", "nt"),
}


@pytest.fixture
def loaded(app: Flask, sample_source: Path) -> Flask:
    archive = app.extensions["memoria"]
    run_batch(archive, get_reader("csv"), sample_source / "records.csv",
              options={"mapping": load_mapping(sample_source / "mapping.toml"),
                       "images_dir": sample_source})
    return app


def test_healthz(client: FlaskClient) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok", "rdf_store": "open", "pending": 0}


def test_item_page_shows_title_metadata_and_hierarchy(loaded: Flask) -> None:
    client = loaded.test_client()
    resp = client.get("/item/museo-I1", headers={"Accept-Language": "es"})
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert "<h1>Templo de Santo Domingo</h1>" in html
    assert "Orden de Predicadores" in html
    assert 'href="/item/museo-S1"' in html and 'href="/item/museo-F1"' in html
    assert "https://creativecommons.org/licenses/by/4.0/" in html
    assert "17.0659" in html
    english = client.get("/item/museo-I1", headers={"Accept-Language": "en"})
    assert "<h1>Church of Santo Domingo</h1>" in english.get_data(as_text=True)
    series = client.get("/item/museo-S1").get_data(as_text=True)
    assert series.index("/item/museo-I1") < series.index("/item/museo-I2")


@pytest.mark.parametrize("ext", sorted(MEDIA))
def test_linked_data_by_extension_and_by_accept(loaded: Flask, ext: str) -> None:
    client = loaded.test_client()
    media, fmt = MEDIA[ext]
    archive = loaded.extensions["memoria"]
    record = archive.get("museo-I1")
    by_ext = client.get(f"/item/museo-I1.{ext}")
    by_accept = client.get("/item/museo-I1", headers={"Accept": f"{media}, text/html;q=0.5"})
    for resp in (by_ext, by_accept):
        assert resp.status_code == 200
        assert resp.mimetype == media
        parsed = Graph().parse(data=resp.get_data(), format=fmt, publicID=BASE_URL)
        assert isomorphic(parsed, record.graph)
    assert by_accept.headers["Vary"] == "Accept"


def test_browser_accept_gets_html(loaded: Flask) -> None:
    resp = loaded.test_client().get("/item/museo-I1", headers={
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"})
    assert resp.mimetype == "text/html"
    assert 'rel="alternate"' in resp.headers["Link"]


def test_json_twin_has_the_same_content(loaded: Flask) -> None:
    data = loaded.test_client().get("/item/museo-I2.json").get_json()
    assert data["id"] == "museo-I2"
    assert [b["id"] for b in data["breadcrumb"]] == ["museo-F1", "museo-S1"]
    assert data["images"][0]["id"] == "I2"
    assert (data["images"][0]["width"], data["images"][0]["height"]) == (300, 500)
    assert data["source"]["position"] == "line 5"


@pytest.mark.parametrize("path", [
    "/item/museo-nothing", "/item/../../etc/passwd", "/item/%2e%2e%2fetc", "/item/museo-I1%00",
    "/item/" + "a" * 5000, "/item/museo-I1.exe",
])
def test_unknown_and_hostile_ids_are_404(loaded: Flask, path: str) -> None:
    resp = loaded.test_client().get(path)
    assert resp.status_code == 404


def test_withdrawn_record_is_410(loaded: Flask) -> None:
    archive = loaded.extensions["memoria"]
    assert archive.withdraw("museo-I2", "duplicate of another record") == "v2"
    resp = loaded.test_client().get("/item/museo-I2")
    assert resp.status_code == 410
    assert "museo-I2" not in archive.ids()
    assert [c for c, _ in archive.children("museo-S1")] == ["museo-I1"]
    # The history keeps the withdrawn record's description.
    assert b"Soledad" in archive.storage.read("museo-I2", "metadata/record.ttl", version="v1")


def test_security_headers(client: FlaskClient) -> None:
    resp = client.get("/healthz")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors" in resp.headers["Content-Security-Policy"]


def test_home_lists_top_level_collections(loaded: Flask) -> None:
    client = loaded.test_client()
    assert 'href="/item/museo-F1"' in client.get("/").get_data(as_text=True)
    # Only top-level units are collections; items show among the recent additions.
    collections = client.get("/?format=json").get_json()["collections"]
    assert [c["id"] for c in collections] == ["museo-F1"]


def test_json_ld_is_compact_with_prefixes(loaded: Flask) -> None:
    doc = json.loads(loaded.test_client().get("/item/museo-I1.jsonld").get_data())
    assert "@context" in doc
