"""The Flask blueprint: routes, headers, errors and hostile identifiers and parameters."""

from __future__ import annotations

import http.client
import io
import json
import os
import random
import string
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from werkzeug.test import TestResponse

from iiif.image_routes import directory_resolver
from iiif.pyramid import PYRAMID_FILE, build_pyramid
from tests.iiif.conftest import HIBISCUS, VALIDATOR_ID, make_app

ACAO = "Access-Control-Allow-Origin"


def _one_acao(resp: TestResponse) -> None:
    assert resp.headers.getlist(ACAO) == ["*"], dict(resp.headers)


@pytest.mark.parametrize("version", ["2", "3"])
def test_info_json(client: FlaskClient, version: str) -> None:
    """info.json with the id built from base_url, never from the Host header."""
    resp = client.get(f"/iiif/{version}/ferns/info.json", headers={"Host": "evil.example"})
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    doc = resp.get_json()
    key = "id" if version == "3" else "@id"
    assert doc[key] == f"http://localhost/iiif/{version}/ferns"
    assert doc["width"] == 2626
    _one_acao(resp)
    assert f"http://iiif.io/api/image/{version}/level2.json" in resp.headers["Link"]
    assert "Accept" in resp.headers["Vary"]


def test_info_jsonld_media_type(client: FlaskClient) -> None:
    """Asking for JSON-LD gets application/ld+json with the context as profile."""
    resp = client.get("/iiif/3/ferns/info.json", headers={"Accept": "application/ld+json"})
    assert resp.headers["Content-Type"] == (
        'application/ld+json;profile="http://iiif.io/api/image/3/context.json"'
    )
    assert json.loads(resp.data)["type"] == "ImageService3"


@pytest.mark.parametrize("version", ["2", "3"])
def test_base_uri_redirects(client: FlaskClient, version: str) -> None:
    """The base URI answers 303 to info.json."""
    resp = client.get(f"/iiif/{version}/ferns")
    assert resp.status_code == 303
    assert resp.headers["Location"] == f"http://localhost/iiif/{version}/ferns/info.json"
    _one_acao(resp)


def test_image_response_headers(client: FlaskClient) -> None:
    """Image responses carry media type, canonical and profile links, ETag and Last-Modified."""
    resp = client.get("/iiif/3/ferns/pct:0,0,100,100/1313,/0/default.png")
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    link = resp.headers["Link"]
    assert '<http://localhost/iiif/3/ferns/full/1313,1810/0/default.png>;rel="canonical"' in link
    assert '<http://iiif.io/api/image/3/level2.json>;rel="profile"' in link
    assert resp.headers["ETag"] and resp.headers["Last-Modified"]
    with Image.open(io.BytesIO(resp.data)) as im:
        assert im.size == (1313, 1810)
    _one_acao(resp)


