"""How a record's RDF is written to storage and read back, independent of the public base URL.

A record is stored as Turtle made of sorted N-Triples statements in which IRIs under the
instance's base URL are written relative (`<item/gz-1>`). The file is plain Turtle that any RDF
tool reads against a base of its choosing, it diffs line by line between versions, and moving an
instance to a new public URL needs only `memoria rebuild`, not a rewrite of the truth.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pyoxigraph as ox
from rdflib import Graph
from rdflib.term import Node

from archive.recordgraph import RecordGraph, Triples, from_ox, to_ox

STORED_HEADER = (
    "# Memoria record. Turtle; IRIs relative to the instance's public base URL.\n"
)


def to_ox_term(node: Node) -> ox.NamedNode | ox.BlankNode | ox.Literal:
    """Convert an rdflib term to a pyoxigraph term."""
    return to_ox(node)


def from_ox_term(term: object) -> Node:
    """Convert a pyoxigraph term to an rdflib term."""
    return from_ox(term)


def graph_to_ox(graph: Graph) -> Iterator[ox.Triple]:
    """The triples of an rdflib graph as pyoxigraph triples."""
    converted: dict[Node, ox.NamedNode | ox.BlankNode | ox.Literal] = {}

    def term(node: Node) -> ox.NamedNode | ox.BlankNode | ox.Literal:
        out = converted.get(node)
        if out is None:
            out = converted[node] = to_ox_term(node)
        return out

    for s, p, o in graph:
        yield ox.Triple(term(s), term(p), term(o))  # type: ignore[arg-type]


def ox_to_graph(triples: Iterable[ox.Triple | ox.Quad], graph: Graph | None = None) -> Graph:
    """Collect pyoxigraph triples (or quads, graph dropped) into an rdflib graph."""
    graph = Graph(bind_namespaces="none") if graph is None else graph
    # Terms repeat (every predicate, most subjects): convert each once. Graph.add only
    # type-checks before handing the triple to the store, and these terms are ours.
    converted: dict[object, Node] = {}

    def term(value: object) -> Node:
        node = converted.get(value)
        if node is None:
            node = converted[value] = from_ox_term(value)
        return node

    add = graph.store.add
    for t in triples:
        add((term(t.subject), term(t.predicate), term(t.object)), graph, quoted=False)
    return graph


def _relative(term: object, base: str) -> str:
    text = str(term)
    if isinstance(term, ox.NamedNode) and term.value.startswith(base):
        return f"<{term.value[len(base):]}>"
    return text


Statements = Iterable[tuple[object, object, object]]


def _statements(graph: RecordGraph | Graph | Iterable[ox.Triple]) -> Statements:
    # A RecordGraph's own tuples: making an ox.Triple costs ~4 us, a tenth of a record's
    # serialisation.
    if isinstance(graph, RecordGraph):
        return graph.statements()
    if isinstance(graph, Triples):
        return graph.graph.statements()
    triples = graph_to_ox(graph) if isinstance(graph, Graph) else graph
    return ((t.subject, t.predicate, t.object) for t in triples)


def _indexed(graph: object) -> RecordGraph | None:
    """The RecordGraph behind a graph or its ox_triples() view, if that is what it is."""
    if isinstance(graph, RecordGraph):
        return graph
    if isinstance(graph, Triples):
        return graph.graph
    return None


def serialize_stored(graph: RecordGraph | Graph | Iterable[ox.Triple], base_url: str) -> bytes:
    """Serialise a record graph (RecordGraph, rdflib, or pyoxigraph triples) for storage.

    Sorted statements, base-relative IRIs.
    """
    base = base_url.rstrip("/") + "/"
    written: dict[object, str] = {}

    def text(term: object) -> str:
        out = written.get(term)
        if out is None:
            out = written[term] = _relative(term, base)
        return out

    indexed = _indexed(graph)
    if indexed is None:
        lines = sorted(f"{text(s)} {text(p)} {text(o)} ." for s, p, o in _statements(graph))
    else:
        # Subject and predicate written once for all their objects; a literal (seldom
        # repeated) written without the cache.
        lines = []
        add = lines.append
        for s, by_pred in indexed.by_subject():
            subject = text(s)
            for p, objects in by_pred.items():
                head = f"{subject} {text(p)} "
                for o in objects:
                    add(f"{head}{o} ." if isinstance(o, ox.Literal) else f"{head}{text(o)} .")
        lines.sort()
    return (STORED_HEADER + "\n".join(lines) + "\n").encode("utf-8")


def stored_and_nquads(graph: RecordGraph, base_url: str, graph_name: str
                      ) -> tuple[bytes, bytes | None]:
    """serialize_stored() and to_nquads() of a RecordGraph, the same bytes, in one walk.

    Each term is written once for both: its N-Triples text, and for an IRI under the base
    its relative form.
    """
    base = base_url.rstrip("/") + "/"
    cut = len(base)
    tail = f" <{graph_name}> .\n"
    # Predicates repeat record after record: their two forms are kept per base URL.
    predicates = _PREDICATES.get(base)
    if predicates is None:
        predicates = _PREDICATES[base] = {}
    written: dict[object, tuple[str, str]] = {}
    stored: list[str] = []
    quads: list[str] | None = []
    literal = ox.Literal
    for s, by_pred in graph.by_subject():
        pair = written.get(s)
        if pair is None:
            pair = written[s] = _both(s, base, cut)
        subject, rel_subject = pair
        if quads is not None and type(s) is ox.BlankNode:
            quads = None
        for p, objects in by_pred.items():
            pair = predicates.get(p)
            if pair is None:
                pair = _both(p, base, cut)
                if len(predicates) < 1000:
                    predicates[p] = pair
            head = f"{subject} {pair[0]} "
            rel_head = f"{rel_subject} {pair[1]} "
            for o in objects:
                if type(o) is literal:
                    text = rel = str(o)
                else:
                    pair = written.get(o)
                    if pair is None:
                        pair = written[o] = _both(o, base, cut)
                    text, rel = pair
                    if quads is not None and type(o) is ox.BlankNode:
                        quads = None
                stored.append(f"{rel_head}{rel} .")
                if quads is not None:
                    quads.append(f"{head}{text}{tail}")
    stored.sort()
    return ((STORED_HEADER + "\n".join(stored) + "\n").encode("utf-8"),
            None if quads is None else "".join(quads).encode("utf-8"))


_PREDICATES: dict[str, dict[object, tuple[str, str]]] = {}


def _both(term: object, base: str, cut: int) -> tuple[str, str]:
    text = str(term)
    if isinstance(term, ox.NamedNode):
        value = term.value
        if value.startswith(base):
            return text, f"<{value[cut:]}>"
    return text, text


def to_nquads(triples: RecordGraph | Iterable[ox.Triple], graph_name: str) -> bytes | None:
    """The statements as N-Quads in one named graph; None if any term is a blank node.

    The RDF store's bulk loader parses these in Rust (no Python term per statement). Blank
    node labels would be shared by every graph of one load, so such records go the slow way.
    A RecordGraph is read without making an ox.Triple per statement.
    """
    graph = f"<{graph_name}>"
    indexed = _indexed(triples)
    if indexed is not None:
        return _indexed_nquads(indexed, graph)
    written: dict[object, str] = {}
    lines: list[str] = []
    for s, p, o in _statements(triples):
        if isinstance(s, ox.BlankNode) or isinstance(o, ox.BlankNode):
            return None
        ps = written.get(p)
        if ps is None:
            ps = written[p] = str(p)
        ss = written.get(s)
        if ss is None:
            ss = written[s] = str(s)
        lines.append(f"{ss} {ps} {o} {graph} .\n")
    return "".join(lines).encode("utf-8")


def _indexed_nquads(indexed: RecordGraph, graph: str) -> bytes | None:
    # Subject and predicate written once for all their objects.
    tail = f" {graph} .\n"
    lines: list[str] = []
    add = lines.append
    for s, by_pred in indexed.by_subject():
        if isinstance(s, ox.BlankNode):
            return None
        subject = f"{s} "
        for p, objects in by_pred.items():
            head = f"{subject}{p} "
            for o in objects:
                if isinstance(o, ox.BlankNode):
                    return None
                add(f"{head}{o}{tail}")
    return "".join(lines).encode("utf-8")


def parse_stored(data: bytes, base_url: str) -> list[ox.Triple]:
    """Parse a stored record against this instance's base URL."""
    return [
        t.triple if isinstance(t, ox.Quad) else t
        for t in ox.parse(data, format=ox.RdfFormat.TURTLE, base_iri=base_url.rstrip("/") + "/")
    ]


def parse_stored_graph(data: bytes, base_url: str) -> Graph:
    """Parse a stored record into an rdflib graph."""
    return ox_to_graph(parse_stored(data, base_url))


class StoredGraph(RecordGraph):
    """A RecordGraph of record.ttl bytes, parsed only when first used.

    The ingest parent gets records from its workers as bytes and rarely needs their graph.
    """

    __slots__ = ("_source",)

    def __init__(self, stored: bytes, base_url: str) -> None:
        self._source = (stored, base_url)

    def __getattr__(self, name: str) -> Any:
        # Called only while a slot of RecordGraph is still unset: fill them all from the bytes.
        if name in ("_index", "_rdflib"):
            stored, base_url = self._source
            RecordGraph.__init__(self, parse_stored(stored, base_url))
            return getattr(self, name)
        raise AttributeError(name)
