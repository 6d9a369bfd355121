"""The view of a record that the HTML page and its JSON twin are both built from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rdflib import Graph, Literal, URIRef
from rdflib.term import Node

from archive.ids import Minter
from archive.service import Archive, Record
from archive.vocab import (
    DC,
    DCTERMS,
    EBUCORE,
    EDM,
    MEM,
    ORE,
    PROV,
    RDF,
    SKOS,
    SVCS,
    WGS84,
)

# The order and labels of the fields shown on an item page.
FIELDS: tuple[tuple[URIRef, str], ...] = (
    (DCTERMS.alternative, "Other title"),
    (DC.description, "Description"),
    (DC.creator, "Creator"),
    (DC.contributor, "Contributor"),
    (DCTERMS.created, "Date"),
    (DC.date, "Date"),
    (DCTERMS.temporal, "Period"),
    (DCTERMS.spatial, "Place"),
    (DC.subject, "Subject"),
    (DC.type, "Type"),
    (EDM.type, "Kind of object"),
    (DCTERMS.medium, "Material"),
    (DCTERMS.extent, "Extent"),
    (DC.format, "Format"),
    (DC.language, "Language"),
    (DC.publisher, "Publisher"),
    (DC.source, "Source"),
    (DC.identifier, "Identifier"),
    (MEM.level, "Level"),
)


@dataclass(frozen=True)
class Value:
    """One shown value: its text, language and, for entities, a link and coordinates."""

    text: str
    lang: str | None = None
    uri: str | None = None
    lat: float | None = None
    long: float | None = None


def pick_language(literals: list[Literal], preferred: list[str]) -> Literal | None:
    """The literal in the reader's language, falling back by primary tag, untagged, then any."""
    if not literals:
        return None
    for want in preferred:
        for lit in literals:
            if lit.language and lit.language.lower() == want.lower():
                return lit
        primary = want.split("-")[0].lower()
        for lit in literals:
            if lit.language and lit.language.split("-")[0].lower() == primary:
                return lit
    untagged = [lit for lit in literals if not lit.language]
    return (untagged or sorted(literals, key=lambda x: x.language or ""))[0]


def _label(g: Graph, node: Node, preferred: list[str]) -> str:
    labels = [o for o in g.objects(node, SKOS.prefLabel) if isinstance(o, Literal)]
    chosen = pick_language(labels, preferred)
    return str(chosen) if chosen is not None else str(node)


def _value(g: Graph, node: Node, preferred: list[str]) -> Value:
    if isinstance(node, Literal):
        return Value(str(node), node.language)
    lat = next(iter(g.objects(node, WGS84.lat)), None)
    long = next(iter(g.objects(node, WGS84.long)), None)
    return Value(_label(g, node, preferred), None, str(node),
                 float(str(lat)) if lat is not None else None,
                 float(str(long)) if long is not None else None)


def _images(g: Graph, agg: Node) -> list[dict[str, Any]]:
    resources = list(g.objects(agg, EDM.isShownBy)) + list(g.objects(agg, EDM.hasView))
    images = []
    for res in resources:
        order = next(iter(g.objects(res, MEM.order)), None)
        images.append({
            "id": str(next(iter(g.objects(res, MEM.imageId)), "")),
            "uri": str(res),
            "service": str(next(iter(g.objects(res, SVCS.has_service)), "")),
            "width": int(str(next(iter(g.objects(res, EBUCORE.width)), 0))),
            "height": int(str(next(iter(g.objects(res, EBUCORE.height)), 0))),
            "media_type": str(next(iter(g.objects(res, EBUCORE.hasMimeType)), "")),
            "order": int(str(order)) if order is not None else 0,
        })
    return sorted(images, key=lambda i: i["order"])


def title_of(g: Graph, cho: Node, preferred: list[str]) -> str:
    """The record's title in the reader's language (or its description's start)."""
    titles = [o for o in g.objects(cho, DC.title) if isinstance(o, Literal)]
    chosen = pick_language(titles, preferred)
    if chosen is None:
        descriptions = [o for o in g.objects(cho, DC.description) if isinstance(o, Literal)]
        chosen = pick_language(descriptions, preferred)
        return str(chosen)[:80] if chosen is not None else "(untitled)"
    return str(chosen)


def record_view(archive: Archive, record: Record, preferred: list[str]) -> dict[str, Any]:
    """Everything an item page shows, as plain data (the page's JSON twin)."""
    minter: Minter = archive.minter
    g = record.graph
    cho = URIRef(minter.item(record.record_id))
    agg = next(iter(g.subjects(RDF.type, ORE.Aggregation)), None)
    titles = [o for o in g.objects(cho, DC.title) if isinstance(o, Literal)]
    fields = []
    for prop, label in FIELDS:
        values = [_value(g, o, preferred) for o in g.objects(cho, prop)]
        if values:
            fields.append({"property": str(prop), "label": label,
                           "values": [v.__dict__ for v in sorted(values, key=lambda v: v.text)]})
    parent_node = next(iter(g.objects(cho, DCTERMS.isPartOf)), None)
    parent_id = minter.record_id_of(str(parent_node)) if parent_node is not None else None
    breadcrumb: list[dict[str, str]] = []
    seen = {record.record_id}
    while parent_id and parent_id not in seen:
        seen.add(parent_id)
        parent = archive.get(parent_id)
        if parent is None or parent.withdrawn:
            break
        pcho = URIRef(minter.item(parent_id))
        breadcrumb.insert(0, {"id": parent_id, "title": title_of(parent.graph, pcho, preferred)})
        grand = next(iter(parent.graph.objects(pcho, DCTERMS.isPartOf)), None)
        parent_id = minter.record_id_of(str(grand)) if grand is not None else None
    children = []
    for child_id, order in archive.children(record.record_id):
        child = archive.get(child_id)
        if child is not None and not child.withdrawn:
            children.append({"id": child_id, "order": order,
                             "title": title_of(child.graph, URIRef(minter.item(child_id)),
                                               preferred)})
    prov = next(iter(g.subjects(RDF.type, PROV.Entity)), None)
    return {
        "id": record.record_id,
        "uri": str(cho),
        "version": record.version,
        "title": title_of(g, cho, preferred),
        "titles": [{"text": str(t), "lang": t.language} for t in sorted(titles, key=str)],
        "fields": fields,
        "rights": str(next(iter(g.objects(agg, EDM.rights)), "")) if agg is not None else "",
        "data_provider": str(next(iter(g.objects(agg, EDM.dataProvider)), "")) if agg else "",
        "provider": str(next(iter(g.objects(agg, EDM.provider)), "")) if agg else "",
        "images": _images(g, agg) if agg is not None else [],
        "breadcrumb": breadcrumb,
        "children": children,
        "source": {
            "file": str(next(iter(g.objects(prov, DCTERMS.source)), "")) if prov else "",
            "position": str(next(iter(g.objects(prov, MEM.position)), "")) if prov else "",
        },
    }
