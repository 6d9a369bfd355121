"""The search page over a real Tantivy index: results, facets, years, box, order, pages, twin."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import html as lxml_html

from archive.settings import load_settings
from archive.site import search_page
from archive.site.search_page import safe_highlight
from archive.web import create_app
from ingest.mapping import load_mapping
from ingest.pipeline import run_batch
from ingest.registry import get_reader
from tests.conftest import BASE_URL, write_image

MAPPING = """
[source]
namespace = "museo"
id = "inv"
provider = "Museo de prueba"

[[column]]
name = "inv"
kind = "identifier"

[[column]]
name = "titulo"
to = "dc:title"
lang = "es"

[[column]]
name = "title"
to = "dc:title"
lang = "en"

[[column]]
name = "title_zh"
to = "dc:title"
lang = "zh-Hans"

[[column]]
name = "descripcion"
to = "dc:description"
lang = "es"

[[column]]
name = "fecha"
kind = "date"

[[column]]
name = "autor"
kind = "agent"
separator = "|"

[[column]]
name = "lugar"
kind = "place"
lat = "lat"
long = "lon"

[[column]]
name = "derechos"
kind = "rights"

[[column]]
name = "imagen"
kind = "image"
separator = "|"
"""

EVIL_TITLE = '<script>alert("t")</script> Templo </script><b>falso</b> \u202eevil'
EVIL_DESCRIPTION = 'Un templo <img src=x onerror=alert(1)> y "comillas" & más'
HEADER = ["inv", "titulo", "title", "title_zh", "descripcion", "fecha", "autor", "lugar", "lat",
          "lon", "derechos", "imagen"]
ROWS = [
    ["I1", "Templo de Santo Domingo", "Church of Santo Domingo", "", "Templo barroco", "ca. 1575",
     "Orden de Predicadores", "Oaxaca de Juárez", "17.0659", "-96.7233", "CC0", "I1.jpg"],
    ["I2", "Basílica de la Soledad", "Basilica of La Soledad", "", "Templo mariano",
     "1682-1690", "", "Oaxaca de Juárez", "17.0612", "-96.7316", "CC0", "I2.png"],
    ["Z1", "", "Chen Clan Ancestral Hall", "陈家祠", "", "1888-1894", "", "广州", "23.1259",
     "113.2456", "CC0", ""],
    ["X1", EVIL_TITLE, "", "", EVIL_DESCRIPTION, "1700", "", "Oaxaca", "17.07", "-96.72", "CC0",
     ""],
    *[[f"P{n:02d}", f"Fotografía {n:02d}", f"Photograph {n:02d}", "", "Vista de la ciudad",
       str(1900 + n), "Fotógrafo anónimo", "Campeche", "19.845", "-90.523",
       "https://creativecommons.org/licenses/by/4.0/", ""] for n in range(1, 31)],
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """One app with a small real collection, shared by this module's read-only tests."""
    tmp = tmp_path_factory.mktemp("search-page")
    settings = load_settings({"home": str(tmp / "home"), "base_url": BASE_URL, "fsync": False,
                              "map_tile_url": ""}, environ={})
    source = tmp / "source"
    source.mkdir()
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER, *ROWS])
    (source / "records.csv").write_text(buf.getvalue(), encoding="utf-8")
    (source / "mapping.toml").write_text(MAPPING, encoding="utf-8")
    write_image(source / "I1.jpg", (400, 300))
    write_image(source / "I2.png", (300, 400), "orange")
    app = create_app(settings)
    app.config["TESTING"] = True
    report = run_batch(app.extensions["memoria"], get_reader("csv"), source / "records.csv",
                       options={"mapping": load_mapping(source / "mapping.toml")})
    assert not report.rejected and len(report.accepted) == len(ROWS)
    yield app
    app.extensions["memoria"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the shared app."""
    return app.test_client()


def page(client: FlaskClient, url: str, status: int = 200) -> Any:
    """GET a search page and parse its HTML."""
    resp = client.get(url)
    assert resp.status_code == status, resp.get_data(as_text=True)[:2000]
    assert resp.mimetype == "text/html"
    return lxml_html.fromstring(resp.get_data(as_text=True))


def twin(client: FlaskClient, url: str, status: int = 200) -> dict[str, Any]:
    """GET a search page's JSON twin."""
    sep = "&" if "?" in url else "?"
    resp = client.get(f"{url}{sep}format=json")
    assert resp.status_code == status, resp.get_data(as_text=True)[:2000]
    data: dict[str, Any] = resp.get_json()
    return data


def hit_ids(doc: Any) -> list[str]:
    """The record ids of the results shown on a page, in order."""
    return [str(li.get("data-id")) for li in doc.cssselect("ol.search-hits > li.hit")]


def facet(data: dict[str, Any], name: str) -> dict[str, int]:
    """One facet's counts from the JSON twin."""
    found = next(f for f in data["facets"] if f["name"] == name)
    return {b["key"]: b["count"] for b in found["buckets"]}


def test_chinese_query_finds_the_chinese_record_titled_in_the_readers_language(
        client: FlaskClient) -> None:
    doc = page(client, "/search?q=陈家祠&lang=zh")
    assert hit_ids(doc) == ["museo-Z1"]
    title = doc.cssselect("li.hit .hit-title a")[0]
    assert title.text_content() == "陈家祠"
    assert title.cssselect("mark")[0].text_content() == "陈家祠"
    assert title.get("href") == "/item/museo-Z1"
    assert doc.cssselect("li.hit .hit-title")[0].get("lang") == "zh"
    assert doc.cssselect("#facet-type legend")[0].text_content() == "类型"
    english = page(client, "/search?q=陈家祠&lang=en")
    assert english.cssselect("li.hit .hit-title a")[0].text_content() == \
        "Chen Clan Ancestral Hall"
    spanish = page(client, "/search?q=templo&lang=es")
    assert spanish.cssselect("#facet-type legend")[0].text_content() == "Tipo"


def test_results_show_thumbnail_date_creator_and_total(client: FlaskClient) -> None:
    doc = page(client, "/search?q=Santo+Domingo")
    assert hit_ids(doc) == ["museo-I1"]
    hit = doc.cssselect("li.hit")[0]
    assert hit.cssselect("img")[0].get("src") == "/iiif/3/I1/full/!200,200/0/default.jpg"
    assert hit.cssselect(".hit-date")[0].text_content() == "ca. 1575"
    assert hit.cssselect(".hit-creator")[0].text_content() == "Orden de Predicadores"
    assert "1" in doc.cssselect("#results-heading")[0].text_content()
    thumb = client.get("/iiif/3/I1/full/!200,200/0/default.jpg")
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"


def test_facet_choice_narrows_and_other_values_keep_their_counts(client: FlaskClient) -> None:
    everything = twin(client, "/search")
    assert everything["total"] == len(ROWS)
    rights = facet(everything, "rights")
    data = twin(client, "/search?f.rights=https://creativecommons.org/publicdomain/zero/1.0/")
    assert data["total"] == rights["https://creativecommons.org/publicdomain/zero/1.0/"] == 4
    # The facet's own choice does not hide the other value (OR within a facet).
    assert facet(data, "rights") == rights
    doc = page(client, "/search?f.rights=https://creativecommons.org/publicdomain/zero/1.0/")
    box = doc.cssselect("#facet-rights input[type=checkbox]")
    assert {b.get("value"): b.get("checked") is not None for b in box} == {
        "https://creativecommons.org/publicdomain/zero/1.0/": True,
        "https://creativecommons.org/licenses/by/4.0/": False}
    label = doc.cssselect(f"label[for={box[0].get('id')}]")[0]
    assert label.cssselect(".facet-count")[0].text_content() in {"4", "30"}
    chips = doc.cssselect(".chips .chip-facet")
    assert [c.cssselect(".chip-value")[0].text_content() for c in chips] == ["CC0 1.0"]
    removed = chips[0].cssselect("a.chip-remove")[0].get("href")
    assert twin(client, removed)["total"] == len(ROWS)


def test_two_facets_are_anded_and_values_within_one_are_ored(client: FlaskClient) -> None:
    place = "Oaxaca de Juárez"
    both = twin(client, f"/search?f.type=IMAGE&f.place={place}")
    assert sorted(h["id"] for h in both["hits"]) == ["museo-I1", "museo-I2"]
    either = twin(client, f"/search?f.place={place}&f.place=广州")
    assert sorted(h["id"] for h in either["hits"]) == ["museo-I1", "museo-I2", "museo-Z1"]
    none = twin(client, "/search?f.type=IMAGE&f.place=广州")
    assert none["total"] == 0 and none["hits"] == []
    assert facet(none, "type")["TEXT"] >= 1  # the other choice stays visible to undo it
    doc = page(client, "/search?f.type=IMAGE&f.place=广州")
    assert doc.cssselect(".search-empty")


def test_year_span_from_and_to(client: FlaskClient) -> None:
    data = twin(client, "/search?from=1680&to=1700")
    assert sorted(h["id"] for h in data["hits"]) == ["museo-I2", "museo-X1"]
    assert data["histogram"]["from"] == 1680 and data["histogram"]["to"] == 1700
    assert data["histogram"]["interval"] == 10
    assert {b["start"] for b in data["histogram"]["buckets"]} == {1680, 1700}
    doc = page(client, "/search?from=1680&to=1700")
    assert doc.cssselect("#year-from")[0].get("value") == "1680"
    assert doc.cssselect("#year-to")[0].get("value") == "1700"
    chip = doc.cssselect(".chip-years")[0]
    assert chip.cssselect(".chip-value")[0].text_content() == "1680–1700"
    assert "from=" not in chip.cssselect("a")[0].get("href")


def test_histogram_of_all_records_by_decade(client: FlaskClient) -> None:
    buckets = {b["start"]: b["count"] for b in twin(client, "/search")["histogram"]["buckets"]}
    assert buckets[1570] == 1 and buckets[1880] == 1
    assert buckets[1900] == 9 and buckets[1910] == 10 and buckets[1920] == 10
    assert buckets[1930] == 1


def test_map_area_bbox_and_markers(client: FlaskClient) -> None:
    data = twin(client, "/search?bbox=22,112,24,114")
    assert [h["id"] for h in data["hits"]] == ["museo-Z1"]
    assert data["map"]["bbox"] == [22.0, 112.0, 24.0, 114.0]
    assert data["map"]["tileUrl"] == ""
    marker = data["map"]["markers"][0]
    assert (marker["lat"], marker["lon"], marker["url"]) == (23.1259, 113.2456, "/item/museo-Z1")
    doc = page(client, "/search?bbox=22,112,24,114")
    assert doc.cssselect("input[type=hidden][name=bbox]")[0].get("value") == "22.0,112.0,24.0,114.0"
    assert doc.cssselect(".chip-bbox")
    # A page of 10 shows 10 points; the other 20 of the Campeche cell are one bubble.
    small = twin(client, "/search?size=10&sort=title_asc&f.place=Campeche")["map"]["markers"]
    assert len([m for m in small if "count" not in m]) == 10
    assert [m["count"] for m in small if "count" in m] == [20]


def test_sort_orders(client: FlaskClient) -> None:
    years = [h["year_begin"] for h in twin(client, "/search?sort=year_asc&size=100")["hits"]]
    assert years == sorted(years) and years[0] == 1575
    newest = twin(client, "/search?sort=year_desc&size=5")["hits"]
    assert newest[0]["id"] == "museo-P30"
    titles = [h["id"] for h in twin(client, "/search?sort=title_asc&f.place=Campeche")["hits"]]
    assert titles[:3] == ["museo-P01", "museo-P02", "museo-P03"]
    doc = page(client, "/search?sort=year_desc")
    assert doc.cssselect("#sort option[selected]")[0].get("value") == "year_desc"


def test_pagination_numbers_then_search_after(client: FlaskClient,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    first = twin(client, "/search?sort=year_asc&size=10")
    assert [p["number"] for p in first["paging"]["pages"]] == [1, 2, 3, 4]
    second = twin(client, first["paging"]["next"])
    assert second["query"]["page"] == 2
    assert not {h["id"] for h in first["hits"]} & {h["id"] for h in second["hits"]}
    doc = page(client, first["paging"]["next"])
    assert doc.cssselect("nav.search-paging a[aria-current=page]")[0].text_content() == "2"
    assert doc.cssselect("ol.search-hits")[0].get("start") == "11"
    # Beyond the numbered pages, "next" walks with search_after.
    monkeypatch.setattr(search_page, "NUMBERED_PAGES", 2)
    # Pages made before the patch: in the shared cache and in this worker's kept answers.
    client.application.extensions["memoria_page_cache"].clear()
    client.application.wsgi_app.clear()
    second = twin(client, "/search?sort=year_asc&size=10&page=2")
    assert "after=" in second["paging"]["next"] and "page=" not in second["paging"]["next"]
    third = twin(client, second["paging"]["next"])
    by_page = twin(client, "/search?sort=year_asc&size=10&page=3")
    assert [h["id"] for h in third["hits"]] == [h["id"] for h in by_page["hits"]]
    fourth = twin(client, third["paging"]["next"])
    assert len(fourth["hits"]) == len(ROWS) - 30
    assert fourth["paging"]["next"] is None


def test_json_twin_has_the_same_data_as_the_page(client: FlaskClient) -> None:
    url = "/search?q=templo&f.type=IMAGE&sort=title_asc"
    data = twin(client, url)
    doc = page(client, url)
    assert hit_ids(doc) == [h["id"] for h in data["hits"]] and data["total"] == 2
    shown = [a.text_content() for a in doc.cssselect("li.hit .hit-title a")]
    assert shown == [h["title"] for h in data["hits"]]
    for f in data["facets"]:
        values = [i.get("value") for i in doc.cssselect(f"#facet-{f['name']} input")]
        assert values == [b["key"] for b in f["buckets"]]
    embedded = json.loads(doc.cssselect("script#search-data")[0].text)
    assert embedded["histogram"] == data["histogram"]
    assert embedded["map"] == data["map"]
    assert embedded["query"] == data["query"]
    assert [a.get("href") for a in doc.cssselect(".search-export a")] == \
        [data["export"]["csv"], data["export"]["json"]]


def test_export_links_give_the_current_result_set(client: FlaskClient) -> None:
    data = twin(client, "/search?f.place=Oaxaca+de+Juárez&sort=year_asc")
    resp = client.get(data["export"]["csv"])
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert [r["id"] for r in rows] == ["museo-I1", "museo-I2"]
    exported = client.get(data["export"]["json"]).get_json()
    assert [r["id"] for r in exported] == ["museo-I1", "museo-I2"]


def test_malicious_title_and_highlights_are_escaped(client: FlaskClient) -> None:
    resp = client.get("/search?q=templo+falso&lang=es")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "<script>alert" not in body and "<b>falso" not in body and "<img src=x" not in body
    doc = lxml_html.fromstring(body)
    assert hit_ids(doc) == ["museo-X1"]
    link = doc.cssselect("li.hit .hit-title a")[0]
    # Shown as text, with its right-to-left override closed and isolated (FSI ... PDF PDI).
    assert link.text_content() == "\u2068" + EVIL_TITLE + "\u202c\u2069"
    assert [m.text_content() for m in link.cssselect("mark")] == ["Templo", "falso"]
    assert not link.cssselect("script, b, img")
    snippet = doc.cssselect("li.hit .hit-snippet")[0]
    assert "<img src=x onerror=alert(1)>" in snippet.text_content()
    assert not snippet.cssselect("img")
    # The embedded JSON cannot end its <script> early.
    scripts = re.findall(r'<script type="application/json" id="search-data">(.*?)</script>',
                         body, re.S)
    assert len(scripts) == 1 and "<" not in scripts[0]
    labels = [m["label"] for m in json.loads(scripts[0])["map"]["markers"]]
    assert EVIL_TITLE in labels


def test_safe_highlight_keeps_only_mark() -> None:
    assert safe_highlight("a <mark>b&amp;c</mark> <script>x</script>") == \
        "a <mark>b&amp;c</mark> &lt;script&gt;x&lt;/script&gt;"
    assert safe_highlight("<mark>open") == "<mark>open</mark>"
    assert safe_highlight("</mark>x<mark onclick=1>") == "x&lt;mark onclick=1&gt;"


@pytest.mark.parametrize("query, reason", [
    ("q=" + "x" * 600, "longer than 500"),
    ("q=" + "+".join(["w"] * 40), "more than 32 words"),
    ("f.bogus=1", "unknown facet"),
    ("size=5000", "size must be"),
    ("page=999999", "page must be"),
    ("bbox=1,2,3", "bbox must be"),
    ("from=abc", "from must be a whole number"),
    ("after=[1]", "search_after needs a field sort"),
    ("f.century=1234", "no bucket"),
    ("from=99999999999999999999", "from must be a year between"),
    ("within=../x", "within must be a record id"),
])
def test_refused_queries_answer_400_with_the_reason(client: FlaskClient, query: str,
                                                    reason: str) -> None:
    doc = page(client, f"/search?{query}", status=400)
    assert reason in doc.cssselect(".search-error")[0].text_content()
    assert doc.cssselect("#search-form #q")  # the reader can fix the query in place
    assert reason in twin(client, f"/search?{query}", status=400)["error"]


def test_the_form_is_keyboard_usable_without_script(client: FlaskClient) -> None:
    doc = page(client, "/search?q=templo")
    form = doc.cssselect("form#search-form")[0]
    assert form.get("method") == "get" and form.get("action") == "/search"
    for fieldset in form.cssselect("fieldset.facet"):
        assert fieldset.cssselect("legend")
    for box in form.cssselect("input[type=checkbox], input[type=number], select, #q"):
        assert form.cssselect(f"label[for={box.get('id')}]"), box.get("id")
    assert form.cssselect("button[type=submit].apply-filters")
    assert all(s.get("src") is not None for s in doc.cssselect("script:not([type])"))


def test_every_state_is_in_the_url(client: FlaskClient) -> None:
    url = "/search?q=ciudad&f.place=Campeche&from=1905&to=1925&sort=year_desc&size=10&page=2"
    data = twin(client, url)
    assert data["query"] == {"q": "ciudad", "within": None, "filters": {"place": ["Campeche"]}, "from": 1905,
                             "to": 1925, "bbox": None, "sort": "year_desc", "page": 2,
                             "size": 10, "after": None}
    assert [h["year_begin"] for h in data["hits"]] == list(range(1915, 1905, -1))
    again = twin(client, data["paging"]["prev"])
    assert again["query"]["page"] == 1 and again["hits"][0]["year_begin"] == 1925


def test_a_region_typed_into_the_url_is_shown_not_a_crash(client: FlaskClient) -> None:
    data = twin(client, "/search?f.region=nowhere")
    assert data["total"] == 0
    assert [c["value"] for c in data["applied"]] == ["nowhere"]


def test_within_a_unit_of_the_tree(client: FlaskClient) -> None:
    data = twin(client, "/search?within=museo-I1")
    assert data["query"]["within"] == "museo-I1"
    chip = next(c for c in data["applied"] if c["kind"] == "within")
    assert chip["value"] == "Church of Santo Domingo"
    doc = page(client, "/search?within=museo-I1&q=templo")
    assert doc.cssselect("input[type=hidden][name=within]")[0].get("value") == "museo-I1"
