"""A batch's full derive buffer goes to the RDF store and the index in a thread of its own,
and a record leaves the pending queue only once its current version is in both."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import archive.indexer
import archive.service
from archive.record import RecordBuilder, RecordDraft
from archive.service import Archive, Provenance
from archive.settings import load_settings
from archive.vocab import DC
from search.backend import SearchQuery
from tests.conftest import BASE_URL


@pytest.fixture
def small_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Archive]:
    """An archive whose batches derive (and index) every two records."""
    monkeypatch.setattr(archive.service, "DERIVE_EVERY", 2)
    monkeypatch.setattr(archive.indexer, "FLUSH_EVERY", 2)
    settings = load_settings({"home": str(tmp_path / "home"), "base_url": BASE_URL,
                              "fsync": False}, environ={})
    with Archive(settings).open() as opened:
        yield opened


def _draft(archive_: Archive, rid: str, title: str) -> RecordDraft:
    b = RecordBuilder(archive_.minter, rid)
    b.add_literal(DC.title, title, "en")
    b.set_type("TEXT")
    b.set_rights("http://creativecommons.org/publicdomain/zero/1.0/")
    b.set_providers("Test museum")
    return RecordDraft(rid, b.graph, title.encode(), "text/plain")


def _prov(n: int) -> Provenance:
    return Provenance("test.txt", f"line {n}", "batch-1", "test", "1")


def _titles(archive_: Archive) -> dict[str, Any]:
    assert archive_.index is not None
    hits = archive_.index.backend.search(SearchQuery(size=50)).hits
    return {h.id: (h.source or {}).get("title_display") for h in hits}


def test_full_buffers_are_derived_in_a_thread(small_groups: Archive) -> None:
    """Every record ends in the store and the index, none pending; threads did the work."""
    names: list[str] = []
    entries = Archive._derive_entries

    def recorded(self: Archive, buffered: Any) -> int:
        names.append(threading.current_thread().name)
        return entries(self, buffered)

    small_groups._derive_entries = recorded.__get__(small_groups)  # type: ignore[method-assign]
    with small_groups.deferring():
        for n in range(7):
            small_groups.save_many([(_draft(small_groups, f"t-{n}", f"Title {n}"), _prov(n))])
    small_groups.flush()
    assert names.count("memoria-derive") == 3 and names[-1] == "MainThread"
    assert small_groups.state.pending_count() == 0
    assert set(small_groups.ids()) == {f"t-{n}" for n in range(7)}
    assert _titles(small_groups) == {f"t-{n}": f"Title {n}" for n in range(7)}


def test_a_record_saved_again_while_its_thread_runs_stays_pending(
        small_groups: Archive) -> None:
    """The thread indexing a's first version must not take a's second off the queue."""
    assert small_groups.index is not None
    backend = small_groups.index.backend
    index = backend.index
    entered, release = threading.Event(), threading.Event()

    def held(documents: Any, prepared: Any = None) -> int:
        entered.set()
        assert release.wait(30)
        return index(documents, prepared=prepared)  # type: ignore[call-arg]

    backend.index = held  # type: ignore[method-assign]
    with small_groups.deferring():
        small_groups.save_many([(_draft(small_groups, "a", "First"), _prov(1)),
                                (_draft(small_groups, "b", "Bee"), _prov(2))])
        assert entered.wait(30)  # the thread is indexing a and b
        small_groups.save_many([(_draft(small_groups, "a", "Second"), _prov(3))])
        release.set()
        small_groups._settle()
        # b is done; a's second version waits in the buffer, so a stays on the queue.
        assert small_groups.state.pending() == ["a"]
        assert _titles(small_groups) == {"a": "First", "b": "Bee"}
    small_groups.flush()
    assert small_groups.state.pending_count() == 0
    assert _titles(small_groups) == {"a": "Second", "b": "Bee"}


def test_an_error_in_the_thread_is_raised_and_leaves_records_pending(
        small_groups: Archive) -> None:
    """A failing RDF store update in the thread surfaces in the caller; nothing is lost."""
    def broken(graphs: Any) -> None:
        list(graphs)
        raise RuntimeError("store broke")

    small_groups.rdf.replace_graphs = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="store broke"), small_groups.deferring():
        small_groups.save_many([(_draft(small_groups, "x", "X"), _prov(1)),
                                (_draft(small_groups, "y", "Y"), _prov(2))])
    assert sorted(small_groups.state.pending()) == ["x", "y"]
    assert small_groups._deriver is None


def test_derive_groups_grow_with_the_batch_and_commit_once_each(small_groups: Archive) -> None:
    """A quarter of what the batch derived, from DERIVE_EVERY up to DERIVE_GROWTH times it;
    each group's documents go to the index in one commit, and the next batch starts small."""
    assert [archive.service.derive_group(n) for n in (0, 2, 8, 12, 20, 64, 1000)] == \
        [2, 2, 2, 3, 5, 16, 16]
    assert small_groups.index is not None
    sizes: list[int] = []
    commits: list[int] = []
    entries = Archive._derive_entries
    flush = small_groups.index.flush

    def recorded(self: Archive, buffered: Any) -> int:
        sizes.append(len(buffered))
        return entries(self, buffered)

    def counted() -> int:
        commits.append(len(small_groups.index._documents))  # type: ignore[union-attr]
        return flush()

    small_groups._derive_entries = recorded.__get__(small_groups)  # type: ignore[method-assign]
    small_groups.index.flush = counted  # type: ignore[method-assign]
    with small_groups.deferring():
        for n in range(60):
            small_groups.save_many([(_draft(small_groups, f"g-{n}", f"Title {n}"), _prov(n))])
    small_groups.flush()
    assert sizes[:6] == [2, 2, 2, 2, 2, 2] and max(sizes) > 2 and sum(sizes) == 60
    assert sizes[-2] == archive.service.derive_group(sum(sizes[:-2]))
    # A full group is committed at once, its documents together (the last, partial one by
    # the batch's flush).
    assert [c for c in commits if c][:len(sizes) - 1] == sizes[:-1]
    assert small_groups.state.pending_count() == 0
    assert len(_titles(small_groups)) == 50  # the search's page size; all 60 are indexed
    assert small_groups.index.backend.count() == 60
    with small_groups.deferring():
        small_groups.save_many([(_draft(small_groups, "h-0", "Another"), _prov(0))])
    assert small_groups._derive_every == 2
    assert small_groups.index.flush_every == 2


