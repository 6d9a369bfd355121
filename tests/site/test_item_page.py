"""The item page: hierarchy, neighbours, search links, related items, rights, links, safety."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from lxml import html as lxml_html

from tests.conftest import BASE_URL
from tests.site.item_fixtures import HOSTILE_TITLE, make_loaded_app


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    app = make_loaded_app(tmp_path_factory.mktemp("item-page"), images=True)
    yield app
    app.extensions["memoria"].close()


def page(app: Flask, path: str, lang: str = "en") -> str:
    resp = app.test_client().get(path, headers={"Accept-Language": lang})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return resp.get_data(as_text=True)


def test_breadcrumb_and_previous_next(app: Flask) -> None:
    doc = lxml_html.fromstring(page(app, "/item/museo-I2"))
    crumbs = doc.cssselect("nav.breadcrumb li")
    assert [li.text_content() for li in crumbs] == [
        "Oaxaca fonds", "Temples series", "Basilica of La Soledad"]
    assert [a.get("href") for a in doc.cssselect("nav.breadcrumb a")] == [
        "/item/museo-F1", "/item/museo-S1"]
    assert [li.get("data-level") for li in crumbs[:2]] == ["fonds", "series"]
    prev, = doc.cssselect("nav.siblings a[rel=prev]")
    nxt, = doc.cssselect("nav.siblings a[rel=next]")
    assert prev.get("href") == "/item/museo-I1" and "Church of Santo Domingo" in prev.text_content()
    assert nxt.get("href") == "/item/museo-I3" and "Evil" in nxt.text_content()
    assert doc.cssselect("nav.siblings .position")[0].text_content() == "2 of 3"


def test_first_and_last_have_one_neighbour_and_roots_none(app: Flask) -> None:
    first = app.test_client().get("/item/museo-I1.json").get_json()
    assert first["previous"] is None and first["next"]["id"] == "museo-I2"
    last = app.test_client().get("/item/museo-I3.json").get_json()
    assert last["previous"]["id"] == "museo-I2" and last["next"] is None
    root = app.test_client().get("/item/museo-I4.json").get_json()
    assert root["breadcrumb"] == [] and root["previous"] is None and root["next"] is None


def test_metadata_values_link_to_searches(app: Flask) -> None:
    doc = lxml_html.fromstring(page(app, "/item/museo-I1", "es"))
    links = {a.text_content(): a.get("href") for a in doc.cssselect("dl.metadata dd a")}
    assert links["Orden de Predicadores"] == "/search?f.creator=Orden+de+Predicadores"
    assert links["barroco"] == "/search?f.subject=barroco"
    assert links["Oaxaca de Juárez"] == "/search?f.place=Oaxaca+de+Ju%C3%A1rez"
    assert links["IMAGE"] == "/search?f.type=IMAGE"
    assert links["item"] == "/search?f.level=item"
    # A date is not a facet value: it becomes a phrase search.
    assert links["ca. 1575"] == "/search?q=%22ca.+1575%22"
    provider = doc.cssselect("section.rights dd a[href^='/search']")
    assert provider[0].get("href") == "/search?f.rights=https%3A%2F%2Fcreativecommons.org" \
        "%2Flicenses%2Fby%2F4.0%2F"
    assert "/search?f.provider=Museo+de+prueba" in [a.get("href") for a in provider]


def test_facet_links_find_the_item(app: Flask) -> None:
    """The links are real: the search engine finds the item under each linked facet value."""
    from search.backend import SearchQuery

    archive = app.extensions["memoria"]
    data = app.test_client().get("/item/museo-I1.json").get_json()
    checked = 0
    for field in data["fields"]:
        for value in field["values"]:
            m = re.fullmatch(r"/search\?f\.(\w+)=(.+)", value["search"] or "")
            if m:
                from urllib.parse import unquote_plus

                result = archive.search(SearchQuery(filters={m[1]: [unquote_plus(m[2])]},
                                                    size=50, facets=False))
                assert "museo-I1" in result.ids, value
                checked += 1
    assert checked >= 5


def test_related_items_share_creator_then_subject(app: Flask) -> None:
    data = app.test_client().get("/item/museo-I1.json").get_json()
    related = [r["id"] for r in data["related"]]
    assert related[0] == "museo-I3"  # same creator comes first
    assert "museo-I2" in related and "museo-I1" not in related and "museo-I4" not in related
    assert len(related) == len(set(related)) <= 6
    thumb = next(r["thumbnail"] for r in data["related"] if r["id"] == "museo-I2")
    assert thumb == f"{BASE_URL}/iiif/3/I2/full/!200,200/0/default.jpg"
    doc = lxml_html.fromstring(page(app, "/item/museo-I1"))
    assert doc.cssselect("section.related a")[0].get("href") == "/item/museo-I3"
    assert doc.cssselect("section.related img")[0].get("src").startswith(f"{BASE_URL}/iiif/3/")


def test_rights_shown_with_readable_names(app: Flask) -> None:
    doc = lxml_html.fromstring(page(app, "/item/museo-I1"))
    lic, = doc.cssselect("section.rights a[rel=license]")
    assert lic.text_content() == "CC BY 4.0"
    assert lic.get("href") == "https://creativecommons.org/licenses/by/4.0/"
    doc2 = lxml_html.fromstring(page(app, "/item/museo-I2"))
    assert doc2.cssselect("a[rel=license]")[0].text_content() == "In Copyright"
    doc3 = lxml_html.fromstring(page(app, "/item/museo-I4"))
    assert doc3.cssselect("a[rel=license]")[0].text_content() == "CC0 1.0"
    assert "Museo de prueba" in doc.cssselect("section.rights")[0].text_content()


def test_links_to_manifest_linked_data_citations_and_qr(app: Flask) -> None:
    doc = lxml_html.fromstring(page(app, "/item/museo-I1"))
    hrefs = {a.get("href") for a in doc.cssselect("section.linked-data a")}
    assert f"{BASE_URL}/iiif/3/manifest/museo-I1" in hrefs
    assert {"/item/museo-I1.ttl", "/item/museo-I1.jsonld", "/item/museo-I1.json"} <= hrefs
    assert doc.cssselect("section.qr img")[0].get("src") == "/item/museo-I1/qr.svg"
    qr_links = {a.get("href") for a in doc.cssselect("section.qr a")}
    assert {"/item/museo-I1/qr.png", "/item/museo-I1/qr.svg"} <= qr_links
    assert "/labels?id=museo-I1" in qr_links
    pres = {p.get("id"): p.text_content() for p in doc.cssselect("section.cite pre")}
    assert pres["cite-bibtex"].startswith("@misc{memoria:museo-I1,")
    assert json.loads(pres["cite-csl"])[0]["URL"] == f"{BASE_URL}/item/museo-I1"
    assert "Church of Santo Domingo" in pres["cite-text"]
    buttons = doc.cssselect("button.copy[data-copy]")
    assert {b.get("data-copy") for b in buttons} == set(pres)
    scripts = [s.get("src") for s in doc.cssselect("script[src]")]
    assert "/static/item.js" in scripts
    for url in ["/item/museo-I1/qr.png", "/item/museo-I1/cite.bib", "/static/item.js",
                "/static/item.css"]:
        assert app.test_client().get(url).status_code == 200, url


def test_json_twin_has_everything_the_page_shows(app: Flask) -> None:
    data = app.test_client().get("/item/museo-I2", headers={"Accept": "application/json"}
                                 ).get_json()
    for key in ("breadcrumb", "previous", "next", "related", "citation", "links", "rights_label",
                "schema_org", "fields", "images"):
        assert key in data, key
    assert data["links"]["qr"] == {"png": "/item/museo-I2/qr.png", "svg": "/item/museo-I2/qr.svg"}
    assert set(data["citation"]) == {"text", "bibtex", "csl"}
    assert data["schema_org"]["isPartOf"]["@id"] == f"{BASE_URL}/item/museo-S1"


def test_schema_org_block_describes_the_page(app: Flask) -> None:
    html = page(app, "/item/museo-I1")
    block, = re.findall(r'<script type="application/ld\+json"[^>]*>(.*?)</script>', html, re.S)
    data = json.loads(block)
    assert data["@context"] == "https://schema.org" and data["@id"] == f"{BASE_URL}/item/museo-I1"
    assert data["name"] == "Church of Santo Domingo"
    assert data["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert data["contentLocation"][0]["geo"]["latitude"] == pytest.approx(17.0659)
    assert data["holdingArchive"]["name"] == "Museo de prueba"


def test_hostile_titles_are_escaped_everywhere(app: Flask) -> None:
    html = page(app, "/item/museo-I3")
    assert "<script>alert(1)</script>" not in html
    # The JSON-LD block ends at the first </script>: it must still be the whole, valid JSON.
    block = re.search(r'<script type="application/ld\+json"[^>]*>(.*?)</script>', html, re.S)
    assert block is not None
    assert json.loads(block.group(1))["name"] == HOSTILE_TITLE
    doc = lxml_html.fromstring(html)
    assert unisolated(doc.cssselect("h1")[0].text_content()) == HOSTILE_TITLE
    # Only the page's own scripts: the JSON-LD block and item.js (+ the viewer's, if any).
    for script in doc.cssselect("script"):
        assert script.get("type") == "application/ld+json" or script.get("src", "").startswith(
            "/static/"), lxml_html.tostring(script)
    assert not [a for a in doc.cssselect("a[href]")
                if a.get("href").strip().lower().startswith("javascript:")]
    # The Spanish title is a javascript: URL; as text it is harmless, and never an href.
    es = lxml_html.fromstring(page(app, "/item/museo-I3", "es"))
    assert es.cssselect("h1")[0].text_content() == "javascript:alert(1)"
    assert not [a for a in es.cssselect("a[href]") if "javascript:" in a.get("href")]
    # A bidi override in a title stays inside an isolate wherever a title is shown.
    prev_next = lxml_html.fromstring(page(app, "/item/museo-I2"))
    nxt, = prev_next.cssselect("nav.siblings a[rel=next] bdi")
    assert "\u202e" in nxt.text_content()
    title = doc.cssselect("title")[0].text_content()
    assert title.startswith("\u2068") and title.endswith("\u2069 — Memoria")


def unisolated(text: str) -> str:
    """Text without the isolate marks and closing PDF the page adds around bidi controls."""
    return text.removeprefix("\u2068").removesuffix("\u2069").removesuffix("\u202c")


def counting(calls: list[str], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a real method to count its calls."""
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return fn(*args, **kwargs)
    return wrapped


