"""The view of a record that the HTML page and its JSON twin are both built from."""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

import pyoxigraph as ox
from flask import g, has_request_context, request
from rdflib import Graph, Literal, URIRef
from rdflib.term import Node

from archive.ids import Minter, is_record_id
from archive.recordgraph import RecordGraph, from_ox
from archive.service import Archive, Record
from archive.site.i18n import gettext
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
from search.backend import SearchQuery
from search.document import lang_bucket, record_document

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


# Values that are search facets (schemas/search/facets.json) link to their facet.
FACET_OF: dict[URIRef, str] = {
    DC.creator: "creator", DC.subject: "subject", DC.type: "subject",
    DCTERMS.spatial: "place", EDM.type: "type", DC.language: "language", MEM.level: "level",
}
# Free-text values that the search's full text holds link to a phrase search; the others
# (material, format, publisher ...) are not indexed, so a link would find nothing.
PHRASE_SEARCH = frozenset({DCTERMS.alternative, DC.contributor, DCTERMS.created, DC.date,
                           DCTERMS.temporal, DC.identifier})
# Related items: this many, found through the first of these facets the record has.
RELATED = 6
RELATED_BY = ("creator", "subject", "place")
# An item page lists at most this many parts; the collection pages browse the rest.
MAX_CHILDREN = 500

def N_(message: str) -> str:
    """Mark a string for the catalogues; it is translated where it is shown."""
    return message


_RS_NAMES: dict[str, str] = {
    "InC": N_("In Copyright"),
    "InC-OW-EU": N_("In Copyright – EU Orphan Work"),
    "InC-EDU": N_("In Copyright – Educational Use Permitted"),
    "InC-NC": N_("In Copyright – Non-Commercial Use Permitted"),
    "InC-RUU": N_("In Copyright – Rights-holder(s) Unlocatable or Unidentifiable"),
    "NoC-CR": N_("No Copyright – Contractual Restrictions"),
    "NoC-NC": N_("No Copyright – Non-Commercial Use Only"),
    "NoC-OKLR": N_("No Copyright – Other Known Legal Restrictions"),
    "NoC-US": N_("No Copyright – United States"),
    "CNE": N_("Copyright Not Evaluated"),
    "UND": N_("Copyright Undetermined"),
    "NKC": N_("No Known Copyright"),
}
_RS_URI = re.compile(r"^https?://rightsstatements\.org/(?:vocab|page)/([A-Za-z-]+)/1\.0/?$")
_CC_URI = re.compile(r"^https?://creativecommons\.org/(licenses|publicdomain)/([a-z-]+)/([0-9.]+)/?")


def rights_label(uri: str) -> str:
    """A readable name for a rights URI: the RightsStatements.org or Creative Commons name."""
    if m := _RS_URI.match(uri):
        name = _RS_NAMES.get(m.group(1))
        return gettext(name) if name else uri
    if m := _CC_URI.match(uri):
        kind, code, version = m.groups()
        if kind == "publicdomain":
            if code == "zero":
                return f"CC0 {version}"
            if code == "mark":
                return gettext("Public Domain Mark %(version)s", version=version)
            return uri
        return f"CC {code.upper()} {version}"
    return uri


@dataclass(frozen=True)
class Value:
    """One shown value: its text, language and, for entities, a link and coordinates."""

    text: str
    lang: str | None = None
    uri: str | None = None
    lat: float | None = None
    long: float | None = None


def search_url(args: dict[str, str]) -> str:
    """The search page's URL for some query arguments (kept a plain path: a shareable state)."""
    root = request.script_root if has_request_context() else ""
    return f"{root}/search?{urlencode(args)}"


def facet_key(g: Graph, node: Node) -> str | None:
    """The key a value has in its search facet: the same label search/document.py indexes."""
    if isinstance(node, Literal):
        return str(node).strip() or None
    labels = sorted((o for o in g.objects(node, SKOS.prefLabel) if isinstance(o, Literal)),
                    key=lambda lit: (lit.language or "", str(lit)))
    return str(labels[0]).strip() if labels else None