def _ready_draft(archive_: Archive, rid: str, title: str, parent: str | None = None
                 ) -> RecordDraft:
    """A draft as an ingest worker hands it on: with its N-Quads and document made ahead."""
    from archive.rdfio import stored_and_nquads
    from ingest.parallel import derived_copies

    b = RecordBuilder(archive_.minter, rid)
    b.add_literal(DC.title, title, "en")
    b.set_type("TEXT")
    b.set_rights("http://creativecommons.org/publicdomain/zero/1.0/")
    b.set_providers("Test museum")
    if parent is not None:
        b.set_parent(parent)
    draft = RecordDraft(rid, b.graph, title.encode(), "text/plain")
    stored, nquads = stored_and_nquads(b.graph, BASE_URL, archive_.minter.graph(rid))
    draft.stored = stored
    draft.derived = derived_copies(draft, stored, archive_.minter, nquads,
                                   archive_.takes_index_fields)
    return draft


@pytest.fixture
def loads_beside(small_groups: Archive, monkeypatch: pytest.MonkeyPatch) -> Archive:
    """Groups of four, each loading the store beside its indexing."""
    monkeypatch.setattr(archive.service, "DERIVE_EVERY", 4)
    monkeypatch.setattr(archive.service, "LOAD_BESIDE_INDEX_FROM", 2)
    small_groups._derive_every = 4
    return small_groups


def test_a_large_group_loads_the_store_beside_its_indexing(loads_beside: Archive) -> None:
    """The load runs in a thread of its own; records with a parent (here in the same group)
    are placed in their hierarchy after it; every record ends in the store and the index."""
    loaders: list[str] = []
    replace = loads_beside.rdf.replace_graphs

    def recorded(graphs: Any) -> None:
        loaders.append(threading.current_thread().name)
        replace(graphs)

    loads_beside.rdf.replace_graphs = recorded  # type: ignore[method-assign]
    with loads_beside.deferring():
        loads_beside.save_many([
            (_ready_draft(loads_beside, "t-fonds", "Fonds"), _prov(1)),
            (_ready_draft(loads_beside, "t-series", "Series", parent="t-fonds"), _prov(2)),
            (_ready_draft(loads_beside, "t-lone", "Lone"), _prov(3)),
            (_ready_draft(loads_beside, "t-file", "File", parent="t-series"), _prov(4)),
        ])
    loads_beside.flush()
    assert loaders == ["memoria-store-load"]
    assert loads_beside.state.pending_count() == 0
    assert set(loads_beside.ids()) == {"t-fonds", "t-series", "t-lone", "t-file"}
    assert loads_beside.index is not None
    hits = loads_beside.index.backend.search(SearchQuery(size=10)).hits
    placed = {h.id: (h.source or {}) for h in hits}
    assert placed["t-file"]["collection"] == "t-fonds"
    assert sorted(placed["t-file"]["ancestors"]) == ["t-fonds", "t-series"]
    assert placed["t-lone"]["collection"] == "t-lone" and not placed["t-lone"].get("ancestors")


def test_records_indexed_while_their_graphs_load_stay_pending_until_loaded(
        loads_beside: Archive) -> None:
    """The index may commit a group's documents before its store load ends; the records
    leave the queue only when the load is done too."""
    loading, release = threading.Event(), threading.Event()
    replace = loads_beside.rdf.replace_graphs
    committed: list[int] = []
    assert loads_beside.index is not None
    backend = loads_beside.index.backend
    index = backend.index

    def held(graphs: Any) -> None:
        loading.set()
        assert release.wait(30)
        replace(graphs)

    def counted(documents: Any, prepared: Any = None) -> int:
        committed.append(index(documents, prepared=prepared))  # type: ignore[call-arg]
        return committed[-1]

    loads_beside.rdf.replace_graphs = held  # type: ignore[method-assign]
    backend.index = counted  # type: ignore[method-assign]
    with loads_beside.deferring():
        loads_beside.save_many([(_ready_draft(loads_beside, f"r-{n}", f"R {n}"), _prov(n))
                                for n in range(4)])
        assert loading.wait(30)
        for _ in range(300):  # the documents are committed meanwhile
            if committed:
                break
            threading.Event().wait(0.1)
        assert committed == [4]
        assert sorted(loads_beside.state.pending()) == [f"r-{n}" for n in range(4)]
        release.set()
        loads_beside._settle()
        assert loads_beside.state.pending_count() == 0


def test_a_failed_load_beside_the_indexing_leaves_its_records_pending(
        loads_beside: Archive) -> None:
    """The load's error surfaces in the caller even though the documents were indexed."""
    def broken(graphs: Any) -> None:
        raise RuntimeError("store broke")

    loads_beside.rdf.replace_graphs = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="store broke"), loads_beside.deferring():
        loads_beside.save_many([(_ready_draft(loads_beside, f"f-{n}", f"F {n}"), _prov(n))
                                for n in range(4)])
    assert sorted(loads_beside.state.pending()) == [f"f-{n}" for n in range(4)]
    assert loads_beside._store_loading is None