def test_conditional_requests(client: FlaskClient) -> None:
    """If-None-Match and If-Modified-Since give 304 with the same headers."""
    url = "/iiif/3/ferns/0,0,512,512/512,/0/default.jpg"
    first = client.get(url)
    etag = first.headers["ETag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    _one_acao(again)
    since = client.get(url, headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert since.status_code == 304
    other = client.get(url, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    info = client.get("/iiif/3/ferns/info.json")
    assert (
        client.get(
            "/iiif/3/ferns/info.json", headers={"If-None-Match": info.headers["ETag"]}
        ).status_code
        == 304
    )


def test_tile_bytes_straight_from_pyramid(client: FlaskClient, pyramid_root: Path) -> None:
    """An aligned tile request returns the stored tile bytes."""
    from iiif.pyramid import open_pyramid

    stored = open_pyramid(pyramid_root / "ferns").tile_bytes(2, 1, 0)
    assert client.get("/iiif/3/ferns/1024,0,1024,1024/512,512/0/default.jpg").data == stored
    assert client.get("/iiif/2/ferns/1024,0,1024,1024/512,/0/default.jpg").data == stored


def test_options_preflight(client: FlaskClient) -> None:
    """OPTIONS answers a CORS preflight on every route."""
    for url in ["/iiif/3/ferns/info.json", "/iiif/3/ferns/full/max/0/default.jpg", "/iiif/2/ferns"]:
        resp = client.options(
            url,
            headers={
                "Origin": "https://viewer.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "Range",
            },
        )
        assert resp.status_code == 200
        _one_acao(resp)
        assert "GET" in resp.headers["Access-Control-Allow-Methods"]
        assert resp.headers["Access-Control-Allow-Headers"] == "Range"


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/iiif/3/nosuchimage/info.json", 404),
        ("/iiif/3/nosuchimage/full/max/0/default.jpg", 404),
        ("/iiif/3/ferns/full/full/0/default.jpg", 400),
        ("/iiif/3/ferns/full/3000,/0/default.jpg", 400),
        ("/iiif/3/ferns/5000,0,10,10/max/0/default.jpg", 400),
        ("/iiif/3/ferns/0,0,0,10/max/0/default.jpg", 400),
        ("/iiif/3/ferns/full/max/0/default.jp2", 501),
        ("/iiif/3/ferns/full/max/0/default.pdf", 501),
        ("/iiif/3/ferns/full/max/0/default.bmp", 400),
        ("/iiif/3/ferns/full/max/0/native.jpg", 400),
        ("/iiif/3/ferns/full/max/-5/default.jpg", 400),
        ("/iiif/2/ferns/full/^max/0/default.jpg", 400),
        ("/iiif/4/ferns/info.json", 404),
        ("/iiif/3/ferns/full/max/0", 404),
        ("/iiif/3/ferns/full/^100000,100000/0/default.jpg", 400),
    ],
)
def test_errors(client: FlaskClient, url: str, status: int) -> None:
    """400, 404 and 501 as the spec says, each with CORS."""
    resp = client.get(url)
    assert resp.status_code == status, resp.data
    _one_acao(resp)


def test_2_upscaling_allowed(client: FlaskClient) -> None:
    """2.1 scales above full size without a caret."""
    resp = client.get("/iiif/2/hibiscus/full/624,/0/default.jpg")
    assert resp.status_code == 200
    with Image.open(io.BytesIO(resp.data)) as im:
        assert im.size == (624, 884)


def test_head(client: FlaskClient) -> None:
    """HEAD works like GET without a body."""
    resp = client.head("/iiif/3/ferns/full/100,/0/default.jpg")
    assert resp.status_code == 200 and resp.mimetype == "image/jpeg"


HOSTILE_IDS = [
    "..",
    ".",
    "../ferns",
    "..%2fferns",
    "%2e%2e",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252f",
    "%25%32%65",
    "..%5c..%5cwindows",
    "ferns%00",
    "%00",
    "fe%00rns",
    "..\\..\\etc",
    "ferns\\..",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "C:%5cboot.ini",
    "a" * 201,
    "a" * 5000,
    "ferns/../ferns",
    "%c0%ae%c0%ae",
    "%e2%80%ae",
    "ferns%0a",
    "~root",
    "-ferns",
    ".hidden",
    "fer..ns",
    "%ff%fe",
    "$(id)",
    "ferns;ls",
    "[frob]",
]


@pytest.mark.parametrize("ident", HOSTILE_IDS)
@pytest.mark.parametrize("suffix", ["/info.json", "/full/max/0/default.jpg", ""])
def test_hostile_identifiers(client: FlaskClient, ident: str, suffix: str) -> None:
    """Traversal and junk identifiers are 400 or 404, never served and never 500."""
    resp = client.get(f"/iiif/3/{ident}{suffix}")
    assert resp.status_code in (400, 404), (ident, resp.status_code)
    _one_acao(resp)


def test_hostile_identifiers_raw_http(live_server: str) -> None:
    """The same over a real socket, where the path reaches the server unnormalised."""
    raw_paths = [
        "/iiif/3/../../../../etc/passwd",
        "/iiif/3/..%2f..%2f..%2fetc%2fpasswd/info.json",
        "/iiif/3/%2e%2e/info.json",
        "/iiif/3/%2E%2E%2F%2E%2E/full/max/0/default.jpg",
        "/iiif/3/..%5c..%5cetc/info.json",
        "/iiif/3/ferns%00/info.json",
        "/iiif/3/%252e%252e%252f/info.json",
        "/iiif/3//etc/passwd/info.json",
        "/iiif/3/" + "x" * 3000 + "/info.json",
        "/iiif/3/\\..\\..\\etc/info.json",
        "/iiif/3/%c0%ae%c0%ae/info.json",
        "/iiif/3/../3/ferns/info.json",
    ]
    host, port = live_server.split(":")
    for path in raw_paths:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.endheaders()
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status in (400, 404), (path, resp.status, body[:200])
        assert b"root:" not in body
        assert resp.headers.get_all(ACAO) == ["*"], path
        conn.close()


def test_symlinked_pyramid_refused(tmp_path: Path) -> None:
    """A symlink inside the pyramid root, to a directory or file outside, is 404."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    build_pyramid(HIBISCUS, outside / "secret")
    build_pyramid(HIBISCUS, root / "real")
    os.symlink(outside / "secret", root / "linked")
    (root / "filelink").mkdir()
    os.symlink(outside / "secret" / PYRAMID_FILE, root / "filelink" / PYRAMID_FILE)
    app = make_app(root, tmp_path / "cache")
    client = app.test_client()
    assert client.get("/iiif/3/real/info.json").status_code == 200
    assert client.get("/iiif/3/linked/info.json").status_code == 404
    assert client.get("/iiif/3/filelink/info.json").status_code == 404
    resolve = directory_resolver(root)
    assert resolve("linked") is None and resolve("..") is None and resolve("real") is not None


def test_resolver_not_called_for_bad_identifiers(tmp_path: Path) -> None:
    """Routes reject hostile identifiers before the resolver sees them."""
    seen: list[str] = []

    def resolver(identifier: str) -> Path | None:
        seen.append(identifier)
        return None

    from iiif.image_routes import create_image_blueprint

    app = Flask(__name__)
    app.register_blueprint(create_image_blueprint(resolver, base_url=lambda: "http://x"))
    client = app.test_client()
    for ident in HOSTILE_IDS:
        client.get(f"/iiif/3/{ident}/info.json")
        client.get(f"/iiif/3/{ident}/full/max/0/default.jpg")
    assert all(".." not in s and "/" not in s and "\\" not in s and "\x00" not in s for s in seen)
    assert all(len(s) <= 200 for s in seen)
    client.get("/iiif/3/fine-id/info.json")
    assert seen[-1] == "fine-id"


def test_escaped_identifier(client: FlaskClient) -> None:
    """Percent-escaped characters in a valid identifier are decoded (validator id_escaped)."""
    assert client.get(f"/iiif/3/{VALIDATOR_ID.replace('-', '%2D')}/info.json").status_code == 200


def test_render_goes_through_cache(tmp_path: Path, pyramid_root: Path) -> None:
    """Non-tile requests are cached on disk; tile requests are not."""
    app = make_app(pyramid_root, tmp_path / "cache")
    client = app.test_client()
    client.get("/iiif/3/ferns/0,0,512,512/512,/0/default.jpg")
    assert not any((tmp_path / "cache").rglob("*")) or not any(
        p.is_file() for p in (tmp_path / "cache").rglob("*")
    )
    a = client.get("/iiif/3/ferns/10,10,300,300/150,/0/default.jpg")
    b = client.get("/iiif/3/ferns/10,10,300,300/150,/0/default.jpg")
    assert a.data == b.data
    assert sum(1 for p in (tmp_path / "cache").rglob("*") if p.is_file()) == 1


SEGMENT_PIECES = [
    "full",
    "max",
    "square",
    "pct:",
    "^",
    "!",
    ",",
    ".",
    "0",
    "90",
    "999999999999",
    "-1",
    "default",
    "jpg",
    "gray",
    "png",
    "%25",
    "%2e",
    "%20",
    "~",
    "nan",
    "1e5",
    "%ff",
    "%c0%80",
    "%00",
    ";",
    "'",
    '"',
    "<",
    "*",
    "?",
    "#",
]


def _segment(rng: random.Random) -> str:
    if rng.random() < 0.4:
        chars = string.ascii_letters + string.digits + "!^,.:-_~%"
        return "".join(rng.choice(chars) for _ in range(rng.randint(0, 20)))
    return "".join(rng.choice(SEGMENT_PIECES) for _ in range(rng.randint(0, 5)))


def test_fuzz_never_500(client: FlaskClient) -> None:
    """Random request strings get 200, 303, 400, 404 or 501, never a 500."""
    rng = random.Random(42)
    for _ in range(1500):
        parts = [rng.choice(["ferns", "hibiscus", _segment(rng)])]
        parts += [_segment(rng) for _ in range(rng.choice([0, 1, 4, 4, 4]))]
        if rng.random() < 0.5 and len(parts) == 5:
            parts[-1] = (
                rng.choice(["default", "gray", "bitonal", "color"])
                + "."
                + rng.choice(["jpg", "png", "webp", "gif", "tif"])
            )
        url = f"/iiif/{rng.choice(['2', '3'])}/" + "/".join(quote(p, safe="!^,.:%~") for p in parts)
        resp = client.get(url)
        assert resp.status_code in (200, 303, 400, 404, 405, 501), (url, resp.status_code)
        assert resp.headers.getlist(ACAO) == ["*"], url


def test_fuzz_wellformed_geometry_never_500(client: FlaskClient) -> None:
    """Random well-formed regions, sizes and rotations render or fail cleanly."""
    rng = random.Random(3)
    for _ in range(300):
        region = rng.choice(
            [
                "full",
                "square",
                f"{rng.randint(0, 330)},{rng.randint(0, 460)},"
                f"{rng.randint(0, 330)},{rng.randint(0, 460)}",
                f"pct:{rng.uniform(0, 110):.2f},{rng.uniform(0, 110):.2f},"
                f"{rng.uniform(0, 110):.2f},{rng.uniform(0, 110):.2f}",
            ]
        )
        size = rng.choice(
            [
                "max",
                "^max",
                f"{rng.randint(0, 400)},",
                f",{rng.randint(0, 400)}",
                f"!{rng.randint(0, 400)},{rng.randint(0, 400)}",
                f"^{rng.randint(0, 400)},{rng.randint(0, 400)}",
                f"pct:{rng.uniform(0, 150):.2f}",
                f"^pct:{rng.uniform(0, 150):.2f}",
            ]
        )
        rotation = rng.choice(["0", "90", "!270", f"{rng.uniform(0, 360):.3f}", "!33"])
        qf = f"{rng.choice(['default', 'gray', 'bitonal'])}.{rng.choice(['jpg', 'png', 'gif'])}"
        version = rng.choice(["2", "3"])
        if version == "2":
            size = size.lstrip("^")
        resp = client.get(f"/iiif/{version}/hibiscus/{region}/{size}/{rotation}/{qf}")
        assert resp.status_code in (200, 400), (region, size, rotation, qf, resp.data[:200])
