"""The record model: one EDM record (ProvidedCHO, Aggregation, WebResources) as a graph."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from rdflib import Graph, Literal, URIRef
from rdflib.term import Node

from archive.dates import parse_years
from archive.ids import Minter, is_image_id
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


@dataclass
class ImageFile:
    """An original image file that belongs to a record, kept in storage under `files/`."""

    image_id: str
    source: Path
    name: str
    media_type: str
    width: int
    height: int


@dataclass
class RecordDraft:
    """A record on its way in: its graph, originals, source metadata and mapping warnings."""

    record_id: str
    graph: Graph
    source_bytes: bytes
    source_media_type: str
    images: list[ImageFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class RecordBuilder:
    """Builds the EDM graph of one record; every method adds triples in the house shape."""

    def __init__(self, minter: Minter, record_id: str) -> None:
        self.minter = minter
        self.record_id = record_id
        # Prefixes are bound when a graph is shown, not on the ingest hot path.
        self.graph = Graph(bind_namespaces="none")
        self.cho = URIRef(minter.item(record_id))
        self.aggregation = URIRef(minter.aggregation(record_id))
        self.warnings: list[str] = []
        self._counters: dict[str, int] = {}
        self._views = 0
        g = self.graph
        g.add((self.cho, RDF.type, EDM.ProvidedCHO))
        g.add((self.aggregation, RDF.type, ORE.Aggregation))
        g.add((self.aggregation, EDM.aggregatedCHO, self.cho))

    def _entity(self, kind: str) -> URIRef:
        n = self._counters.get(kind, 0) + 1
        self._counters[kind] = n
        return URIRef(self.minter.entity(self.record_id, kind, n))

    @staticmethod
    def _literal(text: str, lang: str | None) -> Literal:
        if lang and not _LANG_TAG.fullmatch(lang):
            raise ValueError(f"invalid language tag {lang!r}")
        return Literal(text, lang=lang or None)

    def add_literal(self, prop: URIRef, text: str, lang: str | None = None) -> None:
        """Add a descriptive literal (title, description, identifier...) to the CHO."""
        text = text.strip()
        if text:
            self.graph.add((self.cho, prop, self._literal(text, lang)))

    def add_agent(self, prop: URIRef, name: str, lang: str | None = None,
                  uri: str | None = None) -> URIRef:
        """Add an edm:Agent (creator, contributor, publisher) by name, or by authority URI."""
        agent = URIRef(uri) if uri else self._entity("agent")
        self.graph.add((agent, RDF.type, EDM.Agent))
        self.graph.add((agent, SKOS.prefLabel, self._literal(name.strip(), lang)))
        self.graph.add((self.cho, prop, agent))
        return agent

    def add_concept(self, label: str, lang: str | None = None, uri: str | None = None,
                    prop: URIRef = DC.subject) -> URIRef:
        """Add a skos:Concept (subject, genre) by label, or by authority URI."""
        concept = URIRef(uri) if uri else self._entity("concept")
        self.graph.add((concept, RDF.type, SKOS.Concept))
        self.graph.add((concept, SKOS.prefLabel, self._literal(label.strip(), lang)))
        self.graph.add((self.cho, prop, concept))
        return concept

    def add_place(self, name: str, lat: float | None = None, long: float | None = None,
                  lang: str | None = None, uri: str | None = None,
                  prop: URIRef = DCTERMS.spatial) -> URIRef:
        """Add an edm:Place with WGS84 coordinates when the source has them."""
        place = URIRef(uri) if uri else self._entity("place")
        g = self.graph
        g.add((place, RDF.type, EDM.Place))
        if name.strip():
            g.add((place, SKOS.prefLabel, self._literal(name.strip(), lang)))
        if lat is not None and long is not None:
            if not (-90.0 <= lat <= 90.0 and -180.0 <= long <= 180.0):
                raise ValueError(f"coordinates out of range: {lat}, {long}")
            g.add((place, WGS84.lat, Literal(f"{lat:.6f}".rstrip("0").rstrip("."),
                                             datatype=XSD.decimal)))
            g.add((place, WGS84.long, Literal(f"{long:.6f}".rstrip("0").rstrip("."),
                                              datatype=XSD.decimal)))
        g.add((self.cho, prop, place))
        return place

    def add_date(self, text: str, prop: URIRef = DCTERMS.created) -> URIRef | None:
        """Add a date as an edm:TimeSpan with begin/end years; warn when it cannot be read."""
        text = text.strip()
        if not text:
            return None
        span = parse_years(text)
        timespan = self._entity("timespan")
        g = self.graph
        g.add((timespan, RDF.type, EDM.TimeSpan))
        g.add((timespan, SKOS.prefLabel, Literal(text)))
        if span is None:
            self.warnings.append(f"date {text!r} could not be read as years; kept as text")
        else:
            g.add((timespan, EDM.begin, Literal(str(span.begin))))
            g.add((timespan, EDM.end, Literal(str(span.end))))
            g.add((timespan, MEM.beginYear, Literal(span.begin, datatype=XSD.integer)))
            g.add((timespan, MEM.endYear, Literal(span.end, datatype=XSD.integer)))
        g.add((self.cho, prop, timespan))
        return timespan

    def set_type(self, edm_type: str) -> None:
        """Set edm:type (TEXT, IMAGE, SOUND, VIDEO, 3D)."""
        value = edm_type.strip().upper()
        if value not in EDM_TYPES:
            raise ValueError(f"edm:type {edm_type!r} is not one of {sorted(EDM_TYPES)}")
        self.graph.set((self.cho, EDM.type, Literal(value)))

    def set_rights(self, uri: str) -> None:
        """Set edm:rights on the aggregation (a RightsStatements.org or Creative Commons URI)."""
        self.graph.set((self.aggregation, EDM.rights, URIRef(uri.strip())))

    def set_providers(self, data_provider: str, provider: str | None = None) -> None:
        """Set edm:dataProvider and edm:provider on the aggregation."""
        self.graph.set((self.aggregation, EDM.dataProvider, Literal(data_provider)))
        self.graph.set((self.aggregation, EDM.provider, Literal(provider or data_provider)))

    def set_parent(self, parent_record_id: str, order: int | None = None) -> None:
        """Place the record in the archival hierarchy under its parent, at a position."""
        self.graph.set((self.cho, DCTERMS.isPartOf, URIRef(self.minter.item(parent_record_id))))
        if order is not None:
            self.set_order(order)

    def set_order(self, order: int) -> None:
        """Set the record's position among its siblings."""
        self.graph.set((self.cho, MEM.order, Literal(int(order), datatype=XSD.integer)))

    def set_level(self, level: str) -> None:
        """Set the archival level (fonds, series, file, item...)."""
        self.graph.set((self.cho, MEM.level, Literal(level.strip().lower())))

    def add_image(self, image: ImageFile) -> URIRef:
        """Add an image as edm:WebResource with its IIIF service; the first is edm:isShownBy."""
        if not is_image_id(image.image_id):
            raise ValueError(f"image id {image.image_id!r} is not usable")
        resource = URIRef(self.minter.image(image.image_id))
        service = URIRef(self.minter.image_service(image.image_id))
        g = self.graph
        self._views += 1
        g.add((resource, RDF.type, EDM.WebResource))
        g.add((resource, MEM.imageId, Literal(image.image_id)))
        g.add((resource, MEM.file, Literal(f"files/{image.name}")))
        g.add((resource, MEM.order, Literal(self._views, datatype=XSD.integer)))
        g.add((resource, EBUCORE.hasMimeType, Literal(image.media_type)))
        g.add((resource, EBUCORE.width, Literal(image.width, datatype=XSD.integer)))
        g.add((resource, EBUCORE.height, Literal(image.height, datatype=XSD.integer)))
        g.add((resource, SVCS.has_service, service))
        g.add((service, RDF.type, SVCS.Service))
        g.add((service, DCTERMS.conformsTo, IIIF_IMAGE_CONTEXT))
        g.add((service, DOAP.implements, IIIF_LEVEL2))
        link = EDM.isShownBy if self._views == 1 else EDM.hasView
        g.add((self.aggregation, link, resource))
        return resource

    def add_remote_image(self, url: str, service: str | None = None, width: int | None = None,
                         height: int | None = None, media_type: str | None = None) -> URIRef:
        """Add an image kept elsewhere (a remote file or IIIF Image service) as edm:WebResource."""
        resource = URIRef(url)
        g = self.graph
        self._views += 1
        g.add((resource, RDF.type, EDM.WebResource))
        g.add((resource, MEM.order, Literal(self._views, datatype=XSD.integer)))
        if media_type:
            g.add((resource, EBUCORE.hasMimeType, Literal(media_type)))
        if width and height and width > 0 and height > 0:
            g.add((resource, EBUCORE.width, Literal(int(width), datatype=XSD.integer)))
            g.add((resource, EBUCORE.height, Literal(int(height), datatype=XSD.integer)))
        if service:
            svc = URIRef(service)
            g.add((resource, SVCS.has_service, svc))
            g.add((svc, RDF.type, SVCS.Service))
            g.add((svc, DCTERMS.conformsTo, IIIF_IMAGE_CONTEXT))
        link = EDM.isShownBy if self._views == 1 else EDM.hasView
        g.add((self.aggregation, link, resource))
        return resource

    def add_same_as(self, uri: str) -> None:
        """Link the CHO to the same thing described elsewhere (owl:sameAs), e.g. its source URI."""
        self.graph.add((self.cho, OWL.sameAs, URIRef(uri)))

    def set_shown_at(self, url: str) -> None:
        """Set edm:isShownAt: the object in its full context on the provider's web site."""
        self.graph.set((self.aggregation, EDM.isShownAt, URIRef(url)))

    def objects(self, prop: URIRef) -> list[Node]:
        """The CHO's values for a property."""
        return list(self.graph.objects(self.cho, prop))
