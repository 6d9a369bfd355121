"""Safety: headers on every response, request limits, and hostile metadata on the real pages."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import html as lxml_html
from werkzeug.serving import make_server

from archive.record import RecordBuilder, RecordDraft
from archive.service import Provenance
from archive.settings import load_settings
from archive.site.security import (
    is_safe_url,
    isolate_bidi,
    merge_policy,
    site_policy,
    tile_origin,
)
from archive.vocab import DC
from archive.web import create_app
from iiif.presentation_routes import VIEWER_CSP
from ingest.mapping import load_mapping
from ingest.pipeline import run_batch
from ingest.registry import get_reader
from tests.conftest import BASE_URL, SAMPLE_MAPPING, write_image
from tests.site import ensure_catalogues

SCRIPT_TITLE = "<script>alert(1)</script> Templo"
BREAKOUT_TITLE = "Fin </script><script>alert(2)</script> del bloque"
RLO_TITLE = "Plano \u202egpj.exe del puerto"
HOSTILE_CSV = f"""inv,titulo,title,fecha,autor,temas,lugar,lat,lon,derechos,padre,orden,nivel,imagen
X1,"{SCRIPT_TITLE}","<img src=x onerror=alert(1)>",1700,"<b>Autor</b>",<i>tema</i>,Oaxaca,17.06,-96.72,CC0,,1,item,X1.jpg
X2,"{BREAKOUT_TITLE}",Breakout,1701,,templos,Oaxaca,17.06,-96.72,CC0,,2,item,
X3,"{RLO_TITLE}",Harbour plan,1702,,templos,Campeche,19.84,-90.53,CC0,,3,item,
"""
# A tile server on plain http (refused port): the CSP must allow it, and nothing leaves the host.
TILES = "http://127.0.0.1:9/{z}/{x}/{y}.png"
# Attributes a browser follows or runs.
URL_ATTRIBUTES = ("href", "src", "action", "formaction", "xlink:href", "poster", "srcset")
JSON_TYPES = ("application/json", "application/ld+json")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _save_link_record(app: Flask) -> None:
    """A record whose links are javascript: URLs, saved as a broken reader could save it."""
    archive = app.extensions["memoria"]
    b = RecordBuilder(archive.minter, "hostile-X4")
    b.add_literal(DC.title, "Enlace hostil", "es")
    b.add_concept("enlace", "es", uri="javascript:alert(4)")
    b.add_place("Lugar hostil", 17.0, -96.7, "es", uri="javascript:alert(6)")
    b.add_date("1703")
    b.set_type("IMAGE")
    b.set_rights("http://creativecommons.org/publicdomain/zero/1.0/")
    b.set_providers("Museo de prueba")
    b.set_shown_at("javascript:alert(3)")
    draft = RecordDraft("hostile-X4", b.graph, b"{}", "application/json")
    archive.save(draft, Provenance("hostile.json", "1", "test-batch", "test", "1"))
    archive.sync()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """An instance with the sample collection and records with hostile metadata."""
    ensure_catalogues()
    tmp = tmp_path_factory.mktemp("hostile")
    # Served on this port by live_hostile, so that ids and images are same-origin there.
    base_url = f"http://127.0.0.1:{_free_port()}"
    settings = load_settings({"home": str(tmp / "home"), "base_url": base_url, "fsync": False,
                              "map_tile_url": TILES}, environ={})
    app = create_app(settings)
    app.config["TESTING"] = True
    app.config["MEMORIA_TEST_PORT"] = int(base_url.rsplit(":", 1)[1])
    source = tmp / "source"
    source.mkdir()
    (source / "mapping.toml").write_text(SAMPLE_MAPPING.replace('"museo"', '"hostile"'),
                                         encoding="utf-8")
    (source / "records.csv").write_text(HOSTILE_CSV, encoding="utf-8")
    write_image(source / "X1.jpg", (320, 240))
    report = run_batch(app.extensions["memoria"], get_reader("csv"), source / "records.csv",
                       options={"mapping": load_mapping(source / "mapping.toml"),
                                "images_dir": source})
    assert len(report.accepted) == 3, report.rejected
    _save_link_record(app)
    yield app
    app.extensions["memoria"].close()


def _json_blocks(tree: lxml_html.HtmlElement) -> list[object]:
    return [json.loads(s.text or "") for s in tree.iter("script") if s.get("type") in JSON_TYPES]


def _strings(data: object) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for v in data.values() for s in _strings(v)]
    if isinstance(data, list):
        return [s for v in data for s in _strings(v)]
    return []


def _isolated(node: lxml_html.HtmlElement, text: str) -> bool:
    """Whether a text with U+202E is isolated: in <bdi>, under dir=auto, or in FSI…PDI."""
    if re.fullmatch(r"[^\u202e]*(\u2068[^\u2069]*\u202e[^\u2069]*\u202c\u2069[^\u202e]*)+",
                    text):
        return True
    return any(el.tag == "bdi" or el.get("dir") == "auto" for el in node.iterancestors()) or \
        node.tag == "bdi" or node.get("dir") == "auto"


def assert_safe_page(html: str, where: str) -> lxml_html.HtmlElement:
    """The checks every page must pass, whatever its metadata says."""
    assert "<script>alert" not in html.lower(), where
    assert "<img src=x" not in html.lower(), where
    tree = lxml_html.fromstring(html)
    for script in tree.iter("script"):
        if script.get("src"):
            assert script.get("src").startswith("/static/"), where
            assert not (script.text or "").strip(), f"{where}: code in a script with src"
        else:
            assert script.get("type") in JSON_TYPES, f"{where}: inline script {script.text!r}"
            json.loads(script.text or "")  # a </script> in the data would have cut it short
    for el in tree.iter():
        if not isinstance(el.tag, str):
            continue
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), f"{where}: {name} on <{el.tag}>"
            assert name.lower() != "style", f"{where}: style attribute on <{el.tag}>"
            if name.lower() in URL_ATTRIBUTES:
                assert is_safe_url(value) or (el.tag == "img" and value.startswith("data:")), \
                    f"{where}: <{el.tag} {name}={value!r}>"
    body = tree.find("body")
    for el in body.iter():
        if not isinstance(el.tag, str):
            continue
        for text, holder in ((el.text, el), (el.tail, el.getparent())):
            if text and "\u202e" in text and holder is not None:
                assert _isolated(holder, text), f"{where}: bidi override not isolated: {text!r}"
    return tree


# Headers -------------------------------------------------------------------------------------

def _policy(header: str) -> dict[str, list[str]]:
    return {p.split()[0]: p.split()[1:] for p in header.split(";") if p.strip()}


def assert_headers(resp, where: str) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """The safety headers every response carries; returns the parsed CSP."""
    assert resp.headers["X-Content-Type-Options"] == "nosniff", where
    assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin", where
    assert resp.headers["Cross-Origin-Opener-Policy"] == "same-origin", where
    assert "Cross-Origin-Resource-Policy" not in resp.headers, where  # IIIF is for everyone
    policy = _policy(resp.headers["Content-Security-Policy"])
    assert policy["frame-ancestors"] == ["'self'"], where
    assert policy["object-src"] == ["'none'"], where
    assert policy["base-uri"] == ["'self'"], where
    assert policy["form-action"] == ["'self'"], where
    scripts = policy.get("script-src", policy["default-src"])
    assert scripts == ["'self'"], where
    return policy


def test_pages_errors_static_and_iiif_carry_the_headers(hostile: Flask) -> None:
    client = hostile.test_client()
    pages = ["/", "/search?q=templo", "/item/hostile-X2", "/item/hostile-X2.json",
             "/no-such-page", "/static/memoria.css", "/iiif/3/collection", "/healthz"]
    for path in pages:
        resp = client.get(path)
        policy = assert_headers(resp, path)
        if path in ("/", "/search?q=templo", "/no-such-page"):
            assert policy["style-src"] == ["'self'"], path
            assert policy["default-src"] == ["'self'"], path
            assert "https:" in policy["img-src"] and "data:" in policy["img-src"], path
            assert "http://127.0.0.1:9" in policy["img-src"], path
    assert client.get("/no-such-page").status_code == 404
    assert "Strict-Transport-Security" not in client.get("/").headers
    secure = client.get("/", base_url="https://127.0.0.1")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_item_pages_with_a_viewer_keep_the_viewer_policy(hostile: Flask) -> None:
    client = hostile.test_client()
    resp = client.get("/item/hostile-X1")
    assert resp.status_code == 200
    assert "data-memoria-viewer" in resp.text
    # The viewers' policy, with this instance's http tile server added to img-src.
    assert resp.headers["Content-Security-Policy"] == merge_policy(VIEWER_CSP, site_policy(TILES))
    policy = assert_headers(resp, "viewer page")
    viewer = _policy(VIEWER_CSP)
    assert all(set(sources) <= set(policy[name]) for name, sources in viewer.items())
    assert policy["img-src"] == [*viewer["img-src"], "http://127.0.0.1:9"]
    assert "'unsafe-inline'" not in policy["default-src"]


def test_a_tile_server_on_http_is_allowed_for_images(tmp_path: Path) -> None:
    assert tile_origin("https://tile.openstreetmap.org/{z}/{x}/{y}.png") == \
        "https://tile.openstreetmap.org"
    assert tile_origin("https://{s}.tile.example.org/{z}/{x}/{y}.png") == \
        "https://*.tile.example.org"
    assert tile_origin("") is None and tile_origin("javascript:alert(1)") is None
    settings = load_settings({"home": str(tmp_path / "home"), "base_url": BASE_URL,
                              "fsync": False,
                              "map_tile_url": "http://tiles.lan:8080/{z}/{x}/{y}.png"},
                             environ={})
    app = create_app(settings)
    try:
        policy = _policy(app.test_client().get("/").headers["Content-Security-Policy"])
        assert "http://tiles.lan:8080" in policy["img-src"]
    finally:
        app.extensions["memoria"].close()
    viewer = _policy(merge_policy(VIEWER_CSP, site_policy("http://tiles.lan:8080/{z}.png")))
    assert "http://tiles.lan:8080" in viewer["img-src"]
    assert merge_policy(VIEWER_CSP, site_policy()) == VIEWER_CSP


# Limits ---------------------------------------------------------------------------------------

def test_an_oversize_body_gets_413(hostile: Flask) -> None:
    client = hostile.test_client()
    resp = client.post("/search", data=b"x" * (2 << 20), content_type="text/plain")
    assert resp.status_code == 413
    assert_headers(resp, "413")
    assert "<h1>" in resp.text  # the site's error page, in the site's layout
    small = client.post("/search", data=b"x" * 1000, content_type="text/plain")
    assert small.status_code == 405


def test_long_addresses_and_many_parameters_are_refused(hostile: Flask) -> None:
    client = hostile.test_client()
    long = client.get("/search?q=" + "x" * 9000)
    assert long.status_code == 414
    assert_headers(long, "414")
    assert "x" * 2000 not in long.text  # the refused address is not repeated back
    assert client.get("/search?q=" + "x" * 5000).status_code != 414
    many = client.get("/search?" + "&".join(f"f.type=T{i}" for i in range(300)))
    assert many.status_code == 400
    twin = client.get("/search?q=" + "x" * 9000, headers={"Accept": "application/json"})
    assert twin.status_code == 414 and twin.get_json()["status"] == 414
    assert client.get("/search?q=templo&f.type=IMAGE").status_code == 200


# Hostile metadata on the real pages ----------------------------------------------------------

@pytest.mark.parametrize("lang", ["en", "zh-Hans", "es"])
def test_item_pages_escape_hostile_metadata(hostile: Flask, lang: str) -> None:
    client = hostile.test_client()
    english = {"hostile-X1": "<img src=x onerror=alert(1)>", "hostile-X2": "Breakout",
               "hostile-X3": "Harbour plan"}
    for rid, title in (("hostile-X1", SCRIPT_TITLE), ("hostile-X2", BREAKOUT_TITLE),
                       ("hostile-X3", RLO_TITLE), ("hostile-X4", "Enlace hostil")):
        resp = client.get(f"/item/{rid}?lang={lang}", headers={"Accept-Language": "es"})
        assert resp.status_code == 200, rid
        tree = assert_safe_page(resp.text, rid)
        h1 = tree.cssselect("h1")[0].text_content()
        shown = title if lang != "en" else english.get(rid, title)
        assert shown in h1.replace("\u2068", "").replace("\u202c", "").replace("\u2069", "")
    # The JSON-LD block holds the whole title, </script> and all.
    tree = lxml_html.fromstring(client.get("/item/hostile-X2?lang=es").text)
    assert any(BREAKOUT_TITLE in s for block in _json_blocks(tree) for s in _strings(block))
    # The javascript: links of X4 are shown, if at all, as text.
    x4 = client.get("/item/hostile-X4").text
    assert not re.search(r"href\s*=\s*[\"']?\s*javascript:", x4, re.I)


def test_search_page_escapes_hostile_metadata(hostile: Flask) -> None:
    client = hostile.test_client()
    for query in ("alert", "templo", "gpj", "", "<script>alert(1)</script>"):
        resp = client.get("/search", query_string={"q": query, "lang": "es"})
        assert resp.status_code == 200, query
        assert_safe_page(resp.text, f"search {query!r}")
    found = client.get("/search", query_string={"q": "alert", "lang": "es"}).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in found
    box = lxml_html.fromstring(
        client.get("/search", query_string={"q": '"><script>alert(9)</script>'}).text)
    assert box.cssselect("#site-q")[0].get("value") == '"><script>alert(9)</script>'


def test_label_sheet_escapes_hostile_metadata(hostile: Flask) -> None:
    resp = hostile.test_client().get(
        "/labels?id=hostile-X1&id=hostile-X2&id=hostile-X3&id=hostile-X4&lang=es")
    assert resp.status_code == 200
    tree = assert_safe_page(resp.text, "labels")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in resp.text
    assert len(tree.cssselect("svg")) >= 4  # the QR codes, inline


def test_home_page_escapes_hostile_metadata(hostile: Flask) -> None:
    resp = hostile.test_client().get("/?lang=es")
    assert resp.status_code == 200
    assert_safe_page(resp.text, "home")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in resp.text


@pytest.mark.parametrize("path", [
    "/collections", "/collection/hostile-X1", "/timeline", "/places", "/place?name=Oaxaca",
    "/place?name=%3Cscript%3Ealert(1)%3C/script%3E%E2%80%AE",
])
def test_browse_pages_escape_hostile_metadata(hostile: Flask, path: str) -> None:
    resp = hostile.test_client().get(path + ("&" if "?" in path else "?") + "lang=es")
    assert resp.status_code in (200, 404), path
    assert_safe_page(resp.text, path)


def test_error_pages_escape_what_was_asked(hostile: Flask) -> None:
    resp = hostile.test_client().get("/item/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert resp.status_code == 404
    assert_safe_page(resp.text, "404")


# The helpers ----------------------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)",
    "\x01javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)",
    "", "   ",
])
def test_unsafe_urls_are_not_links(url: str) -> None:
    assert not is_safe_url(url)


@pytest.mark.parametrize("url", [
    "https://creativecommons.org/licenses/by/4.0/", "http://example.org/a?b=c:d",
    "mailto:archivo@example.org", "/search?q=a:b", "item/x", "#top", "//cdn.example.org/x",
])
def test_safe_urls_are_links(url: str) -> None:
    assert is_safe_url(url)


def test_templates_get_safe_url_bdi_and_bidi_isolation(hostile: Flask) -> None:
    from flask import render_template_string

    with hostile.test_request_context("/"):
        page = render_template_string(
            '<a href="{{ u|safe_url }}">x</a>{% if u is safe_url %}LINK{% endif %}'
            '<p>{{ t|bdi }}</p><p>{{ t }}</p><script type="application/ld+json">{{ d|tojson }}'
            '</script>', u="javascript:alert(1)", t=RLO_TITLE, d={"name": BREAKOUT_TITLE})
    assert 'href=""' in page and "LINK" not in page
    assert f"<p><bdi>{RLO_TITLE}</bdi></p>" in page.replace("\u2068", "").replace(
        "\u202c\u2069", "")
    assert f"<p>{isolate_bidi(RLO_TITLE)}</p>" in page
    assert "</script><script>" not in page
    assert json.loads(page.split('ld+json">')[1].split("</script>")[0]) == \
        {"name": BREAKOUT_TITLE}


def test_isolate_bidi_closes_what_it_opens() -> None:
    assert isolate_bidi("plain") == "plain"
    assert isolate_bidi("\u202eabc") == "\u2068\u202eabc\u202c\u2069"
    assert isolate_bidi("\u2067\u202ex\u2069y") == "\u2068\u2067\u202ex\u2069y\u2069"
    assert isolate_bidi("\u202c\u2069z") == "\u2068z\u2069"  # stray closers cannot escape


# In a real browser ------------------------------------------------------------------------------

# Pages of every kind, with the hostile records in them (X1 has an image: Mirador draws).
BROWSER_PAGES = ["/?lang=es", "/search?q=alert&lang=es", "/search?q=templo&lang=zh-Hans",
                 "/item/hostile-X1?lang=es", "/item/hostile-X2?lang=es", "/item/hostile-X3",
                 "/item/hostile-X4", "/collections", "/places", "/timeline",
                 "/labels?id=hostile-X1&id=hostile-X2&id=hostile-X3&lang=zh-Hans",
                 "/no-such-page"]
# Records every CSP violation, before any page script runs (CDP scripts are exempt from CSP).
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.effectiveDirective + " " + e.blockedURI + " " + (e.sourceFile || ""));
});
window.__alerts = [];
window.alert = function (m) { window.__alerts.push(String(m)); };
"""


