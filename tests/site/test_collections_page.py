"""The collection tree and the timeline on the demo data, a corpus EAD and a hostile title."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from archive.demo.images import demo_dir
from archive.service import Archive
from archive.settings import load_settings
from archive.web import create_app
from ingest.mapping import load_mapping
from ingest.pipeline import run_batch
from ingest.registry import get_reader
from tests.conftest import BASE_URL, CORPUS, SAMPLE_MAPPING

DEMO = "demo"  # the namespace of archive/demo/mapping.toml
EAD = CORPUS / "ead" / "nlm_alphaomegaalpha_ead2002.xml"
EVIL_TITLE = '</script><script>alert("x")</script>&<b>'
EVIL_PLACE = 'Plaza "<img src=x onerror=alert(1)>"</script>'
EVIL_CSV = f"""inv,titulo,title,fecha,autor,temas,lugar,lat,lon,derechos,padre,orden,nivel,imagen
EVIL,"{EVIL_TITLE.replace('"', '""')}",,1901,,,Oaxaca,17.0654,-96.7236,CC0,,1,fonds,
EVIL-1,Parte,Part one,1902,,,"{EVIL_PLACE.replace('"', '""')}",17.07,-96.72,CC0,EVIL,1,file,
"""


def demo_csv_without_images(folder: Path) -> Path:
    """The demo records.csv with its image column emptied (the tree and places are what count)."""
    with (demo_dir() / "records.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "images": ""})
    path = folder / "records.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The demo, a corpus EAD finding aid and a hostile collection, behind the real app."""
    home = tmp_path_factory.mktemp("browse")
    settings = load_settings({"home": str(home / "home"), "base_url": BASE_URL, "fsync": False,
                              "map_tile_url": ""}, environ={})
    app = create_app(settings)
    app.config["TESTING"] = True
    archive: Archive = app.extensions["memoria"]
    demo = home / "demo"
    demo.mkdir()
    report = run_batch(archive, get_reader("csv"), demo_csv_without_images(demo), options={
        "mapping": load_mapping(demo_dir() / "mapping.toml"), "images_dir": demo})
    assert not report.rejected, report.rejected
    report = run_batch(archive, get_reader("ead"), EAD)
    assert not report.rejected, report.rejected
    evil = home / "evil"
    evil.mkdir()
    (evil / "records.csv").write_text(EVIL_CSV, encoding="utf-8")
    (evil / "mapping.toml").write_text(SAMPLE_MAPPING, encoding="utf-8")
    report = run_batch(archive, get_reader("csv"), evil / "records.csv", options={
        "mapping": load_mapping(evil / "mapping.toml"), "images_dir": evil})
    assert not report.rejected, report.rejected
    yield app
    archive.close()


def subtree(archive: Archive, rid: str) -> list[str]:
    """Every record below one, by walking the hierarchy (the slow truth the pages avoid)."""
    out = []
    for child, _order in archive.children(rid):
        out += [child, *subtree(archive, child)]
    return out


def top_ids(archive: Archive) -> list[str]:
    """Records without a parent."""
    return [rid for rid in archive.ids() if archive.ancestors_of(rid)[0] == []]


def test_collections_lists_every_top_level_unit_with_its_count(site: Flask) -> None:
    archive = site.extensions["memoria"]
    data = site.test_client().get("/collections?format=json").get_json()
    got = {c["id"]: c["records_below"] for c in data["collections"]}
    want = {rid: len(subtree(archive, rid)) for rid in top_ids(archive)}
    assert got == want
    assert {f"{DEMO}-GZ", f"{DEMO}-OAX", f"{DEMO}-CAM", "museo-EVIL"} <= set(got)
    assert got[f"{DEMO}-GZ"] == 14
    assert data["total_records"] == len(archive.ids())


