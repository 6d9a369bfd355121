"""IIIF Presentation 3.0 collections: one per record with children, and one of everything."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rdflib import URIRef

from archive.service import Archive
from archive.vocab import DC
from iiif.presentation import (
    PRESENTATION_CONTEXT,
    NoManifest,
    collection_url,
    lang_key,
    language_map,
    manifest_url,
)

DEFAULT_PAGE_SIZE = 100

_HIERARCHY = """
PREFIX dcterms: <http://purl.org/dc/terms/>
PREFIX mem: <https://w3id.org/memoria/ns#>
PREFIX edm: <http://www.europeana.eu/schemas/edm/>
SELECT ?g ?parent ?order ?level ?images WHERE {
  { SELECT ?g (COUNT(DISTINCT ?res) AS ?images) WHERE { GRAPH ?g {
      ?cho a edm:ProvidedCHO .
      OPTIONAL { ?agg edm:aggregatedCHO ?cho .
                 { ?agg edm:isShownBy ?res } UNION { ?agg edm:hasView ?res } } } }
    GROUP BY ?g }
  GRAPH ?g { ?cho a edm:ProvidedCHO .
    OPTIONAL { ?cho dcterms:isPartOf ?parent }
    OPTIONAL { ?cho mem:order ?order }
    OPTIONAL { ?cho mem:level ?level } }
}
"""

_TITLES = """
PREFIX dc: <http://purl.org/dc/elements/1.1/>
PREFIX edm: <http://www.europeana.eu/schemas/edm/>
SELECT ?g ?title WHERE { GRAPH ?g { ?cho a edm:ProvidedCHO ; dc:title ?title } }
"""


@dataclass
class Node:
    """One published record's place in the hierarchy."""

    record_id: str
    parent: str | None
    order: int | None
    level: str
    images: int
    children: list[str] = field(default_factory=list)
    label: dict[str, list[str]] = field(default_factory=dict)


class Hierarchy:
    """Every published record: parents, children in archival order, and which have images."""

    def __init__(self, nodes: dict[str, Node]) -> None:
        self.nodes = nodes
        self.top: list[str] = []
        for rid, node in nodes.items():
            if node.parent and node.parent in nodes and node.parent != rid:
                nodes[node.parent].children.append(rid)
            else:
                self.top.append(rid)
        def key(r: str) -> tuple[int, str]:
            order = nodes[r].order
            return (order if order is not None else 1 << 30, r)
        for node in nodes.values():
            node.children.sort(key=key)
        self.top.sort(key=key)
        self._reaches: dict[str, bool] = {}

    @classmethod
    def load(cls, archive: Archive) -> Hierarchy:
        """Read the hierarchy of every record in the RDF store with one query."""
        minter = archive.minter
        prefix = minter.graph("")
        nodes: dict[str, Node] = {}
        for row in archive.rdf.query(_HIERARCHY):  # type: ignore[union-attr]
            name = row["g"].value
            if not name.startswith(prefix):
                continue
            rid = name[len(prefix):]
            parent, order, level = row["parent"], row["order"], row["level"]
            images = row["images"]
            try:
                order_value = int(order.value) if order is not None else None
            except ValueError:
                order_value = None
            nodes[rid] = Node(
                rid, minter.record_id_of(parent.value) if parent is not None else None,
                order_value, level.value if level is not None else "",
                int(images.value) if images is not None else 0)
        for row in archive.rdf.query(_TITLES):  # type: ignore[union-attr]
            node = nodes.get(row["g"].value[len(prefix):])
            title = row["title"]
            if node is not None and title is not None:
                values = node.label.setdefault(lang_key(title.language), [])
                if title.value not in values:
                    values.append(title.value)
        return cls(nodes)

    def has_manifest(self, rid: str) -> bool:
        """True when /iiif/3/manifest/{rid} has canvases: own images or a child's."""
        node = self.nodes[rid]
        return node.images > 0 or any(self.nodes[c].images > 0 for c in node.children)

    def reaches_manifest(self, rid: str) -> bool:
        """True when a manifest can be reached from this record (itself or below it)."""
        if rid not in self._reaches:
            self._reaches[rid] = False  # guards against cycles in bad data
            node = self.nodes[rid]
            self._reaches[rid] = self.has_manifest(rid) or any(
                self.reaches_manifest(c) for c in node.children)
        return self._reaches[rid]

    def members(self, rid: str | None) -> list[tuple[str, str]]:
        """(kind, record id) items of a collection: its own manifest, then its children."""
        out: list[tuple[str, str]] = []
        if rid is not None and self.has_manifest(rid):
            out.append(("Manifest", rid))
        for child in self.top if rid is None else self.nodes[rid].children:
            node = self.nodes[child]
            if node.children and self.reaches_manifest(child):
                out.append(("Collection", child))
            elif self.has_manifest(child):
                out.append(("Manifest", child))
        return out


