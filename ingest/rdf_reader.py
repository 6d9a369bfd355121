"""EDM already in RDF (RDF/XML, Turtle, JSON-LD): one record per edm:ProvidedCHO."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.term import Node

from archive.dates import parse_years
from archive.record import RecordBuilder, RecordDraft
from archive.rights import normalise_rights
from archive.vocab import (
    DC,
    DCTERMS,
    EBUCORE,
    EDM,
    EDM_TYPES,
    ORE,
    OWL,
    PREFIXES,
    RDF,
    RDFS,
    SKOS,
    SVCS,
    WGS84,
)
from ingest.dc_reader import make_record_id, set_rights
from ingest.languages import normalise_language
from ingest.marc_reader import is_http
from ingest.reader import ReadContext, RecordRejected, Rejection, SourceRecord
from ingest.xmlsafe import XmlRejected, parse_xml_bytes

MEDIA_TYPE = "text/turtle"
MAX_BYTES = 256 * 1024 * 1024
FORMATS = {".rdf": "xml", ".xml": "xml", ".owl": "xml", ".ttl": "turtle", ".nt": "nt",
           ".n3": "n3", ".jsonld": "json-ld", ".json": "json-ld", ".trig": "trig"}
DATE_PROPS = frozenset({DC.date, DCTERMS.created, DCTERMS.issued, DCTERMS.temporal})
AGENT_PROPS = frozenset({DC.creator, DC.contributor, DC.publisher})
LANGUAGE_PROPS = frozenset({DC.language})
# Descriptive properties copied as they are onto the CHO (literals).
LITERAL_NAMESPACES = (str(DC), str(DCTERMS))
_IMAGE_FILE = re.compile(r"\.(jpe?g|png|tiff?|jp2|gif|webp)(\?|$)", re.IGNORECASE)
_TYPE_WORDS = ((re.compile(r"text|book|manuscript|document(?!s\))|letter", re.I), "TEXT"),
               (re.compile(r"map|image|photo|drawing|painting|print|picture", re.I), "IMAGE"),
               (re.compile(r"sound|audio", re.I), "SOUND"),
               (re.compile(r"video|film|moving", re.I), "VIDEO"),
               (re.compile(r"3d", re.I), "3D"))


def _curie(uri: Node) -> str:
    text = str(uri)
    for prefix, ns in PREFIXES.items():
        if text.startswith(str(ns)):
            return f"{prefix}:{text[len(str(ns)):]}"
    return text


def _remote_contexts(doc: Any) -> list[str]:
    """Every @context given by reference (which a JSON-LD parser would fetch)."""
    found: list[str] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "@context":
                for ctx in value if isinstance(value, list) else [value]:
                    if isinstance(ctx, str):
                        found.append(ctx)
                    else:
                        found += _remote_contexts(ctx)
            else:
                found += _remote_contexts(value)
    elif isinstance(doc, list):
        for item in doc:
            found += _remote_contexts(item)
    return found


def parse_rdf(data: bytes, fmt: str, source: str) -> Graph:
    """Parse untrusted RDF bytes; XML goes through the hardened parser first."""
    if fmt == "xml":
        root = parse_xml_bytes(data, source)
        if root.getroottree().docinfo.doctype:
            raise XmlRejected(f"{source}: a DOCTYPE is not allowed in RDF/XML")
    if fmt == "json-ld":
        try:
            remote = _remote_contexts(json.loads(data))
        except ValueError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if remote:
            raise ValueError(f"JSON-LD context {remote[0]!r} would be fetched from the network; "
                             "inline the context")
    graph = Graph()
    graph.parse(data=data, format=fmt)
    return graph


def _closure(graph: Graph, cho: URIRef) -> Graph:
    """The CHO, its aggregations, their web resources and the entities they name (one hop)."""
    sub = Graph()
    seeds: list[Node] = [cho, *graph.subjects(EDM.aggregatedCHO, cho)]
    nodes = list(seeds)
    for seed in seeds:
        nodes += [o for o in graph.objects(seed, None) if isinstance(o, URIRef | BNode)]
    seen: set[Node] = set()
    while nodes:
        node = nodes.pop()
        if node in seen:
            continue
        seen.add(node)
        for triple in graph.triples((node, None, None)):
            sub.add(triple)
            if isinstance(triple[2], BNode):
                nodes.append(triple[2])
    return sub


def _labels(g: Graph, node: Node) -> list[tuple[str, str | None]]:
    out = []
    for prop in (SKOS.prefLabel, RDFS.label, SKOS.altLabel):
        for value in g.objects(node, prop):
            if isinstance(value, Literal) and str(value).strip():
                out.append((" ".join(str(value).split()), _lang(value)))
        if out:
            break
    first: dict[str | None, tuple[str, str | None]] = {}
    for text, lang in out:
        first.setdefault(lang, (text, lang))
    return list(first.values())


def _lang(value: Literal) -> str | None:
    return normalise_language(value.language) if value.language else None


def _float(g: Graph, node: Node, prop: URIRef) -> float | None:
    for value in g.objects(node, prop):
        try:
            return float(str(value).replace(",", "."))
        except ValueError:
            return None
    return None


class _EdmMapper:
    """Copies one CHO's statements (and its aggregation's) onto a RecordBuilder."""

    def __init__(self, b: RecordBuilder, g: Graph, cho: URIRef) -> None:
        self.b = b
        self.g = g
        self.cho = cho
        self.dropped: Counter[str] = Counter()
        self.types: list[str] = []

    def uri(self, node: Node) -> str | None:
        """The node as a string when it is an http(s) IRI."""
        return str(node) if isinstance(node, URIRef) and is_http(str(node)) else None

    def cho_statements(self) -> None:
        """Copy every statement about the CHO that the model can place."""
        g, b = self.g, self.b
        for prop, value in sorted(g.predicate_objects(self.cho), key=lambda x: (str(x[0]),
                                                                                str(x[1]))):
            if prop == RDF.type or not isinstance(prop, URIRef):
                continue
            if prop == EDM.type or prop == EDM.hasType:
                self.types.append(str(value))
                continue
            if prop == OWL.sameAs and isinstance(value, URIRef):
                b.add_same_as(str(value))
                continue
            if isinstance(value, Literal):
                self.literal(prop, value)
            else:
                self.entity(prop, value)

    def literal(self, prop: URIRef, value: Literal) -> None:
        """Place one literal value of the CHO."""
        text = str(value)
        if prop in DATE_PROPS:
            self.b.add_date(text, prop)
        elif prop in LANGUAGE_PROPS:
            self.b.add_literal(prop, normalise_language(text) or text)
        elif prop in AGENT_PROPS:
            self.b.add_agent(prop, text, _lang(value))
        elif str(prop).startswith(LITERAL_NAMESPACES) or prop == EDM.currentLocation:
            self.b.add_literal(prop, text, _lang(value))
        else:
            self.dropped[_curie(prop)] += 1

    def entity(self, prop: URIRef, node: Node) -> None:
        """Place one linked entity (agent, place, concept, time span) of the CHO."""
        g, b = self.g, self.b
        labels = _labels(g, node)
        kinds = set(g.objects(node, RDF.type))
        uri = self.uri(node)
        if EDM.Place in kinds or (prop in (DCTERMS.spatial, DC.coverage) and labels):
            self.place(prop, node, labels, uri)
        elif EDM.Agent in kinds or (prop in AGENT_PROPS and labels):
            agent = None
            for text, lang in labels:
                agent = b.add_agent(prop, text, lang, uri=str(agent) if agent else uri)
        elif SKOS.Concept in kinds or (prop in (DC.subject, DC.type) and labels):
            concept = None
            for text, lang in labels:
                concept = b.add_concept(text, lang, uri=str(concept) if concept else uri,
                                        prop=prop)
        elif EDM.TimeSpan in kinds:
            self.timespan(prop, node, labels)
        elif prop == DC.rights and uri:
            b.add_literal(DC.rights, uri)
            return
        else:
            self.dropped[_curie(prop)] += 1
            return
        if not labels and EDM.TimeSpan not in kinds:
            self.dropped[f"{_curie(prop)} (entity without a label)"] += 1
        for extra in set(g.predicates(node)) - {RDF.type, SKOS.prefLabel, RDFS.label,
                                                SKOS.altLabel, WGS84.lat, WGS84.long,
                                                EDM.begin, EDM.end}:
            self.dropped[f"{_curie(extra)} of a linked entity"] += 1

    def place(self, prop: URIRef, node: Node, labels: list[tuple[str, str | None]],
              uri: str | None) -> None:
        """Add an edm:Place with its labels and WGS84 coordinates."""
        lat, long = _float(self.g, node, WGS84.lat), _float(self.g, node, WGS84.long)
        if len(set(self.g.objects(node, WGS84.lat))) > 1 or \
                len(set(self.g.objects(node, WGS84.long))) > 1:
            self.b.warnings.append(f"place {labels[0][0] if labels else node} has several "
                                   "coordinates; the first is kept")
        place = None
        for i, (text, lang) in enumerate(labels or [("", None)]):
            coords = (lat, long) if i == 0 else (None, None)
            try:
                place = self.b.add_place(text, *coords, lang=lang,
                                         uri=str(place) if place else uri, prop=prop)
            except ValueError as exc:
                self.b.warnings.append(f"place {text!r}: {exc}; coordinates dropped")
                place = self.b.add_place(text, lang=lang, uri=str(place) if place else uri,
                                         prop=prop)

    def timespan(self, prop: URIRef, node: Node, labels: list[tuple[str, str | None]]) -> None:
        """Add an edm:TimeSpan from its label or begin/end."""
        begin = next(iter(self.g.objects(node, EDM.begin)), None)
        end = next(iter(self.g.objects(node, EDM.end)), None)
        if begin is not None and end is not None:
            text = str(begin) if str(begin) == str(end) else f"{begin}/{end}"
            if labels and labels[0][0]:
                text = labels[0][0] if _span_ok(labels[0][0]) else f"{str(begin)[:4]}-" \
                    f"{str(end)[:4]}"
            self.b.add_date(text, prop if prop in DATE_PROPS else DCTERMS.temporal)
        elif labels:
            self.b.add_date(labels[0][0], prop if prop in DATE_PROPS else DCTERMS.temporal)

    def aggregation(self, agg: Node | None, provider: str) -> int:
        """Map the aggregation: pages, images, rights, providers; return image count."""
        g, b = self.g, self.b
        images = 0
        rights = [v for v in g.objects(agg, EDM.rights)] if agg is not None else []
        resources: list[Node] = []
        if agg is not None:
            resources = [*g.objects(agg, EDM.isShownBy), *sorted(
                g.objects(agg, EDM.hasView), key=lambda n: str(n))]
            for page in g.objects(agg, EDM.isShownAt):
                if self.uri(page):
                    b.set_shown_at(str(page))
            for prop in set(g.predicates(agg)) - {RDF.type, EDM.aggregatedCHO, EDM.rights,
                                                  EDM.isShownBy, EDM.hasView, EDM.isShownAt,
                                                  EDM.dataProvider, EDM.provider}:
                self.dropped[f"{_curie(prop)} of the aggregation"] += 1
        seen: set[str] = set()
        for res in resources:
            url = self.uri(res)
            if not url or url in seen:
                continue
            seen.add(url)
            media = next((str(m) for m in g.objects(res, EBUCORE.hasMimeType)), None)
            service = next((str(s) for s in g.objects(res, SVCS.has_service)
                            if self.uri(s)), None)
            if not (service or (media or "").startswith("image/") or _IMAGE_FILE.search(url)):
                b.warnings.append(f"web resource {url} is not an image; kept only in the source")
                continue
            width = _float(g, res, EBUCORE.width)
            height = _float(g, res, EBUCORE.height)
            b.add_remote_image(url, service, int(width) if width else None,
                               int(height) if height else None, media)
            images += 1
        self.rights(rights, resources)
        names = [str(v) for v in g.objects(agg, EDM.dataProvider)] if agg is not None else []
        names += [label for n in (g.objects(agg, EDM.dataProvider) if agg is not None else [])
                  for label, _ in _labels(g, n)]
        data_provider = next((n for n in names if not is_http(n)), provider)
        b.set_providers(data_provider, provider)
        return images

    def rights(self, rights: list[Node], resources: list[Node]) -> None:
        """Set edm:rights from the aggregation, its web resources or the CHO's dc:rights."""
        where = "the aggregation"
        if not rights:
            for res in resources:
                rights += list(self.g.objects(res, EDM.rights))
            where = "its web resources"
        if not rights:
            rights = [v for v in self.g.objects(self.cho, DC.rights) if isinstance(v, URIRef)]
            where = "the CHO's dc:rights"
        for value in rights:
            if mapped := normalise_rights(str(value)):
                if where != "the aggregation":
                    self.b.warnings.append(f"the aggregation has no edm:rights; taken from "
                                           f"{where}")
                self.b.set_rights(mapped)
                return
        set_rights(self.b, [str(rights[0])] if rights else [])

    def edm_type(self, images: int) -> str:
        """The CHO's edm:type, read from edm:type/edm:hasType or guessed."""
        for value in self.types:
            if value.strip().upper() in EDM_TYPES:
                return value.strip().upper()
        for value in self.types:
            for rx, kind in _TYPE_WORDS:
                if rx.search(value):
                    self.b.warnings.append(f"edm:type {value!r} is not an EDM type; read as "
                                           f"{kind}")
                    return kind
        kind = "IMAGE" if images else "TEXT"
        self.b.warnings.append(f"no edm:type; recorded as {kind}")
        return kind