def test_counts_at_every_level_equal_the_records_under_it(site: Flask) -> None:
    archive: Archive = site.extensions["memoria"]
    client = site.test_client()
    deepest = 0
    for top in top_ids(archive):
        stack = [(top, 0)]
        while stack:
            rid, depth = stack.pop()
            deepest = max(deepest, depth)
            page = client.get(f"/collection/{rid}?format=json").get_json()
            assert page["node"]["records_below"] == len(subtree(archive, rid)), rid
            children = archive.children(rid)
            assert page["node"]["parts"] == len(children)
            for row in page["children"]:
                assert row["records_below"] == len(subtree(archive, row["id"])), row["id"]
                assert row["parts"] == len(archive.children(row["id"]))
                if row["parts"]:
                    stack.append((row["id"], depth + 1))
    assert deepest >= 2  # fonds > series > file at least (the EAD goes deeper)


def test_children_are_in_archival_order_and_paged(site: Flask) -> None:
    archive: Archive = site.extensions["memoria"]
    client = site.test_client()
    biggest = max(archive.ids(), key=lambda r: len(archive.children(r)))
    children = [c for c, _ in archive.children(biggest)]
    from archive.site.collections_page import PAGE_SIZE
    seen: list[str] = []
    page = 1
    while True:
        data = client.get(f"/collection/{biggest}?format=json&page={page}").get_json()
        assert len(data["children"]) <= PAGE_SIZE
        seen += [c["id"] for c in data["children"]]
        if not data["next_url"]:
            break
        page += 1
    assert seen == children
    assert client.get(f"/collection/{biggest}?page={page + 1}").status_code == 404


def test_collection_page_html_links_down_up_search_and_timeline(site: Flask) -> None:
    client = site.test_client()
    archive: Archive = site.extensions["memoria"]
    series = f"{DEMO}-OAX-S02"
    html = client.get(f"/collection/{series}").get_data(as_text=True)
    top = archive.ancestors_of(series)[1]
    assert f'href="/collection/{top}"' in html  # breadcrumb up
    assert f"/timeline?collection={series}" in html
    assert f"/search?within={series}" in html
    first_child = archive.children(series)[0][0]
    assert f'/item/{first_child}"' in html or f'/collection/{first_child}"' in html
    top_html = client.get(f"/collection/{top}").get_data(as_text=True)
    assert f"/search?f.collection={top}" in top_html


def test_unknown_and_hostile_ids(site: Flask) -> None:
    client = site.test_client()
    assert client.get(f"/collection/{DEMO}-NOPE").status_code == 404
    assert client.get("/collection/..%2Fetc").status_code == 404
    assert client.get("/timeline?collection=<script>").status_code == 404


def test_malicious_collection_title_is_escaped(site: Flask) -> None:
    client = site.test_client()
    for url in ("/collections", "/collection/museo-EVIL", "/collection/museo-EVIL-1",
                "/timeline?collection=museo-EVIL", "/"):
        resp = client.get(url)
        if url.endswith("EVIL-1"):
            assert resp.status_code == 200
            continue
        html = resp.get_data(as_text=True)
        assert resp.status_code == 200, url
        assert '<script>alert("x")' not in html, url
        assert "&lt;/script&gt;&lt;script&gt;alert(" in html, url
    data = client.get("/collections?format=json").get_json()
    assert EVIL_TITLE in [c["title"] for c in data["collections"]]


def test_timeline_counts_sum_to_the_records_with_dates(site: Flask) -> None:
    archive: Archive = site.extensions["memoria"]
    client = site.test_client()
    backend = archive.index.backend
    from search.backend import SearchQuery
    everything = client.get("/timeline?format=json").get_json()
    dated = backend.count(SearchQuery(year_from=-100000, facets=False))
    assert sum(b["count"] for b in everything["bars"]) == everything["dated_records"] == dated
    assert everything["records"] == len(archive.ids())
    for top in top_ids(archive):
        data = client.get(f"/timeline?collection={top}&format=json").get_json()
        below = subtree(archive, top)
        hits = backend.search(SearchQuery(within=top, size=1000, facets=False)).hits
        assert sorted(h.id for h in hits) == sorted(below)
        want = sum(1 for h in hits if (h.source or {}).get("year_begin") is not None)
        assert data["dated_records"] == want == sum(b["count"] for b in data["bars"])
        for bar in data["bars"]:
            assert bar["to"] - bar["from"] + 1 == data["interval"]
            assert f"from={bar['from']}" in bar["url"] and f"to={bar['to']}" in bar["url"]