def value_search(g: Graph, prop: URIRef, node: Node) -> str | None:
    """Where a shown value leads: its facet in the search, a phrase search, or nowhere."""
    if prop in FACET_OF:
        key = facet_key(g, node)
        if key and FACET_OF[prop] == "language":
            key = key.lower()
        return search_url({f"f.{FACET_OF[prop]}": key}) if key else None
    if prop in PHRASE_SEARCH:
        text = facet_key(g, node)
        if text and len(text) <= 200:
            return search_url({"q": '"' + text.replace('"', " ") + '"'})
    return None


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


def _child_rows(archive: Archive, rid: str, preferred: list[str],
                limit: int = MAX_CHILDREN) -> list[dict[str, Any]]:
    """The records directly below `rid` with their titles: Archive.children's order, titles
    read from the store's index (no call per child into the record itself)."""
    if not archive.derives:
        return []
    # Most records have no parts: one index lookup says so, and the parts kept by
    # Archive.children stay for the parents item pages ask about (previous / next).
    store = archive.rdf.store
    parent = ox.NamedNode(archive.minter.item(rid))
    if next(store.quads_for_pattern(None, _OX["part_of"], parent, None), None) is None:
        return []
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for child_id, order in archive.children(rid):
        if child_id in seen:
            continue  # a part with two orders is listed once, at the first
        if len(rows) >= limit:
            break
        seen.add(child_id)
        chosen = pick_language(_child_titles(archive, child_id), preferred)
        rows.append({"id": child_id, "order": order,
                     "title": str(chosen) if chosen is not None else child_id})
    return rows


def _child_titles(archive: Archive, rid: str) -> list[Literal]:
    """A part's titles in the store, kept per store version (a parent's page in each language
    and its parts' pages ask again; callers must not change the list)."""
    def read() -> list[Literal]:
        subject = ox.NamedNode(archive.minter.item(rid))
        return store_literals(archive.rdf.store, subject, _OX["title"])

    return STORE_READS.get(archive.rdf, ("titles", rid), read)


def pick_title(texts: dict[str, list[Literal]], preferred: list[str], fallback: str) -> str:
    """title_of() over literals read from the store: title, else the description's start."""
    chosen = pick_language(texts.get("title", []), preferred)
    if chosen is not None:
        return str(chosen)
    chosen = pick_language(texts.get("description", []), preferred)
    return str(chosen)[:80] if chosen is not None else fallback


_OX = {name: ox.NamedNode(str(prop)) for name, prop in (
    ("title", DC.title), ("description", DC.description), ("level", MEM.level),
    ("part_of", DCTERMS.isPartOf))}


def store_literals(store: ox.Store, subject: ox.NamedNode, predicate: ox.NamedNode
                   ) -> list[Literal]:
    """The literal values of one property of one subject, read from the store's own index."""
    # from_ox: the literal without rdflib's casting and checks (~6 us each, ~20 a page).
    return [cast(Literal, from_ox(q.object))
            for q in store.quads_for_pattern(subject, predicate, None, None)
            if isinstance(q.object, ox.Literal)]


def store_value(store: ox.Store, subject: ox.NamedNode, predicate: ox.NamedNode) -> str | None:
    """The first value (IRI or literal text) of one property of one subject, or None."""
    for quad in store.quads_for_pattern(subject, predicate, None, None):
        if isinstance(quad.object, (ox.NamedNode, ox.Literal)):
            return quad.object.value
    return None


_T = TypeVar("_T")
_ABSENT = object()


