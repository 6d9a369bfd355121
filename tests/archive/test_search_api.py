"""The search API over the embedded index: hits, facets, paging, export, refusals."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from flask import Flask

from ingest.mapping import load_mapping
from ingest.pipeline import run_batch
from ingest.registry import get_reader


@pytest.fixture
def loaded(app: Flask, sample_source: Path) -> Flask:
    archive = app.extensions["memoria"]
    run_batch(archive, get_reader("csv"), sample_source / "records.csv",
              options={"mapping": load_mapping(sample_source / "mapping.toml")})
    return app


def test_ingested_records_are_found(loaded: Flask) -> None:
    data = loaded.test_client().get("/api/search?q=templo").get_json()
    # Spanish stemming: "templo" finds "templos" in titles and subjects.
    assert {h["id"] for h in data["hits"]} == {"museo-I1", "museo-I2", "museo-S1"}
    assert data["total"] == 3
    first = next(h for h in data["hits"] if h["id"] == "museo-I1")
    assert first["thumbnail"].endswith("/iiif/3/I1/full/!200,200/0/default.jpg")
    assert any("<mark>" in text for texts in first["highlights"].values() for text in texts)


def test_facets_filter_and_still_count_the_other_choices(loaded: Flask) -> None:
    client = loaded.test_client()
    data = client.get("/api/search?f.type=IMAGE").get_json()
    assert {h["id"] for h in data["hits"]} == {"museo-I1", "museo-I2"}
    types = next(f for f in data["facets"] if f["name"] == "type")
    assert {b["key"]: b["count"] for b in types["buckets"]} == {"IMAGE": 2, "TEXT": 2}
    both = client.get("/api/search?f.type=IMAGE&f.type=TEXT&f.level=series").get_json()
    assert [h["id"] for h in both["hits"]] == ["museo-S1"]
    years = client.get("/api/search?from=1680&to=1700").get_json()
    assert [h["id"] for h in years["hits"]] == ["museo-I2"]
    box = client.get("/api/search?bbox=17.062,-96.724,17.07,-96.72").get_json()
    assert {h["id"] for h in box["hits"]} == {"museo-F1", "museo-I1", "museo-S1"}
    soledad = client.get("/api/search?bbox=17.06,-96.735,17.062,-96.73").get_json()
    assert [h["id"] for h in soledad["hits"]] == ["museo-I2"]


def test_withdrawn_records_leave_the_index(loaded: Flask) -> None:
    loaded.extensions["memoria"].withdraw("museo-I1", "test")
    data = loaded.test_client().get("/api/search?q=templo").get_json()
    assert {h["id"] for h in data["hits"]} == {"museo-I2", "museo-S1"}


def test_deep_paging_with_search_after(loaded: Flask) -> None:
    client = loaded.test_client()
    seen, after = [], None
    while True:
        url = "/api/search?sort=title_asc&size=1" + (f"&after={after}" if after else "")
        data = client.get(url).get_json()
        if not data["hits"]:
            break
        seen += [h["id"] for h in data["hits"]]
        after = json.dumps(data["next_after"])
    assert sorted(seen) == ["museo-F1", "museo-I1", "museo-I2", "museo-S1"]
    assert len(seen) == 4


@pytest.mark.parametrize(("query", "reason"), [
    ("size=5000", "size must be"),
    ("page=100000&size=100", "page"),
    ("q=" + "palabra%20" * 40, "more than 32 words"),
    ("q=" + "x" * 600, "longer than 500"),
    ("f.colour=red", "unknown facet"),
    ("bbox=1,2,3", "bbox"),
    ("sort=random", "sort must be"),
    ("from=ayer", "whole number"),
    ("after=not-json&sort=title_asc", "next_after"),
])
def test_pathological_queries_get_a_clear_400(loaded: Flask, query: str, reason: str) -> None:
    resp = loaded.test_client().get(f"/api/search?{query}")
    assert resp.status_code == 400
    assert reason in resp.get_json()["error"]


def test_query_syntax_is_just_text(loaded: Flask) -> None:
    for q in ("*emplo", "title:templo", 'templo" OR "x', "AND OR NOT", "(((", "\\"):
        resp = loaded.test_client().get("/api/search", query_string={"q": q})
        assert resp.status_code == 200, q


def test_export_csv_is_safe_for_spreadsheets(app: Flask, tmp_path: Path) -> None:
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "r.csv").write_text("inv,titulo\nX1,=HYPERLINK(\"http://evil\")\nX2,Normal\n")
    (folder / "m.toml").write_text('[source]\nnamespace = "x"\nid = "inv"\n'
                                   '[[column]]\nname = "titulo"\nto = "dc:title"\n')
    run_batch(app.extensions["memoria"], get_reader("csv"), folder / "r.csv",
              options={"mapping": load_mapping(folder / "m.toml")})
    resp = app.test_client().get("/api/search/export?format=csv")
    assert resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    titles = {r["id"]: r["title"] for r in rows}
    assert titles["x-X1"].startswith("'=")
    assert titles["x-X2"] == "Normal"
    as_json = app.test_client().get("/api/search/export?format=json").get_json()
    assert {r["id"] for r in as_json} == {"x-X1", "x-X2"}


def test_suggest(loaded: Flask) -> None:
    data = loaded.test_client().get("/api/suggest?q=templ").get_json()
    assert "templo" in {s["text"] for s in data}


def test_index_commands(runner, sample_source: Path) -> None:  # type: ignore[no-untyped-def]
    assert runner.invoke("ingest", str(sample_source / "records.csv"), "--mapping",
                         str(sample_source / "mapping.toml")).exit_code == 0
    status = runner.invoke("index", "status")
    assert "backend tantivy: healthy; 0 records pending" in status.output
    rebuilt = runner.invoke("index", "rebuild")
    assert "indexed 4 records" in rebuilt.output
    synced = runner.invoke("index", "sync")
    assert synced.exit_code == 0 and "0 still pending" in synced.output
