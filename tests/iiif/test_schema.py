"""The validation wrapper is wired right (official fixtures), and everything we serve passes it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from iiif_prezi3 import Collection, Manifest

from iiif.schema import schema_path, validate_presentation
from tests.conftest import SHARED
from tests.iiif.test_presentation_support import corpus_app, demo_app  # noqa: F401

FIXTURES = SHARED / "iiif" / "presentation"
GOOD = sorted((FIXTURES / "fixtures-good").glob("*.json"))
BAD = sorted((FIXTURES / "fixtures-bad").glob("*.json"))


def test_schema_is_the_shared_official_one() -> None:
    assert schema_path() == FIXTURES / "iiif_3_0.json"
    assert json.loads(schema_path().read_text())["$schema"].startswith(
        "http://json-schema.org/draft-07/schema")
    assert len(GOOD) >= 20 and len(BAD) >= 6


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_every_good_fixture_passes(path: Path) -> None:
    assert validate_presentation(json.loads(path.read_text())) == []


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_every_bad_fixture_fails(path: Path) -> None:
    errors = validate_presentation(json.loads(path.read_text()))
    assert errors and all(isinstance(e, str) and ": " in e for e in errors)


def test_errors_name_the_place() -> None:
    doc = {"@context": "http://iiif.io/api/presentation/3/context.json",
           "id": "http://example.org/m", "type": "Manifest", "label": {"en": ["x"]},
           "items": [{"id": "http://example.org/c", "type": "Canvas", "width": 10,
                      "items": []}]}
    errors = validate_presentation(doc)
    assert errors, "a canvas with a width and no height must fail"
    assert validate_presentation({**doc, "items": []}) == []
    assert validate_presentation({**doc, "rights": "https://example.org/mine"})


def _walk(client: Any, url: str, seen: dict[str, dict[str, Any]]) -> None:
    """Follow a collection's items to every collection and manifest below it."""
    path = url.split("http://memoria.test", 1)[1]
    resp = client.get(path)
    assert resp.status_code == 200, (path, resp.get_data(as_text=True))
    doc = resp.get_json()
    seen[url] = doc
    for item in doc.get("items", []):
        if item["id"] not in seen and item["type"] in ("Collection", "Manifest"):
            _walk(client, item["id"], seen)


def _served(app: Flask) -> dict[str, dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    _walk(app.test_client(), "http://memoria.test/iiif/3/collection", seen)
    return seen


def _check_all(app: Flask) -> tuple[int, int]:
    docs = _served(app)
    manifests = collections = 0
    for url, doc in docs.items():
        assert validate_presentation(doc) == [], url
        if doc["type"] == "Manifest":
            Manifest(**doc)
            manifests += 1
        else:
            Collection(**doc)
            collections += 1
    archive = app.extensions["memoria"]
    client = app.test_client()
    for rid in archive.ids():
        resp = client.get(f"/iiif/3/manifest/{rid}")
        if resp.status_code == 200:
            url = f"http://memoria.test/iiif/3/manifest/{rid}"
            assert url in docs, f"{url} cannot be reached from the top collection"
            assert validate_presentation(resp.get_json()) == []
        else:
            assert resp.status_code == 404
            assert "no images" in resp.get_json()["error"]
    return manifests, collections


@pytest.mark.slow
def test_every_demo_manifest_and_collection_validates(demo_app: Flask) -> None:  # noqa: F811
    manifests, collections = _check_all(demo_app)
    assert manifests == 40 and collections == 13


@pytest.mark.slow
def test_every_corpus_manifest_and_collection_validates(corpus_app: Flask) -> None:  # noqa: F811
    manifests, collections = _check_all(corpus_app)
    assert manifests >= 14 and collections >= 3