class StoreReads:
    """Values read from an RDF store, kept in this process until the store's next version.

    An index lookup in Oxigraph costs ~70 us at 100,000 records (each term of each quad is
    read back from the store), and item and search pages ask for the same few hundred
    fonds' and series' titles and breadcrumbs over and over.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._kept: weakref.WeakKeyDictionary[Any, tuple[int, dict[Any, Any]]] = \
            weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, rdf: Any, key: Any, make: Callable[[], _T]) -> _T:
        """The kept value of key for this store and version, or make() it and keep it."""
        version = rdf.version  # read first: a change during make() keeps nothing stale
        with self._lock:
            entry = self._kept.get(rdf)
            if entry is None or entry[0] != version:
                entry = (version, {})
                self._kept[rdf] = entry
            value = entry[1].get(key, _ABSENT)
        if value is not _ABSENT:
            return cast(_T, value)
        made = make()
        with self._lock:
            kept = entry[1]
            kept[key] = made
            if len(kept) > self.limit:
                del kept[next(iter(kept))]  # the oldest first
        return made

    def clear(self) -> None:
        """Forget every kept value."""
        with self._lock:
            self._kept.clear()


STORE_READS = StoreReads(50_000)


def title_texts(archive: Archive, rid: str) -> dict[str, list[Literal]]:
    """A record's titles and descriptions in the RDF store ({} when it has neither there).

    Direct index lookups: a SPARQL query joining VALUES scans the store in Oxigraph (a
    second for a few ids at 100,000 records); these cost ~70 us each, so kept per store
    version (callers must not change the lists).
    """
    def read() -> dict[str, list[Literal]]:
        store = archive.rdf.store
        subject = ox.NamedNode(archive.minter.item(rid))
        texts = {kind: store_literals(store, subject, _OX[kind])
                 for kind in ("title", "description")}
        return texts if texts["title"] or texts["description"] else {}

    return STORE_READS.get(archive.rdf, ("texts", rid), read)


def titles_of(archive: Archive, rids: list[str], preferred: list[str]) -> dict[str, str]:
    """The titles of published records in the reader's language (no record is read whole)."""
    rids = [r for r in dict.fromkeys(rids) if is_record_id(r)]
    out: dict[str, str] = {}
    if not archive.derives:
        for rid in rids:
            rec = archive.get(rid)
            if rec is not None and not rec.withdrawn:
                out[rid] = title_of(rec.graph, URIRef(archive.minter.item(rid)), preferred)
        return out
    for rid in rids:
        if texts := title_texts(archive, rid):
            out[rid] = pick_title(texts, preferred, "(untitled)")
    return out


def ancestors(archive: Archive, rid: str, parent_id: str | None, preferred: list[str]
              ) -> list[dict[str, str]]:
    """The archival breadcrumb above a record, top first: a few index lookups per level."""
    if parent_id is None:
        return []
    if not archive.derives:
        return _ancestors_by_reading(archive, rid, parent_id, preferred)
    # Kept by parent (shared by all its parts); a cycle through rid stops below rid.
    chain = STORE_READS.get(archive.rdf, ("ancestors", parent_id),
                            lambda: _ancestor_chain(archive, parent_id))
    ids = [entry[0] for entry in chain]
    if rid in ids:
        chain = chain[ids.index(rid) + 1:]
    return [{"id": current, "uri": uri, "title": pick_title(texts, preferred, current),
             "level": level} for current, uri, texts, level in chain]


def _ancestor_chain(archive: Archive, parent_id: str
                    ) -> list[tuple[str, str, dict[str, list[Literal]], str]]:
    """(id, URI, titles, level) of each ancestor, top first, read from the store's index."""
    store = archive.rdf.store
    chain: list[tuple[str, str, dict[str, list[Literal]], str]] = []
    seen: set[str] = set()
    current: str | None = parent_id
    # A withdrawn or missing ancestor has no graph in the store: the chain stops there.
    while (current and current not in seen
           and archive.rdf.has_graph(archive.minter.graph(current))):
        seen.add(current)
        subject = ox.NamedNode(archive.minter.item(current))
        chain.insert(0, (current, subject.value, title_texts(archive, current),
                         store_value(store, subject, _OX["level"]) or ""))
        up = store_value(store, subject, _OX["part_of"])
        current = archive.minter.record_id_of(up) if up else None
    return chain