def test_a_handful_of_archive_calls_whatever_the_number_of_parts(app: Flask) -> None:
    """The page's data costs a few reads, not one per part or sibling (the viewer's IIIF
    manifest is the IIIF module's business and cached there)."""
    from archive.site.item_page import item_view

    archive = app.extensions["memoria"]
    calls: list[str] = []
    originals = {n: getattr(archive, n) for n in ("get", "children", "search")}
    rdf_query = archive.rdf.query
    try:
        for name, fn in originals.items():
            setattr(archive, name, counting(calls, name, fn))
        archive.rdf.query = counting(calls, "sparql", rdf_query)
        with app.test_request_context("/item/museo-I2"):
            view = item_view(archive, originals["get"]("museo-I2"), ["en"])
        assert [b["id"] for b in view["breadcrumb"]] == ["museo-F1", "museo-S1"]
        assert (view["previous"]["id"], view["next"]["id"]) == ("museo-I1", "museo-I3")
        # No record is read whole: ancestors, parts, neighbours' titles are queries.
        assert calls.count("get") == 0
        assert calls.count("children") == 1
        assert calls.count("search") <= 3
        assert calls.count("sparql") <= 4, calls
        calls.clear()
        with app.test_request_context("/item/museo-S1"):
            view = item_view(archive, originals["get"]("museo-S1"), ["en"])
        # a series with three parts: their titles come from one query, not three reads
        assert len(view["children"]) == 3
        assert calls.count("get") == 0 and calls.count("sparql") <= 4
    finally:
        for name in originals:
            delattr(archive, name)
        del archive.rdf.query
    series = lxml_html.fromstring(page(app, "/item/museo-S1"))
    assert [a.get("href") for a in series.cssselect("section.children a")] == [
        "/item/museo-I1", "/item/museo-I2", "/item/museo-I3"]


def test_interface_and_metadata_follow_the_language(app: Flask) -> None:
    zh = lxml_html.fromstring(page(app, "/item/museo-I1?lang=zh-Hans"))
    assert zh.cssselect("h1")[0].text_content() == "圣多明各教堂"
    assert zh.cssselect("nav.breadcrumb a")[0].text_content() == "瓦哈卡全宗"
    data = app.test_client().get("/item/museo-I1.json?lang=es").get_json()
    assert data["title"] == "Templo de Santo Domingo"


@pytest.mark.parametrize("path", ["/item/museo-I1/cite.exe", "/item/museo-nope/cite.txt",
                                  "/item/museo-nope/qr.png", "/item/museo-I1/qr.gif",
                                  "/item/museo-I1/other"])
def test_unknown_sub_resources_are_404(app: Flask, path: str) -> None:
    assert app.test_client().get(path).status_code == 404


def test_the_page_is_found_under_its_permanent_uri_path(app: Flask, tmp_path: Path) -> None:
    data = app.test_client().get("/item/museo-I1.json").get_json()
    assert data["uri"] == f"{BASE_URL}/item/museo-I1"
