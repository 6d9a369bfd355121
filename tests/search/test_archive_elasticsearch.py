"""Memoria on Elasticsearch: same answers as the embedded index, and no record lost to an outage."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from archive.service import Archive
from archive.settings import Settings, load_settings
from archive.web import create_app
from bench.bench_ingest_csv import MAPPING, write_csv
from ingest.mapping import load_mapping
from ingest.pipeline import run_batch
from ingest.registry import get_reader
from tests.conftest import BASE_URL
from tests.search.conftest import ES_URL, drop, es_or_fail

REPO = Path(__file__).resolve().parents[2]
ES_SCRIPT = REPO / "scripts" / "es.sh"
OUTAGE_PORT = int(os.environ.get("MEMORIA_ES_OUTAGE_PORT", "9250"))

QUERIES = ["q=templo", "f.type=IMAGE", "q=oaxaca&f.level=item", "from=1600&to=1700",
           "bbox=17.062,-96.724,17.07,-96.72", "sort=title_asc", "q=Soledad&sort=year_desc"]


def es_settings(tmp_path: Path, url: str = ES_URL) -> Settings:
    return load_settings({"home": str(tmp_path / "home-es"), "base_url": BASE_URL, "fsync": False,
                          "search": "elasticsearch", "elasticsearch_url": url,
                          "elasticsearch_index": f"test-{uuid.uuid4().hex[:10]}"}, environ={})


def ingest(app: Flask, source: Path) -> None:
    run_batch(app.extensions["memoria"], get_reader("csv"), source / "records.csv",
              options={"mapping": load_mapping(source / "mapping.toml")})


@pytest.fixture
def es_app(tmp_path: Path) -> Iterator[Flask]:
    settings = es_settings(tmp_path)
    es_or_fail(settings.elasticsearch_index).close()
    app = create_app(settings)
    yield app
    backend = app.extensions["memoria"].index.backend
    app.extensions["memoria"].close()
    drop(backend)


@pytest.mark.service
def test_the_api_gives_the_same_answers_on_both_backends(
        app: Flask, es_app: Flask, sample_source: Path) -> None:
    ingest(app, sample_source)
    ingest(es_app, sample_source)
    for query in QUERIES:
        embedded = app.test_client().get(f"/api/search?{query}").get_json()
        distributed = es_app.test_client().get(f"/api/search?{query}").get_json()
        assert {h["id"] for h in embedded["hits"]} == {h["id"] for h in distributed["hits"]}, query
        assert embedded["total"] == distributed["total"], query
        facets = [{f["name"]: {b["key"]: b["count"] for b in f["buckets"]}
                   for f in doc["facets"]} for doc in (embedded, distributed)]
        assert facets[0] == facets[1], query


def run_es(command: str) -> None:
    env = {**os.environ, "MEMORIA_ES_PORT": str(OUTAGE_PORT)}
    proc = subprocess.run(["bash", str(ES_SCRIPT), command], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"es.sh {command} failed:\n{proc.stdout}\n{proc.stderr}"


@pytest.mark.service
@pytest.mark.slow
def test_an_outage_in_the_middle_of_a_10000_record_ingest_loses_nothing(tmp_path: Path) -> None:
    source = tmp_path / "big"
    source.mkdir()
    write_csv(source / "records.csv", 10_000)
    (source / "mapping.toml").write_text(MAPPING, encoding="utf-8")
    run_es("start")
    settings = es_settings(tmp_path, f"http://127.0.0.1:{OUTAGE_PORT}")
    try:
        with Archive(settings).open() as archive:
            def progress(n: int) -> None:
                if n == 3_000:
                    run_es("stop")

            report = run_batch(archive, get_reader("csv"), source / "records.csv",
                               options={"mapping": load_mapping(source / "mapping.toml")},
                               progress=progress)
            assert len(report.accepted) == 10_000, report.summary()
            assert len(list(archive.storage.ids())) == 10_000
            pending = archive.state.pending_count()
            assert pending >= 7_000, "records after the outage must wait in the queue"
            run_es("start")
            archive.index._down_until = 0.0  # the test does not wait out the 30 s back-off
            archive.sync()
            assert archive.state.pending_count() == 0
            backend = archive.index.backend
            assert backend.count() == 10_000
            incremental = {q: backend.search(_query(q)).ids for q in ("Oaxaca", "siglo", "广州")}
            assert archive.rebuild_index() == 10_000
            assert backend.count() == 10_000
            for text, ids in incremental.items():
                assert backend.search(_query(text)).ids == ids, text
    finally:
        run_es("stop")


def _query(text: str):  # type: ignore[no-untyped-def]
    from search.backend import SearchQuery, Sort

    return SearchQuery(text=text, sort=Sort.TITLE_ASC, size=50, facets=False, highlight=False)