def test_timeline_html_has_linked_bars_and_a_table(site: Flask) -> None:
    html = site.test_client().get(f"/timeline?collection={DEMO}-GZ").get_data(as_text=True)
    bars = re.findall(r'<a href="(/search\?[^"]+)" aria-label="[^"]+: (\d+)"', html)
    assert bars and all(f"f.collection={DEMO}-GZ" in url for url, _ in bars)
    assert "<table" in html and "<svg" in html and 'role="group"' in html
    assert " style=" not in html  # the CSP refuses style attributes


def test_search_within_a_node_finds_exactly_its_subtree(site: Flask) -> None:
    archive: Archive = site.extensions["memoria"]
    client = site.test_client()
    for rid in (f"{DEMO}-OAX-S02", f"{DEMO}-GZ", "museo-EVIL"):
        data = client.get(f"/api/search?within={rid}&size=100").get_json()
        assert sorted(h["id"] for h in data["hits"]) == sorted(subtree(archive, rid)), rid
    assert client.get("/api/search?within=<script>").status_code == 400


def test_withdrawn_unit_is_gone_from_the_tree(site: Flask) -> None:
    """After the tests that read the whole tree: it changes the shared instance."""
    archive: Archive = site.extensions["memoria"]
    client = site.test_client()
    assert archive.withdraw("museo-EVIL-1", "test") is not None
    assert client.get("/collection/museo-EVIL-1").status_code == 410
    assert client.get("/timeline?collection=museo-EVIL-1").status_code == 410
    data = client.get("/collection/museo-EVIL?format=json").get_json()
    assert data["children"] == [] and data["node"]["records_below"] == 0


@pytest.mark.service
def test_elasticsearch_counts_the_tree_places_and_years_like_tantivy(site: Flask) -> None:
    from search.backend import SearchQuery
    from tests.search.conftest import drop, es_or_fail

    archive: Archive = site.extensions["memoria"]
    tantivy = archive.index.backend
    docs = [archive.document(rid, archive.rdf.graph(archive.minter.graph(rid)))
            for rid in archive.ids()]
    es = es_or_fail(f"memoria-test-browse-{uuid.uuid4().hex[:8]}")
    try:
        es.rebuild(docs)
        units = [d["id"] for d in docs if archive.children(d["id"])]
        for backend in (tantivy, es):
            assert backend.count() == len(docs)
        for unit in units:
            keys = [c for c, _ in archive.children(unit)]
            within = SearchQuery(within=unit, facets=False)
            want = tantivy.term_counts(within, "ancestors", keys=keys)
            assert want == es.term_counts(within, "ancestors", keys=keys), unit
            assert want == {k: len(subtree(archive, k)) for k in keys if subtree(archive, k)}
            assert tantivy.count(within) == es.count(within) == len(subtree(archive, unit))
            assert tantivy.year_counts(within) == es.year_counts(within), unit
        everything = SearchQuery(facets=False)
        assert tantivy.term_counts(everything, "place", size=500) == \
            es.term_counts(everything, "place", size=500)
        assert tantivy.term_counts(everything, "collection", size=500) == \
            es.term_counts(everything, "collection", size=500)
        assert tantivy.year_counts(everything, 50) == es.year_counts(everything, 50)
        with pytest.raises(ValueError):
            es.term_counts(everything, "all_text")
    finally:
        drop(es)
        es.close()
