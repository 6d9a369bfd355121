"""The rendered-page cache: kept across unrelated requests, never kept across a data change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from archive.settings import load_settings
from archive.site.page_cache import PageCache
from archive.web import create_app
from ingest.mapping import load_mapping
from ingest.pipeline import run_batch
from ingest.registry import get_reader
from tests.conftest import BASE_URL
from tests.site.item_fixtures import csv_text, make_loaded_app


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = make_loaded_app(tmp_path, images=True)
    yield app
    app.extensions["memoria"].close()


def get(client: FlaskClient, path: str, **headers: str) -> tuple[int, str, str, str]:
    """Status, X-Page-Cache, ETag and body of a GET."""
    resp = client.get(path, headers=headers)
    return (resp.status_code, resp.headers.get("X-Page-Cache", ""), resp.headers.get("ETag", ""),
            resp.get_data(as_text=True))


def reingest(app: Flask, tmp: Path, old: str, new: str) -> None:
    """Ingest the fixture's CSV again with one value corrected (real files, a real batch)."""
    source = tmp / "source"
    (source / "records.csv").write_text(
        csv_text().replace(old, new),
        encoding="utf-8")
    report = run_batch(app.extensions["memoria"], get_reader("csv"), source / "records.csv",
                       options={"mapping": load_mapping(source / "mapping.toml"),
                                "images_dir": source})
    assert not getattr(report, "errors", None), report


PAGES = ["/item/museo-I4", "/item/museo-I4.json", "/search?q=Merced",
         "/search?q=Merced&format=json", "/", "/collection/museo-F1", "/timeline",
         "/place?name=Ciudad+de+M%C3%A9xico"]


def test_a_page_is_served_again_after_unrelated_requests(app: Flask) -> None:
    client = app.test_client()
    first = {path: get(client, path) for path in PAGES}
    assert {path: r[:2] for path, r in first.items()} == {path: (200, "miss") for path in PAGES}
    for path in ("/healthz", "/item/museo-I1", "/search?q=templo", "/labels?id=museo-I1"):
        assert client.get(path).status_code == 200
    for path in PAGES:
        status, cache, etag, body = get(client, path)
        assert (status, cache, etag, body) == (200, "hit", first[path][2], first[path][3]), path
    # The key holds the language and the variant: another language is another page.
    status, cache, _, body = get(client, "/item/museo-I1?lang=zh-Hans")
    assert (status, cache) == (200, "miss") and "圣多明各教堂" in body
    assert get(client, "/item/museo-I1?lang=es")[1] == "miss"
    assert get(client, "/item/museo-I1", Accept="application/json")[1] == "miss"
    assert get(client, "/search?f.place=Oaxaca&q=templo")[1] == "miss"
    assert get(client, "/search?q=templo&f.place=Oaxaca")[1] == "hit"  # same query, other order


def test_a_kept_page_has_the_headers_of_the_rendered_one(app: Flask) -> None:
    client = app.test_client()
    for path in ("/item/museo-I1", "/item/museo-I4", "/search?q=templo", "/item/museo-I1.ttl"):
        rendered, kept = client.get(path), client.get(path)
        assert (rendered.headers["X-Page-Cache"], kept.headers["X-Page-Cache"]) == ("miss", "hit")
        assert kept.get_data() == rendered.get_data()
        same = {k: v for k, v in rendered.headers.items() if k not in ("X-Page-Cache", "Date")}
        assert {k: v for k, v in kept.headers.items() if k not in ("X-Page-Cache", "Date")} \
            == same, path
    # The item with an image has the viewer's policy, kept with the page.
    assert client.get("/item/museo-I1").headers["Content-Security-Policy"] != \
        client.get("/item/museo-I4").headers["Content-Security-Policy"]


def test_etag_answers_304_and_the_cookie_is_still_set(app: Flask) -> None:
    client = app.test_client()
    _, _, etag, _ = get(client, "/item/museo-I4")
    assert etag
    resp = client.get("/item/museo-I4", headers={"If-None-Match": etag})
    assert resp.status_code == 304 and resp.get_data() == b""
    assert "Content-Security-Policy" in resp.headers
    resp = client.get("/item/museo-I4?lang=es")
    assert "memoria_lang=es" in resp.headers.get("Set-Cookie", "")
    resp = client.get("/item/museo-I4?lang=es")
    assert resp.headers["X-Page-Cache"] == "hit"
    assert "memoria_lang=es" in resp.headers.get("Set-Cookie", "")  # hooks run on a kept page
    assert "Accept" in resp.headers["Vary"] and "Cookie" in resp.headers["Vary"]


