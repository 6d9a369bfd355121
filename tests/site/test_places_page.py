"""The places index and the place page on the demo data: right items, counts, map data, escaping."""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import quote, urlencode

from flask import Flask

from archive.service import Archive
from search.backend import SearchQuery
from tests.site.test_collections_page import EVIL_PLACE, site  # noqa: F401 - the fixture

OAXACA = "Oaxaca de Juárez, Oaxaca, Mexico"
PLACE_URL = "/place?name=Oaxaca+de+Ju%C3%A1rez,+Oaxaca,+Mexico"


def all_documents(archive: Archive) -> list[dict[str, Any]]:
    """Every indexed document (the truth the pages are checked against)."""
    hits = archive.search(SearchQuery(size=1000, facets=False, highlight=False)).hits
    return [dict(h.source or {}) for h in hits]


def embedded_json(html: str, element_id: str) -> Any:
    """The JSON a page embeds for its scripts in <script type="application/json" id=...>."""
    m = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html,
                  re.S)
    assert m, element_id
    return json.loads(m.group(1))


def test_places_index_counts_every_place(site: Flask) -> None:  # noqa: F811
    archive: Archive = site.extensions["memoria"]
    truth: dict[str, int] = {}
    for doc in all_documents(archive):
        for name in doc["place"]:
            truth[name] = truth.get(name, 0) + 1
    data = site.test_client().get("/places", headers={"Accept": "application/json"}).get_json()
    assert {p["name"]: p["count"] for p in data["places"]} == truth
    counts = [p["count"] for p in data["places"]]
    assert counts == sorted(counts, reverse=True)
    markers = data["map"]["markers"]
    assert data["located"] == len(markers) > 10
    oaxaca = next(m for m in markers if m["label"] == OAXACA)
    assert math.isclose(oaxaca["lat"], 17.06, abs_tol=0.02)
    assert oaxaca["url"] == PLACE_URL
    assert data["map"]["tileUrl"] == ""  # no network in tests: a blank map, markers still drawn


def test_places_html_links_each_place_and_embeds_the_map(site: Flask) -> None:  # noqa: F811
    html = site.test_client().get("/places").get_data(as_text=True)
    assert f'href="{PLACE_URL}"' in html
    options = embedded_json(html, "places-map")
    assert len(options["markers"]) > 10
    assert 'data-memoria-map="places-map"' in html
    assert "/static/maps.js" in html and "/static/places.js" in html
    assert re.search(r"<script>(?!</script>)", html) is None  # no inline scripts


def test_place_page_lists_the_items_at_and_near_it(site: Flask) -> None:  # noqa: F811
    archive: Archive = site.extensions["memoria"]
    docs = all_documents(archive)
    data = site.test_client().get(f"/place?name={quote(OAXACA)}&format=json").get_json()
    at = sorted(d["id"] for d in docs if OAXACA in d["place"])
    assert data["at"]["total"] == len(at) == 6
    assert sorted(i["id"] for i in data["at"]["items"]) == at
    assert math.isclose(data["lat"], 17.06, abs_tol=0.02)
    south, west, north, east = data["near"]["bbox"]
    near = sorted(d["id"] for d in docs if d.get("location")
                  and south <= d["location"]["lat"] <= north
                  and west <= d["location"]["lon"] <= east)
    assert data["near"]["total"] == len(near) and set(at) <= set(near)
    assert sorted(i["id"] for i in data["near"]["items"]) == near
    assert north - south == 2 * 5 / 111.32 or math.isclose(north - south, 2 * 5 / 111.32)
    # Campeche is ~700 km away: not near Oaxaca, but within 1,000 km it would be.
    assert all("Campeche" not in p["name"] for p in data["near"]["places"])
    wide = site.test_client().get(f"/place?name={quote(OAXACA)}&km=200&format=json").get_json()
    assert wide["near"]["km"] == 200 and wide["near"]["total"] >= data["near"]["total"]
    assert data["map"]["markers"][0]["label"] == OAXACA
    assert data["at"]["search_url"] == "/search?" + urlencode({"f.place": OAXACA})


def test_place_page_html_and_paging(site: Flask) -> None:  # noqa: F811
    client = site.test_client()
    html = client.get(f"/place?name={quote(OAXACA)}").get_data(as_text=True)
    assert "<h1><bdi>Oaxaca de Juárez, Oaxaca, Mexico</bdi></h1>" in html
    assert 'href="/item/demo-OAX-0005"' in html
    options = embedded_json(html, "place-map")
    assert options["bbox"][0] < 17.06 < options["bbox"][2]
    assert client.get("/place?name=Atlantis").status_code == 404
    assert client.get("/place").status_code == 404
    assert client.get(f"/place?name={quote(OAXACA)}&page=2").status_code == 200


def test_hostile_place_name_is_escaped(site: Flask) -> None:  # noqa: F811
    client = site.test_client()
    resp = client.get(f"/place?name={quote(EVIL_PLACE)}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    # Inside the embedded JSON, "</script>" cannot close the element early.
    assert embedded_json(html, "place-map")["markers"][0]["label"] == EVIL_PLACE
    places = client.get("/places").get_data(as_text=True)
    assert "<img src=x" not in places and "onerror=alert(1)&gt;" in places


def test_place_url_is_offered_to_every_template(site: Flask) -> None:  # noqa: F811
    with site.test_request_context("/"):
        render = site.jinja_env.from_string("{{ place_url(n) }}").render
        assert render(n="A & B") == "/place?name=A+%26+B"
