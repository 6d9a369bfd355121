"""Values read from the RDF store, kept per store version: a write is never served stale."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyoxigraph as ox
import pytest

from archive.rdfstore import RdfStore
from archive.views import StoreReads

TITLE = ox.NamedNode("http://purl.org/dc/elements/1.1/title")
ITEM = ox.NamedNode("http://example.org/item/a")
GRAPH = "http://example.org/graph/a"


def _title(rdf: RdfStore) -> list[str]:
    return [q.object.value for q in rdf.store.quads_for_pattern(ITEM, TITLE, None, None)]


@pytest.fixture
def rdf(tmp_path: Path) -> Iterator[RdfStore]:
    """An open RDF store on disk, closed after the test."""
    store = RdfStore(tmp_path / "rdf")
    store.open()
    try:
        yield store
    finally:
        store.close()


def test_kept_until_the_store_changes(rdf: RdfStore) -> None:
    """The second read is the kept one; after a write the store is read again."""
    reads = StoreReads(limit=10)
    calls: list[int] = []

    def read() -> list[str]:
        calls.append(1)
        return _title(rdf)

    rdf.replace_graph(GRAPH, [ox.Triple(ITEM, TITLE, ox.Literal("First"))])
    assert reads.get(rdf, "a", read) == ["First"]
    assert reads.get(rdf, "a", read) == ["First"] and len(calls) == 1
    rdf.replace_graph(GRAPH, [ox.Triple(ITEM, TITLE, ox.Literal("Corrected"))])
    assert reads.get(rdf, "a", read) == ["Corrected"] and len(calls) == 2
    reads.clear()
    assert reads.get(rdf, "a", read) == ["Corrected"] and len(calls) == 3


def test_bounded_oldest_out(rdf: RdfStore) -> None:
    """At most `limit` values per store; the oldest goes first."""
    reads = StoreReads(limit=3)
    made: list[int] = []
    for key in range(5):
        reads.get(rdf, key, lambda key=key: made.append(key) or key)
    assert reads.get(rdf, 4, lambda: -1) == 4 and reads.get(rdf, 2, lambda: -1) == 2
    assert reads.get(rdf, 0, lambda: -1) == -1  # evicted, made again
    assert made == [0, 1, 2, 3, 4]
