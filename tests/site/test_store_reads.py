"""Values read from the RDF store, kept per store version: a write is never served stale."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox

from archive.rdfstore import RdfStore
from archive.views import StoreReads

TITLE = ox.NamedNode("http://purl.org/dc/elements/1.1/title")
ITEM = ox.NamedNode("http://example.org/item/a")
GRAPH = "http://example.org/graph/a"


def _title(rdf: RdfStore) -> list[str]:
    return [q.object.value for q in rdf.store.quads_for_pattern(ITEM, TITLE, None, None)]


def test_kept_until_the_store_changes(tmp_path: Path) -> None:
    """The second read is the kept one; after a write the store is read again."""
    rdf = RdfStore(tmp_path / "rdf")
    rdf.open()
    try:
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
    finally:
        rdf.close()


def test_bounded_oldest_out(tmp_path: Path) -> None:
    """At most `limit` values per store; the oldest goes first."""
    rdf = RdfStore(tmp_path / "rdf")
    rdf.open()
    try:
        reads = StoreReads(limit=3)
        made: list[int] = []
        for key in range(5):
            reads.get(rdf, key, lambda key=key: made.append(key) or key)
        assert reads.get(rdf, 4, lambda: -1) == 4 and reads.get(rdf, 2, lambda: -1) == 2
        assert reads.get(rdf, 0, lambda: -1) == -1  # evicted, made again
        assert made == [0, 1, 2, 3, 4]
    finally:
        rdf.close()
