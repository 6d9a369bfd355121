"""The RDF store: new graphs through the bulk loader, existing graphs replaced whole."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox

from archive.rdfstore import RdfStore


def _graph(name: str, values: int) -> tuple[str, list[ox.Triple]]:
    subject, pred = ox.NamedNode(f"http://m.test/item/{name}"), ox.NamedNode("http://p.test/v")
    return (f"http://m.test/graph/{name}",
            [ox.Triple(subject, pred, ox.Literal(str(k))) for k in range(values)])


def _size(store: RdfStore, name: str) -> int:
    graph = ox.NamedNode(f"http://m.test/graph/{name}")
    return len(list(store.store.quads_for_pattern(None, None, None, graph)))


def test_groups_of_new_and_replaced_graphs(tmp_path: Path) -> None:
    store = RdfStore(tmp_path / "rdf")
    store.open()
    for batch in range(20):
        store.replace_graphs(_graph(f"r{batch}-{i}", 30) for i in range(40))
        assert _size(store, f"r{batch}-7") == 30  # visible as soon as the call returns
    # A group mixing a graph the store holds (replaced whole) and a new one.
    store.replace_graphs([_graph("r0-0", 2), _graph("fresh", 5), _graph("r0-0", 3)])
    assert (_size(store, "r0-0"), _size(store, "fresh")) == (3, 5)
    store.close()
    store.open()
    assert len(store.graph_names()) == 20 * 40 + 1
    assert len(store.store) == 20 * 40 * 30 - 30 + 3 + 5
    store.close()
