"""The record model: one EDM record (ProvidedCHO, Aggregation, WebResources) as a graph."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyoxigraph as ox
from rdflib import Graph, URIRef
from rdflib.term import Node

from archive.dates import parse_years
from archive.ids import Minter, is_image_id
from archive.recordgraph import OxSubject, RecordGraph, from_ox
from archive.vocab import (
    DC,
    DCTERMS,
    DOAP,
    EBUCORE,
    EDM,
    EDM_TYPES,
    MEM,
    ORE,
    OWL,
    RDF,
    SKOS,
    SVCS,
    WGS84,
    XSD,
)

IIIF_IMAGE_CONTEXT = URIRef("http://iiif.io/api/image")
IIIF_LEVEL2 = URIRef("http://iiif.io/api/image/3/level2.json")
_LANG_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
# Language tags already checked against _LANG_TAG (records repeat the same few).
_GOOD_TAGS: set[str] = set()


@dataclass
class ImageFile:
    """An original image file that belongs to a record, kept in storage under `files/`."""

    image_id: str
    source: Path
    name: str
    media_type: str
    width: int
    height: int
    # "algorithm:hex" of the file once something has read it (the pyramid build, at ingest).
    digest: str | None = None


@dataclass
class RecordDraft:
    """A record on its way in: its graph, originals, source metadata and mapping warnings."""

    record_id: str
    # The builder's RecordGraph; an rdflib Graph is accepted too (converted when stored).
    graph: RecordGraph | Graph
    source_bytes: bytes
    source_media_type: str
    images: list[ImageFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # record.ttl as serialised for this instance, when a worker process made it already.
    stored: bytes | None = None
    # The derived copies a worker process made along with `stored` (see DerivedCopies).
    derived: DerivedCopies | None = None


@dataclass(frozen=True)
class DerivedCopies:
    """What the RDF store and the index need of a record, made where the record was mapped.

    `document` is the search document made without the hierarchy (the parent sets its
    ancestors and collection), `nquads` the record's statements in its named graph as
    N-Quads (None when the record has blank nodes, which must not meet across records in
    a bulk load), and `parents` the values of the record's dcterms:isPartOf. `fields`: the
    search backend's own form of the document (Tantivy's index_fields), when asked for.
    """

    document: dict[str, Any]
    nquads: bytes | None
    parents: tuple[str, ...]
    fields: dict[str, Any] | None = None


_IRIS: dict[str, ox.NamedNode] = {}


def iri(uri: str) -> ox.NamedNode:
    """A pyoxigraph IRI, made once per distinct string (properties and classes repeat)."""
    key = str(uri)
    node = _IRIS.get(key)
    if node is None:
        node = ox.NamedNode(key)
        if len(_IRIS) < 10_000:
            _IRIS[key] = node
    return node


_TYPE = iri(RDF.type)
_INTEGER = iri(XSD.integer)
_DECIMAL = iri(XSD.decimal)
_PREF_LABEL = iri(SKOS.prefLabel)
_AGENT = iri(EDM.Agent)
_CONCEPT = iri(SKOS.Concept)
_PLACE = iri(EDM.Place)
_TIMESPAN = iri(EDM.TimeSpan)


def _ref(text: str) -> URIRef:
    # A URIRef of an IRI pyoxigraph has accepted already (more strictly than rdflib's ~3 us
    # check would).
    return str.__new__(URIRef, text)


def _integer(value: int) -> ox.Literal:
    return ox.Literal(str(value), datatype=_INTEGER)


class RecordBuilder:
    """Builds the EDM graph of one record; every method adds triples in the house shape.

    The graph is a RecordGraph of pyoxigraph terms (see archive.recordgraph); methods take
    rdflib terms (the vocabularies in archive.vocab) and return them, as before.
    """

    def __init__(self, minter: Minter, record_id: str) -> None:
        self.minter = minter
        self.record_id = record_id
        self.graph = RecordGraph()
        # pyoxigraph checks the IRIs (raising ValueError as rdflib would not); the URIRefs
        # are then made without rdflib's own check (~3 us each).
        item, aggregation = minter.item(record_id), minter.aggregation(record_id)
        self._cho = ox.NamedNode(item)
        self._agg = ox.NamedNode(aggregation)
        self.cho = _ref(item)
        self.aggregation = _ref(aggregation)
        self.warnings: list[str] = []
        self._counters: dict[str, int] = {}
        self._views = 0
        add = self.graph.add_ox
        add(self._cho, _TYPE, iri(EDM.ProvidedCHO))
        add(self._agg, _TYPE, iri(ORE.Aggregation))
        add(self._agg, iri(EDM.aggregatedCHO), self._cho)

    def _entity(self, kind: str) -> str:
        n = self._counters.get(kind, 0) + 1
        self._counters[kind] = n
        return self.minter.entity(self.record_id, kind, n)

    @staticmethod
    def _literal(text: str, lang: str | None) -> ox.Literal:
        if lang:
            if lang not in _GOOD_TAGS:
                if not _LANG_TAG.fullmatch(lang):
                    raise ValueError(f"invalid language tag {lang!r}")
                if len(_GOOD_TAGS) < 1000:
                    _GOOD_TAGS.add(lang)
            return ox.Literal(text, language=lang)
        return ox.Literal(text)

    def _add(self, s: OxSubject, p: str, o: ox.NamedNode | ox.Literal) -> None:
        self.graph.add_ox(s, iri(p), o)

    def _node(self, uri: str | None, kind: str) -> tuple[URIRef, ox.NamedNode]:
        text = uri if uri else self._entity(kind)
        node = ox.NamedNode(text)
        return _ref(text), node

    def add_literal(self, prop: URIRef, text: str, lang: str | None = None) -> None:
        """Add a descriptive literal (title, description, identifier...) to the CHO."""
        text = text.strip()
        if text:
            self._add(self._cho, prop, self._literal(text, lang))

    def add_agent(self, prop: URIRef, name: str, lang: str | None = None,
                  uri: str | None = None) -> URIRef:
        """Add an edm:Agent (creator, contributor, publisher) by name, or by authority URI."""
        agent, node = self._node(uri, "agent")
        add = self.graph.add_ox
        add(node, _TYPE, _AGENT)
        add(node, _PREF_LABEL, self._literal(name.strip(), lang))
        add(self._cho, iri(prop), node)
        return agent

    def add_concept(self, label: str, lang: str | None = None, uri: str | None = None,
                    prop: URIRef = DC.subject) -> URIRef:
        """Add a skos:Concept (subject, genre) by label, or by authority URI."""
        concept, node = self._node(uri, "concept")
        add = self.graph.add_ox
        add(node, _TYPE, _CONCEPT)
        add(node, _PREF_LABEL, self._literal(label.strip(), lang))
        add(self._cho, iri(prop), node)
        return concept

    def add_place(self, name: str, lat: float | None = None, long: float | None = None,
                  lang: str | None = None, uri: str | None = None,
                  prop: URIRef = DCTERMS.spatial) -> URIRef:
        """Add an edm:Place with WGS84 coordinates when the source has them."""
        place, node = self._node(uri, "place")
        self.graph.add_ox(node, _TYPE, _PLACE)
        if name.strip():
            self.graph.add_ox(node, _PREF_LABEL, self._literal(name.strip(), lang))
        if lat is not None and long is not None:
            if not (-90.0 <= lat <= 90.0 and -180.0 <= long <= 180.0):
                raise ValueError(f"coordinates out of range: {lat}, {long}")
            # The canonical xsd:decimal form (what rdflib wrote before): no trailing zeros.
            self._add(node, WGS84.lat, ox.Literal(f"{lat:.6f}".rstrip("0").rstrip("."),
                                                  datatype=_DECIMAL))
            self._add(node, WGS84.long, ox.Literal(f"{long:.6f}".rstrip("0").rstrip("."),
                                                   datatype=_DECIMAL))
        self._add(self._cho, prop, node)
        return place

    def add_date(self, text: str, prop: URIRef = DCTERMS.created) -> URIRef | None:
        """Add a date as an edm:TimeSpan with begin/end years; warn when it cannot be read."""
        text = text.strip()
        if not text:
            return None
        span = parse_years(text)
        timespan, node = self._node(None, "timespan")
        self.graph.add_ox(node, _TYPE, _TIMESPAN)
        self.graph.add_ox(node, _PREF_LABEL, ox.Literal(text))
        if span is None:
            self.warnings.append(f"date {text!r} could not be read as years; kept as text")
        else:
            self._add(node, EDM.begin, ox.Literal(str(span.begin)))
            self._add(node, EDM.end, ox.Literal(str(span.end)))
            self._add(node, MEM.beginYear, _integer(span.begin))
            self._add(node, MEM.endYear, _integer(span.end))
        self._add(self._cho, prop, node)
        return timespan

    def _set(self, s: ox.NamedNode, p: str, o: ox.NamedNode | ox.Literal) -> None:
        self.graph.set_ox(s, iri(p), o)

    def set_type(self, edm_type: str) -> None:
        """Set edm:type (TEXT, IMAGE, SOUND, VIDEO, 3D)."""
        value = edm_type.strip().upper()
        if value not in EDM_TYPES:
            raise ValueError(f"edm:type {edm_type!r} is not one of {sorted(EDM_TYPES)}")
        self._set(self._cho, EDM.type, ox.Literal(value))

    def set_rights(self, uri: str) -> None:
        """Set edm:rights on the aggregation (a RightsStatements.org or Creative Commons URI)."""
        self._set(self._agg, EDM.rights, ox.NamedNode(uri.strip()))

    def set_providers(self, data_provider: str, provider: str | None = None) -> None:
        """Set edm:dataProvider and edm:provider on the aggregation."""
        self._set(self._agg, EDM.dataProvider, ox.Literal(data_provider))
        self._set(self._agg, EDM.provider, ox.Literal(provider or data_provider))

    def set_parent(self, parent_record_id: str, order: int | None = None) -> None:
        """Place the record in the archival hierarchy under its parent, at a position."""
        self._set(self._cho, DCTERMS.isPartOf, ox.NamedNode(self.minter.item(parent_record_id)))
        if order is not None:
            self.set_order(order)

    def set_order(self, order: int) -> None:
        """Set the record's position among its siblings."""
        self._set(self._cho, MEM.order, _integer(int(order)))

    def set_level(self, level: str) -> None:
        """Set the archival level (fonds, series, file, item...)."""
        self._set(self._cho, MEM.level, ox.Literal(level.strip().lower()))

    def add_image(self, image: ImageFile) -> URIRef:
        """Add an image as edm:WebResource with its IIIF service; the first is edm:isShownBy."""
        if not is_image_id(image.image_id):
            raise ValueError(f"image id {image.image_id!r} is not usable")
        resource, node = self._node(self.minter.image(image.image_id), "")
        service = ox.NamedNode(self.minter.image_service(image.image_id))
        add = self._add
        self._views += 1
        add(node, RDF.type, iri(EDM.WebResource))
        add(node, MEM.imageId, ox.Literal(image.image_id))
        add(node, MEM.file, ox.Literal(f"files/{image.name}"))
        add(node, MEM.order, _integer(self._views))
        add(node, EBUCORE.hasMimeType, ox.Literal(image.media_type))
        add(node, EBUCORE.width, _integer(image.width))
        add(node, EBUCORE.height, _integer(image.height))
        add(node, SVCS.has_service, service)
        add(service, RDF.type, iri(SVCS.Service))
        add(service, DCTERMS.conformsTo, iri(IIIF_IMAGE_CONTEXT))
        add(service, DOAP.implements, iri(IIIF_LEVEL2))
        link = EDM.isShownBy if self._views == 1 else EDM.hasView
        add(self._agg, link, node)
        return resource

    def add_remote_image(self, url: str, service: str | None = None, width: int | None = None,
                         height: int | None = None, media_type: str | None = None) -> URIRef:
        """Add an image kept elsewhere (a remote file or IIIF Image service) as edm:WebResource."""
        resource, node = self._node(url, "")
        add = self._add
        self._views += 1
        add(node, RDF.type, iri(EDM.WebResource))
        add(node, MEM.order, _integer(self._views))
        if media_type:
            add(node, EBUCORE.hasMimeType, ox.Literal(media_type))
        if width and height and width > 0 and height > 0:
            add(node, EBUCORE.width, _integer(int(width)))
            add(node, EBUCORE.height, _integer(int(height)))
        if service:
            svc = ox.NamedNode(service)
            add(node, SVCS.has_service, svc)
            add(svc, RDF.type, iri(SVCS.Service))
            add(svc, DCTERMS.conformsTo, iri(IIIF_IMAGE_CONTEXT))
        link = EDM.isShownBy if self._views == 1 else EDM.hasView
        add(self._agg, link, node)
        return resource

    def add_same_as(self, uri: str) -> None:
        """Link the CHO to the same thing described elsewhere (owl:sameAs), e.g. its source URI."""
        self._add(self._cho, OWL.sameAs, ox.NamedNode(uri))

    def set_shown_at(self, url: str) -> None:
        """Set edm:isShownAt: the object in its full context on the provider's web site."""
        self._set(self._agg, EDM.isShownAt, ox.NamedNode(url))

    def objects(self, prop: URIRef) -> list[Node]:
        """The CHO's values for a property."""
        return [from_ox(o) for o in self.graph.values(self._cho, iri(prop))]
