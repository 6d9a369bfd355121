"""HTTP behaviour of the Presentation routes: CORS, media types, ETag and 304, gzip."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
from flask import Flask

from iiif.presentation_routes import content_state
from tests.iiif.test_presentation_support import book_app  # noqa: F401

LD = 'application/ld+json;profile="http://iiif.io/api/presentation/3/context.json"'
PATHS = ["/iiif/3/manifest/lib-B1", "/iiif/3/collection", "/iiif/3/collection/lib-F1",
         "/iiif/3/collection/lib-F1/page/2", "/iiif/3/activity/all-changes",
         "/iiif/3/activity/page/1", "/iiif/3/manifest/lib-P5", "/iiif/3/manifest/lib-NONE"]


@pytest.mark.parametrize("path", PATHS)
def test_exactly_one_cors_header_everywhere(book_app: Flask, path: str) -> None:  # noqa: F811
    client = book_app.test_client()
    for resp in (client.get(path), client.head(path), client.options(path)):
        assert resp.headers.getlist("Access-Control-Allow-Origin") == ["*"], (path, resp.status)


def test_media_type_follows_accept(book_app: Flask) -> None:  # noqa: F811
    client = book_app.test_client()
    plain = client.get("/iiif/3/manifest/lib-B1")
    assert plain.headers["Content-Type"] == "application/json"
    ld = client.get("/iiif/3/manifest/lib-B1", headers={"Accept": "application/ld+json"})
    assert ld.headers["Content-Type"] == LD
    assert json.loads(ld.data) == json.loads(plain.data)
    assert "Accept" in ld.headers["Vary"]
    stream = client.get("/iiif/3/activity/all-changes", headers={"Accept": "application/ld+json"})
    assert stream.headers["Content-Type"] == \
        'application/ld+json;profile="http://iiif.io/api/discovery/1/context.json"'


def test_etag_and_304(book_app: Flask) -> None:  # noqa: F811
    client = book_app.test_client()
    first = client.get("/iiif/3/manifest/lib-B1")
    etag = first.headers["ETag"]
    again = client.get("/iiif/3/manifest/lib-B1", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    other = client.get("/iiif/3/manifest/lib-B1",
                       headers={"If-None-Match": etag, "Accept": "application/ld+json"})
    assert other.status_code == 200, "another representation has another tag"
    coll = client.get("/iiif/3/collection/lib-F1")
    assert client.get("/iiif/3/collection/lib-F1",
                      headers={"If-None-Match": coll.headers["ETag"]}).status_code == 304


def test_gzip_when_accepted(book_app: Flask) -> None:  # noqa: F811
    client = book_app.test_client()
    plain = client.get("/iiif/3/manifest/lib-F1")
    assert "Content-Encoding" not in plain.headers
    zipped = client.get("/iiif/3/manifest/lib-F1", headers={"Accept-Encoding": "gzip, br"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert gzip.decompress(zipped.data) == plain.data
    assert len(zipped.data) < len(plain.data) / 3
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    refused = client.get("/iiif/3/manifest/lib-F1", headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers


def test_errors_are_json_with_a_clear_message(book_app: Flask) -> None:  # noqa: F811
    client = book_app.test_client()
    resp = client.get("/iiif/3/collection/lib-B1")
    assert resp.status_code == 404 and resp.mimetype == "application/json"
    assert "has no parts" in resp.get_json()["error"]
    assert client.get("/iiif/3/collection/lib-F1/page/9").status_code == 404
    assert client.get("/iiif/3/activity/page/99").status_code == 404


def test_content_state_is_base64url_json() -> None:
    url = "http://memoria.test/iiif/3/manifest/lib-B1"
    encoded = content_state(url)
    assert "=" not in encoded and "+" not in encoded and "/" not in encoded
    state = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    assert state["motivation"] == ["contentState"]
    assert state["target"] == {"id": url, "type": "Manifest"}
    canvas = json.loads(base64.urlsafe_b64decode(
        (c := content_state(url, url + "/canvas/B1-p2")) + "=" * (-len(c) % 4)))
    assert canvas["target"]["partOf"] == [{"id": url, "type": "Manifest"}]


def test_viewer_partial_renders_the_switch_and_links(book_app: Flask) -> None:  # noqa: F811
    from flask import render_template_string

    url = "http://memoria.test/iiif/3/manifest/lib-B1"
    with book_app.test_request_context("/item/lib-B1"):
        html = render_template_string('{% include "_viewer.html" %}', manifest_url=url)
    assert 'data-manifest="http://memoria.test/iiif/3/manifest/lib-B1"' in html
    assert 'data-viewer="mirador"' in html and 'data-viewer="uv"' in html
    assert f"iiif-content={content_state(url)}" in html
    assert "/static/vendor/mirador/mirador.min.js" in html
    assert "/static/vendor/uv/umd/UV.js" in html
    with book_app.test_request_context("/item/lib-P5"):
        assert render_template_string('{% include "_viewer.html" %}',
                                      manifest_url=None).strip() == ""


def test_page_with_a_viewer_gets_the_viewer_policy(book_app: Flask) -> None:  # noqa: F811
    from flask import render_template_string

    from iiif.presentation_routes import VIEWER_CSP

    page = '{% with manifest_url = iiif_manifest_url(rid) %}{% include "_viewer.html" %}' \
           '{% endwith %}'
    book_app.add_url_rule("/_viewer/<rid>", "viewer_page",
                          lambda rid: render_template_string(page, rid=rid))
    client = book_app.test_client()
    with_viewer = client.get("/_viewer/lib-B1")
    assert 'data-manifest="http://memoria.test/iiif/3/manifest/lib-B1"' in with_viewer.text
    assert with_viewer.headers["Content-Security-Policy"] == VIEWER_CSP
    without = client.get("/_viewer/lib-P5")
    assert "data-memoria-viewer" not in without.text
    assert without.headers["Content-Security-Policy"] != VIEWER_CSP
    item = client.get("/item/lib-B1")
    assert (item.headers["Content-Security-Policy"] == VIEWER_CSP) == \
        ("data-memoria-viewer" in item.text)
