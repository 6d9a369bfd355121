"""The home page: collections with counts from the index, a search box, the map, recent additions."""

from __future__ import annotations

from typing import Any

from flask import Flask

from archive.service import Archive
from tests.site.test_collections_page import DEMO, site, subtree  # noqa: F401 - the fixture
from tests.site.test_places_page import embedded_json


def home_json(app: Flask) -> dict[str, Any]:
    """The home page's JSON twin."""
    resp = app.test_client().get("/?format=json")
    assert resp.status_code == 200
    return resp.get_json()


def test_home_collections_have_the_counts_of_their_trees(site: Flask) -> None:  # noqa: F811
    archive: Archive = site.extensions["memoria"]
    data = home_json(site)
    assert data["total_records"] == len(archive.ids())
    got = {c["id"]: c["records_below"] for c in data["collections"]}
    assert {f"{DEMO}-GZ", f"{DEMO}-OAX", f"{DEMO}-CAM", "museo-EVIL"} <= set(got)
    for rid, count in got.items():
        assert count == len(subtree(archive, rid)), rid
    assert data["collection_count"] == len(got)  # fewer than HOME_COLLECTIONS here


def test_home_does_not_read_records(site: Flask) -> None:  # noqa: F811
    archive: Archive = site.extensions["memoria"]
    calls: list[str] = []
    real_get = archive.get

    def counting_get(rid: str) -> Any:
        calls.append(rid)
        return real_get(rid)

    archive.get = counting_get  # type: ignore[method-assign]
    try:
        assert site.test_client().get("/").status_code == 200
    finally:
        del archive.get
    assert calls == []  # counts and titles come from the index and one store query


def test_home_html_has_search_box_collections_map_and_recent(site: Flask) -> None:  # noqa: F811
    html = site.test_client().get("/").get_data(as_text=True)
    assert 'role="search"' in html and 'action="/search"' in html and 'name="q"' in html
    assert f'href="/collection/{DEMO}-GZ"' in html
    assert f'href="/item/{DEMO}-GZ"' in html  # the collection's own description
    options = embedded_json(html, "home-map")
    assert len(options["markers"]) > 10
    assert all(m["url"].startswith("/place?name=") for m in options["markers"])
    assert 'href="/collections"' in html and 'href="/places"' in html
    assert 'href="/timeline"' in html


def test_recent_additions_are_the_last_ingested_first(site: Flask) -> None:  # noqa: F811
    recent = [r["id"] for r in home_json(site)["recent"]]
    # The hostile collection was the last batch: its records come first, newest row first.
    assert recent[:2] == ["museo-EVIL-1", "museo-EVIL"]
    assert len(recent) == 8 and len(set(recent)) == 8


def test_withdrawn_records_leave_the_home_page(site: Flask) -> None:  # noqa: F811
    archive: Archive = site.extensions["memoria"]
    before = home_json(site)
    assert archive.withdraw("museo-EVIL-1", "test") is not None
    after = home_json(site)
    assert "museo-EVIL-1" not in [r["id"] for r in after["recent"]]
    assert after["total_records"] == before["total_records"] - 1
    evil = {c["id"]: c["records_below"] for c in after["collections"]}["museo-EVIL"]
    assert evil == 0


def test_home_in_chinese_and_spanish(site: Flask) -> None:  # noqa: F811
    for lang, word in (("zh-Hans", "广州"), ("es", "Oaxaca")):
        html = site.test_client().get(f"/?lang={lang}").get_data(as_text=True)
        assert f'lang="{lang}"' in html and word in html