def _label(archive: Archive, rid: str, tree: Hierarchy | None = None) -> dict[str, list[str]]:
    if tree is not None and rid in tree.nodes and tree.nodes[rid].label:
        return {k: sorted(v) for k, v in sorted(tree.nodes[rid].label.items())}
    record = archive.get(rid)
    if record is None or record.withdrawn:
        return {"none": [rid]}
    cho = URIRef(archive.minter.item(rid))
    return language_map(record.graph.objects(cho, DC.title)) or \
        language_map(record.graph.objects(cho, DC.identifier)) or {"none": [rid]}


def _ref(archive: Archive, tree: Hierarchy, kind: str, rid: str) -> dict[str, Any]:
    url = manifest_url(archive.minter, rid) if kind == "Manifest" else \
        collection_url(archive.minter, rid)
    return {"id": url, "type": kind, "label": _label(archive, rid, tree)}


def _page_url(base: str, n: int) -> str:
    return f"{base}/page/{n}"


def build_collection(archive: Archive, rid: str | None = None, page: int | None = None,
                     page_size: int = DEFAULT_PAGE_SIZE,
                     hierarchy: Hierarchy | None = None) -> dict[str, Any]:
    """The collection of a record (or of everything, rid None), or one page of it."""
    tree = hierarchy or Hierarchy.load(archive)
    minter = archive.minter
    if rid is not None:
        if rid not in tree.nodes:
            record = archive.get(rid)
            if record is not None and record.withdrawn:
                raise NoManifest(f"record {rid} has been withdrawn", 410)
            raise NoManifest(f"no record {rid}")
        if not tree.nodes[rid].children:
            raise NoManifest(f"record {rid} has no parts, so it has no IIIF collection; "
                             f"see its manifest {manifest_url(minter, rid)}")
    base = collection_url(minter, rid)
    members = tree.members(rid)
    if rid is None:
        label: dict[str, list[str]] = {"none": [archive.settings.provider]}
        summary = {"en": [f"Everything published by {archive.settings.provider}"]}
    else:
        label = _label(archive, rid, tree)
        summary = {}
    pages = max(1, math.ceil(len(members) / page_size))
    doc: dict[str, Any] = {"@context": PRESENTATION_CONTEXT, "type": "Collection"}
    if page is None:
        doc.update({"id": base, "label": label})
        if summary:
            doc["summary"] = summary
        if rid is not None:
            doc["homepage"] = [{"id": minter.item(rid), "type": "Text", "label": label,
                                "format": "text/html"}]
            parent = tree.nodes[rid].parent
            if parent and parent in tree.nodes:
                doc["partOf"] = [{"id": collection_url(minter, parent), "type": "Collection"}]
            else:
                doc["partOf"] = [{"id": collection_url(minter), "type": "Collection"}]
        if len(members) <= page_size:
            doc["items"] = [_ref(archive, tree, kind, m) for kind, m in members]
            return doc
        # Presentation 3 has no paging of its own: a large collection lists its pages as
        # collections (so `items` alone reaches every manifest), with `first`/`last` for
        # clients that know Activity Streams-style paging.
        doc["first"] = {"id": _page_url(base, 1), "type": "Collection"}
        doc["last"] = {"id": _page_url(base, pages), "type": "Collection"}
        doc["items"] = [
            {"id": _page_url(base, n), "type": "Collection",
             "label": _page_label(label, n, pages)}
            for n in range(1, pages + 1)
        ]
        return doc
    if page < 1 or page > pages or len(members) <= page_size:
        raise NoManifest(f"{base} has no page {page}")
    chunk = members[(page - 1) * page_size: page * page_size]
    doc.update({"id": _page_url(base, page), "label": _page_label(label, page, pages),
                "partOf": [{"id": base, "type": "Collection"}]})
    if page > 1:
        doc["prev"] = {"id": _page_url(base, page - 1), "type": "Collection"}
    if page < pages:
        doc["next"] = {"id": _page_url(base, page + 1), "type": "Collection"}
    doc["items"] = [_ref(archive, tree, kind, m) for kind, m in chunk]
    return doc


def _page_label(label: dict[str, list[str]], n: int, pages: int) -> dict[str, list[str]]:
    return {k: [f"{v[0]} ({n}/{pages})"] for k, v in label.items()}


__all__ = ["DEFAULT_PAGE_SIZE", "Hierarchy", "Node", "build_collection"]