def _span_ok(text: str) -> bool:
    return parse_years(text) is not None


class RdfReader:
    """Reads EDM in RDF/XML, Turtle or JSON-LD: one record per edm:ProvidedCHO."""

    name = "rdf"
    version = "1.0"

    def read(self, source: Path, context: ReadContext) -> Iterator[SourceRecord | Rejection]:
        """Yield one source record (its statements as Turtle) per edm:ProvidedCHO."""
        fmt = str(context.options.get("format") or FORMATS.get(source.suffix.lower(), "xml"))
        try:
            if source.stat().st_size > MAX_BYTES:
                raise ValueError(f"{source.stat().st_size:,} bytes is over the limit of "
                                 f"{MAX_BYTES:,}")
            graph = parse_rdf(source.read_bytes(), fmt, str(source))
        except Exception as exc:  # noqa: BLE001 - rdflib's parsers raise many unrelated classes
            yield Rejection(str(source), "file", f"cannot read as {fmt} RDF: {exc}")
            return
        chos = sorted(set(graph.subjects(RDF.type, EDM.ProvidedCHO)), key=str)
        if not chos:
            yield Rejection(str(source), "file", "no edm:ProvidedCHO in the graph")
            return
        for cho in chos:
            if not isinstance(cho, URIRef):
                yield Rejection(str(source), "blank node", "an edm:ProvidedCHO needs a URI")
                continue
            sub = _closure(graph, cho)
            raw = sub.serialize(format="turtle").encode("utf-8")
            yield SourceRecord(str(source), f"<{cho}>", str(cho), raw, MEDIA_TYPE, (sub, cho))

    def to_rdf(self, record: SourceRecord, context: ReadContext) -> RecordDraft:
        """Map one CHO (record.data = (graph, CHO URI), or the Turtle in record.raw) to EDM."""
        if isinstance(record.data, tuple):
            graph, cho = record.data
        else:
            graph = Graph().parse(data=record.raw, format="turtle")
            cho = URIRef(record.local_id or "")
        if (cho, RDF.type, EDM.ProvidedCHO) not in graph:
            raise RecordRejected(f"{cho} is not an edm:ProvidedCHO")
        rid = make_record_id(context, "rdf", str(cho))
        b = RecordBuilder(context.minter, rid)
        if isinstance(cho, URIRef):
            b.add_same_as(str(cho))
        else:
            b.add_literal(DC.identifier, str(cho))
        m = _EdmMapper(b, graph, cho)
        aggs = [a for a in graph.subjects(EDM.aggregatedCHO, cho)
                if (a, RDF.type, ORE.Aggregation) in graph] or list(
            graph.subjects(EDM.aggregatedCHO, cho))
        if len(aggs) > 1:
            b.warnings.append(f"{len(aggs)} aggregations; the first is kept")
        try:
            m.cho_statements()
            images = m.aggregation(aggs[0] if aggs else None, context.provider)
            b.set_type(m.edm_type(images))
        except ValueError as exc:
            raise RecordRejected(str(exc)) from None
        if m.dropped:
            listed = ", ".join(f"{k} ({n})" for k, n in sorted(m.dropped.items()))
            b.warnings.append(f"kept only in the source: {listed}")
        return RecordDraft(rid, b.graph, record.raw, record.media_type, [], b.warnings)
