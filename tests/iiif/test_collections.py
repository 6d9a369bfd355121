"""Collections per record with parts and of everything: reachability and paging."""

from __future__ import annotations

from typing import Any

from flask import Flask

from iiif.schema import validate_presentation
from tests.iiif.test_presentation_support import book_app, demo_app  # noqa: F401

BASE = "http://memoria.test"


def get(app: Flask, url: str) -> dict[str, Any]:
    resp = app.test_client().get(url.removeprefix(BASE))
    assert resp.status_code == 200, (url, resp.get_data(as_text=True))
    doc: dict[str, Any] = resp.get_json()
    assert validate_presentation(doc) == [], url
    return doc


def reachable(app: Flask) -> set[str]:
    seen: set[str] = set()
    todo = [f"{BASE}/iiif/3/collection"]
    while todo:
        url = todo.pop()
        doc = get(app, url)
        for item in doc.get("items", []):
            if item["type"] == "Manifest":
                seen.add(item["id"])
            elif item["id"] not in seen:
                seen.add(item["id"])
                todo.append(item["id"])
    return seen


def test_demo_hierarchy_as_collections(demo_app: Flask) -> None:  # noqa: F811
    top = get(demo_app, f"{BASE}/iiif/3/collection")
    assert [i["id"].rsplit("/", 1)[1] for i in top["items"]] == ["demo-GZ", "demo-OAX", "demo-CAM"]
    assert all(i["type"] == "Collection" for i in top["items"])
    gz = get(demo_app, f"{BASE}/iiif/3/collection/demo-GZ")
    assert gz["label"]["zh-Hans"] == ["广州：岭南建筑与工艺"]
    assert gz["partOf"] == [{"id": f"{BASE}/iiif/3/collection", "type": "Collection"}]
    series = get(demo_app, f"{BASE}/iiif/3/collection/demo-GZ-S01")
    kinds = [(i["type"], i["id"].rsplit("/", 1)[1]) for i in series["items"]]
    assert kinds == [("Manifest", "demo-GZ-S01"), ("Manifest", "demo-GZ-0001"),
                     ("Manifest", "demo-GZ-0002"), ("Manifest", "demo-GZ-0003"),
                     ("Manifest", "demo-GZ-0004")]


def test_every_published_manifest_is_reachable(demo_app: Flask) -> None:  # noqa: F811
    archive = demo_app.extensions["memoria"]
    client = demo_app.test_client()
    found = reachable(demo_app)
    published = {f"{BASE}/iiif/3/manifest/{rid}" for rid in archive.ids()
                 if client.get(f"/iiif/3/manifest/{rid}").status_code == 200}
    assert published and published <= found


def test_large_collections_are_paged(book_app: Flask) -> None:  # noqa: F811
    fonds = get(book_app, f"{BASE}/iiif/3/collection/lib-F1")
    pages = [f"{BASE}/iiif/3/collection/lib-F1/page/{n}" for n in (1, 2, 3)]
    assert [i["id"] for i in fonds["items"]] == pages
    assert fonds["first"]["id"] == pages[0] and fonds["last"]["id"] == pages[-1]
    members = []
    for n, url in enumerate(pages):
        page = get(book_app, url)
        assert page["partOf"] == [{"id": f"{BASE}/iiif/3/collection/lib-F1", "type": "Collection"}]
        assert ("next" in page) == (n < 2) and ("prev" in page) == (n > 0)
        if n < 2:
            assert page["next"]["id"] == pages[n + 1]
        members += [i["id"].rsplit("/", 1)[1] for i in page["items"]]
    # Its own manifest (all parts' canvases) first, then the parts with images, in order.
    assert members == ["lib-F1", "lib-B1", "lib-B2", "lib-P1", "lib-P2", "lib-P3", "lib-P4"]
    assert f"{BASE}/iiif/3/manifest/lib-P4" in reachable(book_app)