def test_a_correction_and_a_withdrawal_are_never_served_stale(app: Flask, tmp_path: Path
                                                              ) -> None:
    client = app.test_client()
    for path in PAGES:
        get(client, path)
        assert get(client, path)[1] == "hit"
    reingest(app, tmp_path, "La Merced market", "San Juan market")
    status, cache, _, body = get(client, "/item/museo-I4")
    assert (status, cache) == (200, "miss")
    assert "San Juan market" in body and "La Merced market" not in body
    found = client.get("/search?q=San+Juan&format=json").get_json()
    assert [h["id"] for h in found["hits"]] == ["museo-I4"]
    assert get(client, "/search?q=Merced&format=json")[1] == "miss"
    assert get(client, "/item/museo-I4")[1] == "hit"
    app.extensions["memoria"].withdraw("museo-I4", "test: withdrawn")
    assert client.get("/item/museo-I4").status_code == 410
    assert client.get("/item/museo-I4.json").status_code == 410
    hits = client.get("/search?q=Merced&format=json").get_json()["hits"]
    assert "museo-I4" not in [h["id"] for h in hits]


def test_the_setting_turns_the_cache_off_but_keeps_etags(tmp_path: Path) -> None:
    settings = load_settings({"home": str(tmp_path / "home"), "base_url": BASE_URL,
                              "fsync": False, "page_cache_mb": 0}, environ={})
    app = create_app(settings)
    try:
        client = app.test_client()
        assert "memoria_page_cache" not in app.extensions
        for _ in range(2):
            status, cache, etag, _ = get(client, "/search?q=")
            assert (status, cache) == (200, "") and etag
        assert client.get("/search?q=", headers={"If-None-Match": etag}).status_code == 304
    finally:
        app.extensions["memoria"].close()


def test_the_cache_is_bounded_in_bytes(tmp_path: Path) -> None:
    from archive.site.page_cache import CachedPage

    limit = 2 << 20
    cache = PageCache(tmp_path / "pages", max_bytes=limit)
    for i in range(200):  # 10 MB of 50 KB pages through a 2 MB cache
        cache.put(f"page-{i}", CachedPage(bytes([i % 251]) * 50_000, (("Vary", "Accept"),),
                                          str(i)))
    assert cache.volume() <= limit * 1.5 and 10 < len(cache) < 60
    assert cache.get("page-0") is None  # the oldest went first
    kept = cache.get("page-199")
    assert kept == CachedPage(bytes([199 % 251]) * 50_000, (("Vary", "Accept"),), "199")
    cache.put("big", CachedPage(b"x" * (limit // 4), (), "big"))  # over an eighth: not kept
    assert cache.get("big") is None
    cache.close()


def test_a_page_kept_by_one_process_is_read_by_another(tmp_path: Path) -> None:
    """The folder is the cache: a fresh process (another worker) finds what this one kept."""
    import subprocess
    import sys

    from archive.site.page_cache import CachedPage

    cache = PageCache(tmp_path / "pages", max_bytes=8 << 20)
    cache.put("k", CachedPage("<p>页面 ✓</p>".encode(), (("Content-Type", "text/html"),), "e1"))
    code = ("import sys; from pathlib import Path; from archive.site.page_cache import PageCache;"
            f"p = PageCache(Path({str(tmp_path / 'pages')!r}), 8 << 20).get('k');"
            "sys.stdout.buffer.write(p.body + p.etag.encode() + repr(p.headers).encode())")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True).stdout
    assert out == "<p>页面 ✓</p>".encode() + b"e1" + repr((("Content-Type", "text/html"),)).encode()
    cache.close()


def test_the_cache_folder_is_derived_and_safe_to_delete(app: Flask) -> None:
    """Deleting the folder while the server runs costs renders, never a wrong or failed page."""
    import shutil

    client = app.test_client()
    folder = app.extensions["memoria_page_cache"].directory
    first = get(client, "/search?q=Merced")
    assert first[:2] == (200, "miss") and folder.is_dir() and any(folder.iterdir())
    shutil.rmtree(folder)
    for _ in range(2):
        status, _, etag, body = get(client, "/search?q=Merced")
        assert (status, etag, body) == (200, first[2], first[3])


def test_pages_stay_inside_sqlite_and_a_server_start_forgets_them(tmp_path: Path) -> None:
    """No file per page (file churn is slow on ext4 without a journal); forget_pages empties."""
    from archive.site.page_cache import CachedPage, forget_pages

    folder = tmp_path / "pages"
    cache = PageCache(folder, max_bytes=8 << 20)
    for i in range(20):  # 200 KB pages: diskcache's default would write each as a file
        cache.put(f"p{i}", CachedPage(bytes([i]) * 200_000, (), str(i)))
    assert len(cache) == 20 and cache.get("p3") == CachedPage(bytes([3]) * 200_000, (), "3")
    names = sorted(p.name for p in folder.iterdir())
    assert all(name.startswith("cache.db") for name in names), names
    forget_pages(folder, 8 << 20)
    assert len(cache) == 0 and cache.get("p3") is None
    cache.close()
