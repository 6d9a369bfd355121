"""The QR label sheet: items by id or by search, titles in the chosen languages, A4 layouts."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import cairosvg
import pytest
import zxingcpp
from flask import Flask
from lxml import etree
from lxml import html as lxml_html
from PIL import Image

from tests.conftest import BASE_URL
from tests.site.item_fixtures import make_loaded_app

STATIC = Path(__file__).resolve().parents[2] / "archive" / "static"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    app = make_loaded_app(tmp_path_factory.mktemp("labels"), images=False)
    yield app
    app.extensions["memoria"].close()


def sheet(app: Flask, query: str) -> lxml_html.HtmlElement:
    resp = app.test_client().get(f"/labels?{query}")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    return lxml_html.fromstring(resp.get_data(as_text=True))


def unisolated(text: str) -> str:
    return text.removeprefix("\u2068").removesuffix("\u2069").removesuffix("\u202c")


def test_chosen_items_with_titles_in_each_chosen_language(app: Flask) -> None:
    doc = sheet(app, "id=museo-I1&id=museo-F1&langs=es&langs=zh-Hans&langs=en")
    labels = doc.cssselect("article.label")
    assert [lab.get("data-id") for lab in labels] == ["museo-I1", "museo-F1"]
    # rdflib keeps language tags in lower case; HTML's lang compares them case-blind.
    titles = [(p.get("data-lang"), p.get("lang").lower(), p.text_content())
              for p in labels[0].cssselect("p.label-title")]
    assert titles == [("es", "es", "Templo de Santo Domingo"),
                      ("zh-Hans", "zh-hans", "圣多明各教堂"),
                      ("en", "en", "Church of Santo Domingo")]
    assert labels[0].cssselect("p.label-uri")[0].text_content() == f"{BASE_URL}/item/museo-I1"
    assert labels[0].cssselect("p.label-provider")[0].text_content() == "Museo de prueba"


def test_missing_language_falls_back_and_says_so(app: Flask) -> None:
    data = app.test_client().get("/labels?id=museo-I2&langs=zh-Hans&langs=es&format=json"
                                 ).get_json()
    titles = data["items"][0]["titles"]
    assert titles[0]["lang"] == "zh-Hans" and titles[0]["fallback"] is True
    assert titles[1] == {"lang": "es", "text": "Basílica de la Soledad, fachada",
                         "text_lang": "es", "fallback": False}
    # On paper a fallen-back title that repeats another is printed once.
    doc = sheet(app, "id=museo-I2&langs=es&langs=zh-Hans")
    assert len(doc.cssselect("p.label-title")) == 1


def test_each_label_qr_decodes_to_its_item(app: Flask) -> None:
    html = app.test_client().get("/labels?id=museo-I1&id=museo-I2").get_data(as_text=True)
    labels = lxml_html.fromstring(html).cssselect("article.label")
    # The SVG as sent (an HTML parser would fold viewBox to lower case).
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(svgs) == len(labels) == 2
    for label, svg in zip(labels, svgs, strict=True):
        assert etree.fromstring(svg).get("viewBox")
        png = cairosvg.svg2png(bytestring=svg.encode(), scale=8)
        image = Image.open(io.BytesIO(png)).convert("RGBA")
        flat = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image)
        found = zxingcpp.read_barcodes(flat.convert("L"))
        assert [f.text for f in found] == [f"{BASE_URL}/item/{label.get('data-id')}"]


def test_items_chosen_by_a_search(app: Flask) -> None:
    data = app.test_client().get("/labels?f.subject=templos&format=json").get_json()
    ids = {item["id"] for item in data["items"]}
    assert ids == {"museo-S1", "museo-I1", "museo-I2", "museo-I3"}
    assert data["search"] == {"f.subject": ["templos"]}
    text = app.test_client().get("/labels?q=Soledad&format=json").get_json()
    assert [i["id"] for i in text["items"]] == ["museo-I2"]
    both = app.test_client().get("/labels?q=templo&f.place=Oaxaca&format=json").get_json()
    assert {i["id"] for i in both["items"]} <= {"museo-S1", "museo-I3", "museo-F1"}
    bad = app.test_client().get("/labels?f.nonsense=x")
    assert bad.status_code == 400


def test_layouts_paginate_onto_a4_pages(app: Flask) -> None:
    ids = "&".join(f"id=museo-{i}" for i in ("F1", "S1", "I1", "I2", "I3", "I4"))
    doc = sheet(app, ids + "&layout=8")
    assert len(doc.cssselect("section.sheet.layout-8")) == 1
    many = "&".join([ids] * 3)  # repeated ids are printed once
    assert len(sheet(app, many).cssselect("article.label")) == 6
    data = app.test_client().get(f"/labels?{ids}&layout=24&format=json").get_json()
    assert data["layout"] == {"per_page": 24, "columns": 3, "rows": 8, "paper": "A4"}
    assert data["pages"] == 1
    odd = app.test_client().get(f"/labels?{ids}&layout=7&format=json").get_json()
    assert odd["layout"]["per_page"] == 8
    css = (STATIC / "labels.css").read_text()
    assert "@page" in css and "size: A4" in css and "break-inside: avoid" in css
    assert "break-after: page" in css


def test_at_most_one_hundred_labels(app: Flask) -> None:
    hundreds = "&".join(f"id=museo-X{i}" for i in range(150))
    capped = app.test_client().get(f"/labels?{hundreds}&format=json").get_json()
    assert len(capped["missing"]) == 100 and capped["items"] == []


def test_print_button_uses_external_script(app: Flask) -> None:
    doc = sheet(app, "id=museo-I1")
    button = doc.cssselect("button[data-print]")[0]
    assert button.get("type") == "button"
    assert "/static/labels.js" in [s.get("src") for s in doc.cssselect("script[src]")]
    assert not [s for s in doc.cssselect("script") if not s.get("src")
                and s.get("type") not in ("application/json", "application/ld+json")]
    assert "window.print()" in (STATIC / "labels.js").read_text()
    assert app.test_client().get("/static/labels.js").status_code == 200
    empty = sheet(app, "")
    assert not empty.cssselect("button[data-print]") and empty.cssselect("form.labels-form")


def test_hostile_titles_and_language_tags_are_escaped(app: Flask) -> None:
    resp = app.test_client().get('/labels?id=museo-I3&langs=en&langs="><script>x</script>')
    html = resp.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "<script>x</script>" not in html
    doc = lxml_html.fromstring(html)
    title = doc.cssselect("p.label-title")[0].text_content()
    assert unisolated(title).startswith("Evil </script><script>alert(1)</script>")
    data = app.test_client().get("/labels?id=museo-I3&langs=es&format=json").get_json()
    assert data["langs"] == ["es"] and data["items"][0]["titles"][0]["text"] == \
        "javascript:alert(1)"
    assert not [a for a in doc.cssselect("a[href]") if "javascript:" in a.get("href")]


def test_default_language_is_the_interface_language(app: Flask) -> None:
    data = app.test_client().get("/labels?id=museo-I1&lang=zh-Hans&format=json").get_json()
    assert data["langs"] == ["zh-Hans"]
    assert data["items"][0]["titles"][0]["text"] == "圣多明各教堂"
