"""Tantivy field values made ahead (by ingest workers) index exactly what the parent would."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

import ingest.parallel
import search.tantivy_backend as tb
from archive.indexer import IndexFeed
from archive.service import Archive
from archive.settings import load_settings
from ingest.pipeline import run_batch
from ingest.registry import get_reader
from search.backend import SearchQuery
from search.tantivy_backend import TantivyBackend, finish_fields, index_fields
from tests.conftest import BASE_URL, CORPUS


def _unplaced(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as a worker makes it: no hierarchy yet."""
    return {**doc, "ancestors": [], "collection": None}


def test_fields_made_ahead_give_the_same_tantivy_document(
        documents: list[dict[str, Any]], tmp_path: Path) -> None:
    """Every test document, with and without a hierarchy: same values, same field order."""
    backend = TantivyBackend(tmp_path / "index")
    placed = [{**d, "ancestors": ["p-1", "p-0"], "collection": "p-0"} for d in documents[:20]]
    for doc in [*documents, *placed]:
        whole = backend._to_tantivy(doc).to_dict()
        ahead = pickle.loads(pickle.dumps(index_fields(_unplaced(doc))))  # across the pipe
        made = backend._to_tantivy(doc, ahead).to_dict()
        assert made == whole and list(made) == list(whole)
    assert "collection" in whole and backend._to_tantivy(placed[0]).to_dict()["ancestors"]


def test_finish_fields_drops_an_empty_hierarchy() -> None:
    """A record without a collection or ancestors gets neither field, as before."""
    doc = {"id": "r-1", "title": {"en": ["A title"]}, "ancestors": [], "collection": None}
    fields = finish_fields(index_fields(doc), doc)
    assert "collection" not in fields and "ancestors" not in fields
    assert fields["id"] == ["r-1"] and fields["source"]


def test_feed_uses_a_prepared_form_once(documents: list[dict[str, Any]], tmp_path: Path) -> None:
    """The feed hands a prepared form to the backend with its document, and only with it."""
    backend = TantivyBackend(tmp_path / "index")
    indexed: list[str] = []
    feed = IndexFeed(backend, on_indexed=indexed.extend)
    assert feed.takes_prepared
    first, second = documents[0], documents[1]
    feed.add(first, index_fields(first))
    feed.add(second, index_fields(second))
    feed.add(second)  # added again without a form: the stale form is dropped
    seen: dict[str, Any] = {}
    index = backend.index

    def spy(docs: Any, prepared: Any = None) -> int:
        seen.update(prepared or {})
        return index(docs, prepared=prepared)

    backend.index = spy  # type: ignore[method-assign]
    assert feed.flush() == 2
    assert list(seen) == [first["id"]]
    assert sorted(indexed) == sorted([first["id"], second["id"]])
    assert backend._searcher().num_docs == 2


def test_an_ingest_through_workers_indexes_their_fields(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DC through the pool: the workers' field values are used, the index is the same."""
    source = CORPUS / "oai_dc" / "eur_dspace_listrecords_oai_dc_2003.xml"
    made: dict[str, dict[str, dict[str, Any]]] = {"ahead": {}, "whole": {}}
    original = TantivyBackend._to_tantivy

    def recorded(self: TantivyBackend, doc: Any, fields: Any = None) -> Any:
        document = original(self, doc, fields)
        made["ahead" if fields is not None else "whole"][doc["id"]] = document.to_dict()
        if fields is not None:  # the same document made in the parent alone
            assert original(self, doc).to_dict() == made["ahead"][doc["id"]]
        return document

    monkeypatch.setattr(TantivyBackend, "_to_tantivy", recorded)
    monkeypatch.setattr(ingest.parallel, "PARALLEL_AFTER", 2)
    monkeypatch.setattr(ingest.parallel, "CHUNK", 3)
    settings = load_settings({"home": str(tmp_path / "home"), "base_url": BASE_URL,
                              "fsync": False}, environ={})
    with Archive(settings).open() as archive:
        assert archive.takes_index_fields
        report = run_batch(archive, get_reader("dc"), source)
        total = archive.index.backend.search(SearchQuery()).total if archive.index else 0
    assert len(made["ahead"]) == len(report.accepted) - 2  # all but the parent's first two
    assert len(made["ahead"]) + len(made["whole"]) == len(report.accepted) == total
    assert tb.HIERARCHY_FIELDS == ("collection", "ancestors")
