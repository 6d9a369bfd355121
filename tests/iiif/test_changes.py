"""The Change Discovery stream: Create, Update, Delete from storage versions, newest last."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from flask import Flask

from tests.iiif.test_presentation_support import BOOK_CSV, book_app, reingest_books  # noqa: F401

BASE = "http://memoria.test"
CONTEXT = "http://iiif.io/api/discovery/1/context.json"


def stream(app: Flask) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    client = app.test_client()
    top = client.get("/iiif/3/activity/all-changes").get_json()
    items: list[dict[str, Any]] = []
    url = top["first"]["id"]
    while url:
        page = client.get(url.removeprefix(BASE)).get_json()
        assert page["@context"] == CONTEXT and page["type"] == "OrderedCollectionPage"
        assert page["partOf"]["id"] == f"{BASE}/iiif/3/activity/all-changes"
        assert page["startIndex"] == len(items)
        items += page["orderedItems"]
        url = page.get("next", {}).get("id")
    assert top["last"]["id"] == page["id"]
    return top, items


def test_stream_of_creates(book_app: Flask) -> None:  # noqa: F811
    top, items = stream(book_app)
    assert top["@context"] == CONTEXT and top["type"] == "OrderedCollection"
    assert top["totalItems"] == len(items) == 7  # every record with a manifest; P5 has none
    assert {i["type"] for i in items} == {"Create"}
    assert all(i["object"]["type"] == "Manifest" for i in items)
    times = [i["endTime"] for i in items]
    assert times == sorted(times) and all(t.endswith("Z") for t in times)


def test_update_delete_and_recreate_come_last(book_app: Flask,  # noqa: F811
                                              tmp_path: Path) -> None:
    archive = book_app.extensions["memoria"]
    time.sleep(1.1)  # storage keeps version times to the second
    changed = BOOK_CSV.replace("Grabado suelto", "Grabado suelto (corregido)")
    assert reingest_books(archive, tmp_path / "again", changed) == ["lib-B2"]
    time.sleep(1.1)
    archive.withdraw("lib-P1", "duplicate")
    time.sleep(1.1)
    archive.restore("lib-P1", "v1", "not a duplicate after all")
    _, items = stream(book_app)
    assert len(items) == 10 and len({i["id"] for i in items}) == 10
    last = [(i["type"], i["object"]["id"].rsplit("/", 1)[1]) for i in items[-3:]]
    assert last == [("Update", "lib-B2"), ("Delete", "lib-P1"), ("Create", "lib-P1")]
