"""One record's statements as pyoxigraph terms, indexed by subject: the ingest's light graph.

Building a record as an rdflib Graph cost ~5 ms a record (term validation, literal casting,
the memory store's hashing). This holds the same statements as pyoxigraph terms, which are
built and hashed in Rust, serialise to the very N-Triples the storage keeps, and go straight
into the RDF store. For code written against rdflib (the search document, SHACL in tests) it
also answers the read and write calls of rdflib's Graph that records need, in rdflib terms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeAlias

import pyoxigraph as ox
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.term import Node

OxTerm: TypeAlias = ox.NamedNode | ox.BlankNode | ox.Literal
OxSubject: TypeAlias = ox.NamedNode | ox.BlankNode
Pattern: TypeAlias = tuple[Node | None, Node | None, Node | None]

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
XSD_INTEGER = "http://www.w3.org/2001/XMLSchema#integer"
_CANONICAL_INTEGER = re.compile(r"-?[1-9][0-9]*|0")

# IRIs asked for again and again (properties, classes, the record's own nodes): converted once.
_NAMED: dict[str, ox.NamedNode] = {}


def to_ox(node: Node) -> OxTerm:
    """Convert an rdflib term to a pyoxigraph term."""
    if isinstance(node, URIRef):
        named = _NAMED.get(node)
        if named is None:
            named = ox.NamedNode(str(node))
            if len(_NAMED) < 10_000:
                _NAMED[node] = named
        return named
    if isinstance(node, BNode):
        return ox.BlankNode(str(node))
    if isinstance(node, Literal):
        if node.language:
            return ox.Literal(str(node), language=node.language)
        if node.datatype:
            return ox.Literal(str(node), datatype=ox.NamedNode(str(node.datatype)))
        return ox.Literal(str(node))
    raise TypeError(f"cannot store RDF term {node!r}")


def _string_literal(text: str, lang: str | None) -> Literal:
    # What Literal(text, lang=lang) makes, without its ~6 us of casting and checks: pyoxigraph
    # has checked the tag, and a plain or language-tagged string's value is its text.
    literal = str.__new__(Literal, text)
    literal._language = lang
    literal._datatype = None
    literal._value = text
    literal._ill_typed = None
    return literal


_XSD_INTEGER_REF = URIRef(XSD_INTEGER)


def _integer_literal(text: str) -> Literal:
    # What Literal(text, datatype=XSD.integer) makes of a canonical integer (years, orders,
    # pixel sizes), without its ~25 us of casting and normalising.
    literal = str.__new__(Literal, text)
    literal._language = None
    literal._datatype = _XSD_INTEGER_REF
    literal._value = int(text)
    literal._ill_typed = False
    return literal


def from_ox(term: object) -> Node:
    """Convert a pyoxigraph term to an rdflib term."""
    if isinstance(term, ox.NamedNode):
        # pyoxigraph has checked the IRI already (more strictly than rdflib would).
        return str.__new__(URIRef, term.value)
    if isinstance(term, ox.Literal):
        if term.language:
            return _string_literal(term.value, term.language)
        datatype = term.datatype.value
        if datatype == XSD_STRING:
            return _string_literal(term.value, None)
        if datatype == XSD_INTEGER and _CANONICAL_INTEGER.fullmatch(term.value):
            return _integer_literal(term.value)
        return Literal(term.value, datatype=URIRef(datatype))
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    raise TypeError(f"unexpected RDF term {term!r}")


class Triples:
    """A graph's statements as ox.Triples, made one by one as they are iterated.

    The serialisers in archive.rdfio recognise it and read the graph's own tuples instead,
    so `to_nquads(graph.ox_triples(), ...)` costs no ox.Triple per statement.
    """

    __slots__ = ("graph",)

    def __init__(self, graph: RecordGraph) -> None:
        self.graph = graph

    def __iter__(self) -> Iterator[ox.Triple]:
        for s, p, o in self.graph.statements():
            yield ox.Triple(s, p, o)


class RecordGraph:
    """A set of triples in pyoxigraph terms, indexed subject -> predicate -> objects."""

    __slots__ = ("_index", "_rdflib")

    def __init__(self, triples: Iterable[ox.Triple] = ()) -> None:
        self._index: dict[OxSubject, dict[ox.NamedNode, list[OxTerm]]] = {}
        # rdflib views of terms already converted for the rdflib-style calls.
        self._rdflib: dict[object, Node] = {}
        for t in triples:
            self.add_ox(t.subject, t.predicate, t.object)  # type: ignore[arg-type]

    # -- the fast calls, in pyoxigraph terms ---------------------------------------------------

    def add_ox(self, s: OxSubject, p: ox.NamedNode, o: OxTerm) -> None:
        """Add a statement (a set: a repeated statement is kept once)."""
        # Looked up, not setdefault: no empty dict and list made for every statement.
        by_pred = self._index.get(s)
        if by_pred is None:
            self._index[s] = {p: [o]}
            return
        values = by_pred.get(p)
        if values is None:
            by_pred[p] = [o]
        elif o not in values:
            values.append(o)

    def set_ox(self, s: OxSubject, p: ox.NamedNode, o: OxTerm) -> None:
        """Make o the one value of p on s."""
        self._index.setdefault(s, {})[p] = [o]

    def values(self, s: OxSubject, p: ox.NamedNode) -> list[OxTerm]:
        """The objects of s p, in the order they were added."""
        by_pred = self._index.get(s)
        return list(by_pred.get(p, ())) if by_pred else []

    def view(self, s: OxTerm, p: ox.NamedNode) -> Sequence[OxTerm]:
        """The objects of s p in the order they were added, not copied: read, never change."""
        by_pred = self._index.get(s)  # type: ignore[arg-type]
        return by_pred.get(p, ()) if by_pred else ()

    def has(self, s: OxSubject, p: ox.NamedNode, o: OxTerm) -> bool:
        """Tell whether the statement is in the graph."""
        by_pred = self._index.get(s)
        return by_pred is not None and o in by_pred.get(p, ())

    def subjects_with(self, p: ox.NamedNode, o: OxTerm) -> list[OxSubject]:
        """Every subject that has o as a value of p."""
        return [s for s, by_pred in self._index.items() if o in by_pred.get(p, ())]

    def statements(self) -> Iterator[tuple[OxSubject, ox.NamedNode, OxTerm]]:
        """Every statement as a (subject, predicate, object) tuple: no ox.Triple (~4 us each)."""
        for s, by_pred in self._index.items():
            for p, objects in by_pred.items():
                for o in objects:
                    yield s, p, o

    def by_subject(self) -> Iterable[tuple[OxSubject, dict[ox.NamedNode, list[OxTerm]]]]:
        """Each subject with its predicates' objects (the index itself: read, never change)."""
        return self._index.items()

    def subjects_and_types(self, p: ox.NamedNode) -> Iterator[tuple[OxSubject, list[OxTerm]]]:
        """Every subject with its values of p (its classes, for rdf:type), when it has any."""
        for s, by_pred in self._index.items():
            values = by_pred.get(p)
            if values:
                yield s, values

    def ox_triples(self) -> Triples:
        """Every statement as a pyoxigraph triple (made as the caller iterates)."""
        return Triples(self)

    def __len__(self) -> int:
        return sum(len(objs) for by_pred in self._index.values() for objs in by_pred.values())

    # -- rdflib-style calls (rdflib terms in and out) --------------------------------------------

    def _node(self, term: object) -> Node:
        node = self._rdflib.get(term)
        if node is None:
            node = self._rdflib[term] = from_ox(term)
        return node

    def _match(self, pattern: Pattern) -> Iterator[tuple[OxSubject, ox.NamedNode, OxTerm]]:
        s, p, o = (None if n is None else to_ox(n) for n in pattern)
        subjects = [s] if s is not None else list(self._index)
        for subject in subjects:
            by_pred = self._index.get(subject)  # type: ignore[arg-type]
            if not by_pred:
                continue
            preds = [p] if p is not None else list(by_pred)
            for pred in preds:
                for obj in by_pred.get(pred, ()):  # type: ignore[arg-type]
                    if o is None or obj == o:
                        yield subject, pred, obj  # type: ignore[misc]

    def triples(self, pattern: Pattern) -> Iterator[tuple[Node, Node, Node]]:
        """Statements matching a pattern (None matches anything), as rdflib terms."""
        for s, p, o in self._match(pattern):
            yield self._node(s), self._node(p), self._node(o)

    def objects(self, subject: Node | None = None,
                predicate: Node | None = None) -> Iterator[Node]:
        """Objects of statements matching subject and predicate."""
        if subject is not None and predicate is not None:
            # The common call (the search document makes ~60 a record): two dict lookups.
            by_pred = self._index.get(to_ox(subject))  # type: ignore[arg-type]
            found = by_pred.get(to_ox(predicate)) if by_pred else None  # type: ignore[arg-type]
            return iter([self._node(o) for o in found] if found else ())
        return (self._node(o) for _, _, o in self._match((subject, predicate, None)))

    def subjects(self, predicate: Node | None = None,
                 obj: Node | None = None) -> Iterator[Node]:
        """Subjects of statements matching predicate and object (each once)."""
        seen: set[OxSubject] = set()
        for s, _, _ in self._match((None, predicate, obj)):
            if s not in seen:
                seen.add(s)
                yield self._node(s)

    def value(self, subject: Node | None = None, predicate: Node | None = None) -> Node | None:
        """One object of subject predicate, or None."""
        return next(self.objects(subject, predicate), None)

    def add(self, triple: tuple[Node, Node, Node]) -> None:
        """Add a statement given in rdflib terms."""
        s, p, o = (to_ox(n) for n in triple)
        self.add_ox(s, p, o)  # type: ignore[arg-type]

    def set(self, triple: tuple[Node, Node, Node]) -> None:
        """Replace every value of subject predicate by the one given (rdflib terms)."""
        s, p, o = (to_ox(n) for n in triple)
        self.set_ox(s, p, o)  # type: ignore[arg-type]

    def remove(self, pattern: Pattern) -> None:
        """Remove the statements matching a pattern (rdflib terms, None matches anything)."""
        for s, p, o in list(self._match(pattern)):
            objects = self._index[s][p]
            objects.remove(o)
            if not objects:
                del self._index[s][p]

    def __contains__(self, pattern: Pattern) -> bool:
        return next(self._match(pattern), None) is not None

    def __iter__(self) -> Iterator[tuple[Node, Node, Node]]:
        return self.triples((None, None, None))

    def to_rdflib(self) -> Graph:
        """The statements as an rdflib Graph (for tools written against rdflib)."""
        graph = Graph(bind_namespaces="none")
        for triple in self:
            graph.add(triple)
        return graph