def _ancestors_by_reading(archive: Archive, rid: str, parent_id: str, preferred: list[str]
                          ) -> list[dict[str, str]]:
    minter = archive.minter
    breadcrumb: list[dict[str, str]] = []
    seen = {rid}
    current: str | None = parent_id
    while current and current not in seen:
        seen.add(current)
        parent = archive.get(current)
        if parent is None or parent.withdrawn:
            break
        pcho = URIRef(minter.item(current))
        breadcrumb.insert(0, {"id": current, "uri": str(pcho),
                              "title": title_of(parent.graph, pcho, preferred),
                              "level": str(next(iter(parent.graph.objects(pcho, MEM.level)), ""))})
        grand = next(iter(parent.graph.objects(pcho, DCTERMS.isPartOf)), None)
        current = minter.record_id_of(str(grand)) if grand is not None else None
    return breadcrumb


def read_for_view(archive: Archive, rid: str) -> Record | None:
    """Archive.get() for the pages: a record in the RDF store comes as a RecordGraph of its
    quads, not an rdflib graph (building that was a third of an item page's CPU)."""

    def store_graph(name: str) -> Graph:
        quads = archive.rdf.store.quads_for_pattern(None, None, None, ox.NamedNode(name))
        # RecordGraph answers the rdflib calls the views make (objects, subjects, triples)
        # in rdflib terms; the linked-data formats, which serialise, read Archive.get's graph.
        return cast(Graph, RecordGraph(q.triple for q in quads))  # the quads' own triples

    return archive.get(rid, from_store=store_graph)


def record_view(archive: Archive, record: Record, preferred: list[str]) -> dict[str, Any]:
    """Everything an item page shows about the record itself, as plain data (the JSON twin)."""
    minter: Minter = archive.minter
    g = record.graph
    cho = URIRef(minter.item(record.record_id))
    agg = next(iter(g.subjects(RDF.type, ORE.Aggregation)), None)
    titles = [o for o in g.objects(cho, DC.title) if isinstance(o, Literal)]
    fields: list[dict[str, Any]] = []
    for prop, label in FIELDS:
        nodes = list(g.objects(cho, prop))
        if not nodes:
            continue
        values = []
        for node in nodes:
            value = _value(g, node, preferred).__dict__
            value["search"] = value_search(g, prop, node)
            values.append(value)
        fields.append({"property": str(prop), "label": gettext(label),
                       "values": sorted(values, key=lambda v: v["text"])})
    parent_node = next(iter(g.objects(cho, DCTERMS.isPartOf)), None)
    parent_id = minter.record_id_of(str(parent_node)) if parent_node is not None else None
    breadcrumb = ancestors(archive, record.record_id, parent_id, preferred)
    prov = next(iter(g.subjects(RDF.type, PROV.Entity)), None)
    rights = str(next(iter(g.objects(agg, EDM.rights)), "")) if agg is not None else ""
    provider = str(next(iter(g.objects(agg, EDM.dataProvider)), "")) if agg else ""
    return {
        "id": record.record_id,
        "uri": str(cho),
        "version": record.version,
        "title": title_of(g, cho, preferred),
        "titles": [{"text": str(t), "lang": t.language} for t in sorted(titles, key=str)],
        "level": str(next(iter(g.objects(cho, MEM.level)), "")),
        "fields": fields,
        "rights": rights,
        "rights_label": rights_label(rights) if rights else "",
        "rights_search": search_url({"f.rights": rights}) if rights else "",
        "data_provider": provider,
        "data_provider_search": search_url({"f.provider": provider}) if provider else "",
        "provider": str(next(iter(g.objects(agg, EDM.provider)), "")) if agg else "",
        "images": _images(g, agg) if agg is not None else [],
        "breadcrumb": breadcrumb,
        "children": _child_rows(archive, record.record_id, preferred),
        "source": {
            "file": str(next(iter(g.objects(prov, DCTERMS.source)), "")) if prov else "",
            "position": str(next(iter(g.objects(prov, MEM.position)), "")) if prov else "",
        },
    }


