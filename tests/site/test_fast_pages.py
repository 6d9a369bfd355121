"""Whole kept answers before Flask: the same bytes and headers, never across a data change."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, make_response, request
from werkzeug.test import Client

from archive.site.fast_pages import ENVIRON_VIEW, FastPages
from tests.site.item_fixtures import make_loaded_app


def small_app(token: list[Any], calls: list[str]) -> Flask:
    """A real Flask app whose /page is vouched for under the current token (as the page
    cache does), /other is not, and /missing is a 404."""
    app = Flask(__name__)

    @app.get("/page")
    def page() -> Response:
        calls.append(request.full_path)
        request.environ[ENVIRON_VIEW] = token[0]
        lang = request.headers.get("Accept-Language", "")
        resp = make_response(f"page {request.args.get('n', '')} {lang} {token[0]}")
        resp.headers["X-Page-Cache"] = "miss"
        resp.set_etag("e")
        resp.make_conditional(request)  # in place
        return resp

    @app.get("/other")
    def other() -> str:
        calls.append(request.full_path)
        return "other"

    app.wsgi_app = FastPages(app.wsgi_app, lambda: token[0], 1 << 20)  # type: ignore
    return app


def test_a_vouched_page_is_answered_again_without_flask() -> None:
    token: list[Any] = ["t1"]
    calls: list[str] = []
    client = Client(small_app(token, calls).wsgi_app)
    first = client.get("/page?n=1")
    again = client.get("/page?n=1")
    assert calls == ["/page?n=1"]
    assert (again.status_code, again.get_data()) == (200, b"page 1  t1")
    assert first.headers["X-Page-Cache"] == "miss" and again.headers["X-Page-Cache"] == "hit"
    assert again.headers["ETag"] == first.headers["ETag"]
    # Another query, another language, a conditional request, HEAD: Flask answers.
    client.get("/page?n=2")
    client.get("/page?n=1", headers={"Accept-Language": "es"})
    assert client.get("/page?n=1", headers={"If-None-Match": '"e"'}).status_code == 304
    client.head("/page?n=1")
    assert len(calls) == 5
    # Not vouched for by the page cache (no token in the environ): never kept.
    client.get("/other")
    client.get("/other")
    assert calls[-2:] == ["/other?", "/other?"]



def test_clear_forgets_every_kept_answer() -> None:
    token: list[Any] = ["t1"]
    calls: list[str] = []
    app = small_app(token, calls)
    client = Client(app.wsgi_app)
    client.get("/page?n=1")
    client.get("/page?n=1")
    assert calls == ["/page?n=1"] and len(app.wsgi_app) == 1  # type: ignore[arg-type]
    app.wsgi_app.clear()  # type: ignore[attr-defined]
    assert len(app.wsgi_app) == 0  # type: ignore[arg-type]
    assert client.get("/page?n=1").headers["X-Page-Cache"] == "miss"
    assert calls == ["/page?n=1", "/page?n=1"]

def test_a_kept_answer_is_never_served_under_another_data_token() -> None:
    token: list[Any] = ["t1"]
    calls: list[str] = []
    client = Client(small_app(token, calls).wsgi_app)
    client.get("/page")
    token[0] = "t2"  # an ingest, a correction: the page cache's token moves
    assert client.get("/page").get_data() == b"page   t2"
    assert client.get("/page").get_data() == b"page   t2"
    assert len(calls) == 2
    token[0] = None  # no cheap token (e.g. Elasticsearch): Flask answers every time
    client.get("/page")
    client.get("/page")
    assert len(calls) == 4


def test_the_copies_are_bounded_in_bytes() -> None:
    pages = FastPages(lambda e, s: [], lambda: "t", 64_000)
    for i in range(100):
        pages._keep((str(i),), ("t", "200 OK", [], b"x" * 5_000))
    assert 8 <= len(pages) <= 13 and ("99",) in pages._entries and ("0",) not in pages._entries
    pages._keep(("big",), ("t", "200 OK", [], b"x" * 10_000))  # over an eighth: not kept
    assert ("big",) not in pages._entries


def gz_text(resp: Any) -> str:
    """The text of a gzip-encoded answer."""
    return gzip.decompress(resp.get_data()).decode()


def image_services(node: Any) -> Iterator[str]:
    """The ids of the IIIF image services in a manifest."""
    if isinstance(node, dict):
        if str(node.get("type", "")).startswith("ImageService"):
            yield str(node.get("id") or node.get("@id"))
        for value in node.values():
            yield from image_services(value)
    elif isinstance(node, list):
        for value in node:
            yield from image_services(value)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = make_loaded_app(tmp_path, images=True)
    yield app
    app.extensions["memoria"].close()


def test_the_site_answers_a_kept_page_whole_with_the_headers_flask_gave(app: Flask) -> None:
    entered: list[str] = []
    # First of the hooks: the page cache's own returns a kept page before the later ones run.
    app.before_request_funcs.setdefault(None, []).insert(
        0, lambda: entered.append(request.full_path))
    client = app.test_client(use_cookies=False)  # ?lang= sets a cookie: another request
    for path in ("/item/museo-I1", "/item/museo-I4?lang=es", "/search?q=templo",
                 "/search?q=Merced&format=json"):
        rendered, again, more = client.get(path), client.get(path), client.get(path)
        assert [r.headers["X-Page-Cache"] for r in (rendered, again, more)] == \
            ["miss", "hit", "hit"], path
        # Kept whole when it was rendered: Flask is not entered again.
        assert len([p for p in entered if p.rstrip("?") == path]) == 1, entered
        assert more.get_data() == again.get_data() == rendered.get_data()
        headers = {k: v for k, v in rendered.headers.items() if k != "X-Page-Cache"}
        assert {k: v for k, v in again.headers.items() if k != "X-Page-Cache"} == headers
    # The shared cache's hit (another worker's render, here the copies forgotten) is kept too.
    app.wsgi_app.clear()  # type: ignore[attr-defined]
    through_flask, whole = client.get("/search?q=templo"), client.get("/search?q=templo")
    assert len([p for p in entered if p == "/search?q=templo"]) == 2
    assert whole.get_data() == through_flask.get_data()
    assert dict(whole.headers) == dict(through_flask.headers)
    # A IIIF manifest too (made from the data alone), each encoding its own answer.
    path = "/iiif/3/manifest/museo-I1"
    plain, again = client.get(path), client.get(path)
    gz = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    assert gz.headers.get("Content-Encoding") == "gzip"
    assert (again.get_data(), dict(again.headers)) == (plain.get_data(), dict(plain.headers))
    assert len([p for p in entered if p.rstrip("?") == path]) == 2, entered
    # And IIIF images (a tile of the pyramid here).
    service = next(iter(image_services(json.loads(gz_text(gz)))))
    tile = service.split("://", 1)[1].split("/", 1)[1]
    tile = f"/{tile}/0,0,256,256/256,/0/default.jpg"
    first, second = client.get(tile), client.get(tile)
    assert first.status_code == 200 and first.mimetype == "image/jpeg"
    assert (second.get_data(), dict(second.headers)) == (first.get_data(), dict(first.headers))
    assert len([p for p in entered if p.rstrip("?") == tile]) == 1, entered
    # A conditional request still gets Flask's 304, with the safety headers.
    etag = client.get("/item/museo-I1").headers["ETag"]
    resp = client.get("/item/museo-I1", headers={"If-None-Match": etag})
    assert resp.status_code == 304 and "Content-Security-Policy" in resp.headers