@pytest.fixture(scope="module")
def live_hostile(hostile: Flask) -> Iterator[str]:
    """The hostile instance served by a real HTTP server on 127.0.0.1 (a free port)."""
    server = make_server("127.0.0.1", hostile.config["MEMORIA_TEST_PORT"], hostile,
                         threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="hostile-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


def test_no_script_runs_and_nothing_breaks_the_policy_in_chromium(live_hostile: str) -> None:
    from tests.browser.conftest import chromium

    with chromium() as driver:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_CSP})
        for path in BROWSER_PAGES:
            driver.get(live_hostile + path)
            time.sleep(2.5 if "X1" in path else 0.8)  # deferred scripts, Leaflet, Mirador
            violations = driver.execute_script("return window.__csp")
            alerts = driver.execute_script("return window.__alerts")
            assert violations == [], f"{path}: {violations}"
            assert alerts == [], f"{path}: a script from the metadata ran: {alerts}"
            logged = [e["message"] for e in driver.get_log("browser")
                      if "Content Security Policy" in e["message"]]
            assert logged == [], f"{path}: {logged}"
            assert driver.find_elements("css selector", "header.site nav.languages a"), path


@pytest.mark.parametrize("path", ["//evil.example/x", "/\\evil.example/x", "///evil.example"])
def test_language_links_stay_on_the_site(hostile: Flask, path: str) -> None:
    # As a server passes it on (the test client would read "//host" as a host).
    resp = hostile.test_client().get("/", environ_overrides={"PATH_INFO": path})
    assert resp.status_code == 404
    tree = lxml_html.fromstring(resp.text)
    for a in tree.cssselect("nav.languages a"):
        href = a.get("href")
        assert href.startswith("/") and not href.startswith(("//", "/\\")), href


def test_missing_record_is_json_when_json_is_asked(client: FlaskClient) -> None:
    resp = client.get("/item/no-such-record?format=json")
    assert resp.status_code == 404
    assert resp.get_json() == {"error": "no record no-such-record", "status": 404}
    html = client.get("/item/no-such-record").get_data(as_text=True)
    assert "no record no-such-record" in html