def siblings(archive: Archive, view: dict[str, Any], preferred: list[str]) -> dict[str, Any]:
    """The previous and next record among the parent's parts (titles fetched for those two)."""
    out: dict[str, Any] = {"previous": None, "next": None, "position": None}
    if not view["breadcrumb"]:
        return out
    order = [cid for cid, _ in archive.children(view["breadcrumb"][-1]["id"])]
    if view["id"] not in order:
        return out
    at = order.index(view["id"])
    near = {key: order[idx] for key, idx in (("previous", at - 1), ("next", at + 1))
            if 0 <= idx < len(order)}
    titles = titles_of(archive, list(near.values()), preferred)
    for key, other in near.items():
        if other in titles:
            out[key] = {"id": other, "title": titles[other]}
    out["position"] = {"index": at + 1, "total": len(order)}
    return out


def _hit_title(source: dict[str, Any], preferred: list[str]) -> str:
    titles: dict[str, list[str]] = source.get("title") or {}
    for lang in preferred:
        bucket = lang_bucket(lang, "")
        if titles.get(bucket):
            return titles[bucket][0]
    return str(source.get("title_display") or source.get("id") or "")


def search_document(archive: Archive, record: Record) -> dict[str, Any]:
    """The record's search document; made once per request (item pages read it twice).

    Raises ValueError for a graph without its ProvidedCHO, as record_document does.
    """
    if not has_request_context():
        return record_document(record.graph, record.record_id, archive.minter)
    # The graph is kept with its document, so its id cannot be reused within the request.
    made: dict[tuple[str, int], tuple[Graph, dict[str, Any]]] = g.setdefault(
        "memoria_documents", {})
    key = (record.record_id, id(record.graph))
    if key not in made:
        made[key] = (record.graph,
                     record_document(record.graph, record.record_id, archive.minter))
    return made[key][1]


def related_queries(archive: Archive, record: Record) -> list[SearchQuery]:
    """Queries for records sharing the creators, then the subjects, then the places."""
    try:
        doc = search_document(archive, record)
    except ValueError:
        return []
    out = []
    for facet in RELATED_BY:
        keys = [k for k in doc.get(facet) or [] if k][:10]
        if keys:
            out.append(SearchQuery(filters={facet: keys}, size=RELATED + 1, facets=False,
                                   highlight=False))
    return out


def related_items(archive: Archive, record: Record, preferred: list[str]) -> list[dict[str, Any]]:
    """Up to RELATED other records like this one, with thumbnails, from the search index.

    The index's stored documents carry title and thumbnail, so no record is read; the next
    query (subjects, then places) runs only while the closer kinship left places free.
    """
    if archive.index is None:
        return []
    out: list[dict[str, Any]] = []
    seen = {record.record_id}
    for query in related_queries(archive, record):
        try:
            result = archive.search(query)
        except Exception:  # noqa: BLE001 - a failing search engine must not take the page down
            return out
        for hit in result.hits:
            if hit.id in seen or len(out) >= RELATED:
                continue
            seen.add(hit.id)
            source = dict(hit.source or {})
            thumb = source.get("thumbnail")
            out.append({
                "id": hit.id,
                "title": _hit_title(source, preferred),
                "date": source.get("date_label"),
                "thumbnail": (f"{archive.minter.image_service(thumb)}/full/!200,200/0/default.jpg"
                              if thumb else None),
            })
        if len(out) >= RELATED:
            break
    return out
