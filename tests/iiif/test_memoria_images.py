"""Pyramids are built at ingest, served through the app, withdrawn with their record, rebuilt."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from archive.pyramids import SOURCE_DIGEST_FILE
from archive.settings import Settings
from archive.web import create_app
from ingest.mapping import load_mapping
from ingest.pipeline import run_batch
from ingest.registry import get_reader
from tests.conftest import BASE_URL, write_image


@pytest.fixture
def memoria_app(settings: Settings) -> Iterator[Flask]:
    """The whole Memoria app (tests/iiif/conftest.py's `app` is the bare image blueprint)."""
    app = create_app(settings)
    yield app
    app.extensions["memoria"].close()


@pytest.fixture
def loaded(memoria_app: Flask, sample_source: Path) -> Flask:
    app = memoria_app
    archive = app.extensions["memoria"]
    report = run_batch(archive, get_reader("csv"), sample_source / "records.csv",
                       options={"mapping": load_mapping(sample_source / "mapping.toml")})
    assert len(report.accepted) == 4, report.summary()
    return app


def test_ingest_builds_a_pyramid_per_image(loaded: Flask, settings: Settings) -> None:
    for image_id in ("I1", "I2"):
        assert (settings.pyramid_dir / image_id / "pyramid.mpt").is_file()
        assert (settings.pyramid_dir / image_id / SOURCE_DIGEST_FILE).is_file()
    info = loaded.test_client().get("/iiif/3/I1/info.json").get_json()
    assert info["id"] == f"{BASE_URL}/iiif/3/I1"
    assert (info["width"], info["height"]) == (800, 600)
    tile = loaded.test_client().get("/iiif/3/I2/full/max/0/default.jpg")
    assert tile.status_code == 200 and tile.mimetype == "image/jpeg"
    assert tile.headers["Access-Control-Allow-Origin"] == "*"


def test_item_page_shows_the_image_through_iiif(loaded: Flask) -> None:
    html = loaded.test_client().get("/item/museo-I1").get_data(as_text=True)
    assert f'src="{BASE_URL}/iiif/3/I1/full/!480,480/0/default.jpg"' in html


def test_reingest_does_not_rebuild_current_pyramids(loaded: Flask, settings: Settings,
                                                    sample_source: Path) -> None:
    mtime = (settings.pyramid_dir / "I1" / "pyramid.mpt").stat().st_mtime_ns
    run_batch(loaded.extensions["memoria"], get_reader("csv"), sample_source / "records.csv",
              options={"mapping": load_mapping(sample_source / "mapping.toml")})
    assert (settings.pyramid_dir / "I1" / "pyramid.mpt").stat().st_mtime_ns == mtime


def test_withdrawn_record_takes_its_images_away(loaded: Flask) -> None:
    loaded.extensions["memoria"].withdraw("museo-I2", "test")
    assert loaded.test_client().get("/iiif/3/I2/info.json").status_code == 404
    assert loaded.test_client().get("/iiif/3/I1/info.json").status_code == 200


def test_rebuild_recreates_pyramids_from_storage(loaded: Flask, settings: Settings) -> None:
    shutil.rmtree(settings.pyramid_dir)
    assert loaded.test_client().get("/iiif/3/I1/info.json").status_code == 404
    report = loaded.extensions["memoria"].rebuild()
    assert report.pyramids == 2 and report.pyramid_errors == []
    assert loaded.test_client().get("/iiif/3/I1/info.json").get_json()["width"] == 800


def test_an_image_that_cannot_be_decoded_rejects_its_record(memoria_app: Flask,
                                                           tmp_path: Path) -> None:
    app = memoria_app
    folder = tmp_path / "scans"
    good = write_image(folder / "fine.jpg", (300, 200))
    data = good.read_bytes()
    (folder / "broken.jpg").write_bytes(data[: len(data) // 3])
    report = run_batch(app.extensions["memoria"], get_reader("folder"), folder)
    assert [a.record_id for a in report.accepted] == ["files-fine"]
    assert len(report.rejected) == 1
    assert "broken.jpg" in report.rejected[0].reason
    assert app.extensions["memoria"].ids() == ["files-fine"]


@pytest.mark.parametrize("path", [
    "/iiif/3/..%2F..%2Fetc/info.json", "/iiif/3/%2e%2e/info.json", "/iiif/3/I1%00/info.json",
    "/iiif/3/" + "a" * 300 + "/info.json", "/iiif/3/museo-I1/info.json",
    "/iiif/3/I1/full/max/0/default.exe", "/iiif/3/I1/full/max/0/default.jpg/../../x",
])
def test_hostile_image_requests_through_the_app(loaded: Flask, path: str) -> None:
    assert loaded.test_client().get(path).status_code in {400, 404}


def test_ids_ignore_the_host_header_and_untrusted_proxy_headers(loaded: Flask) -> None:
    info = loaded.test_client().get("/iiif/3/I1/info.json", headers={
        "Host": "attacker.example", "X-Forwarded-Host": "attacker.example",
        "X-Forwarded-Proto": "https", "X-Forwarded-Prefix": "/evil"}).get_json()
    assert info["id"] == f"{BASE_URL}/iiif/3/I1"


def test_behind_a_reverse_proxy_ids_stay_on_the_public_url(settings: Settings,
                                                          sample_source: Path) -> None:
    from archive.settings import load_settings

    proxied = load_settings({"home": str(settings.home), "fsync": False,
                             "base_url": "https://memoria.campeche.example/archivo",
                             "trusted_proxy_headers": "for,proto,host,prefix"}, environ={})
    app = create_app(proxied)
    try:
        run_batch(app.extensions["memoria"], get_reader("csv"), sample_source / "records.csv",
                  options={"mapping": load_mapping(sample_source / "mapping.toml")})
        # What the proxy forwards: the app itself sits at http://10.0.0.5:8000/.
        resp = app.test_client().get("/iiif/3/I1/info.json", base_url="http://10.0.0.5:8000",
                                     headers={"X-Forwarded-Host": "memoria.campeche.example",
                                              "X-Forwarded-Proto": "https",
                                              "X-Forwarded-Prefix": "/archivo"})
        assert resp.get_json()["id"] == "https://memoria.campeche.example/archivo/iiif/3/I1"
        redirect = app.test_client().get("/iiif/3/I1", base_url="http://10.0.0.5:8000",
                                         headers={"X-Forwarded-Host": "memoria.campeche.example",
                                                  "X-Forwarded-Proto": "https",
                                                  "X-Forwarded-Prefix": "/archivo"})
        assert redirect.status_code == 303
        assert redirect.headers["Location"] == (
            "https://memoria.campeche.example/archivo/iiif/3/I1/info.json")
    finally:
        app.extensions["memoria"].close()
