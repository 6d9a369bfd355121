"""IIIF Presentation 3.0 manifests built from a record's EDM graph (with iiif-prezi3), cached."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from iiif_prezi3 import Manifest
from pydantic import ValidationError
from rdflib import Graph, Literal, URIRef
from rdflib.term import Node

from archive.ids import Minter
from archive.service import Archive, Record
from archive.storage import StorageError
from archive.views import FIELDS, title_of
from archive.vocab import (
    DC,
    DCTERMS,
    EBUCORE,
    EDM,
    MEM,
    ORE,
    RDF,
    SKOS,
    SVCS,
    WGS84,
)

log = logging.getLogger(__name__)

PRESENTATION_CONTEXT = "http://iiif.io/api/presentation/3/context.json"
NAVPLACE_CONTEXT = "http://iiif.io/api/extension/navplace/context.json"
IMAGE2_PROFILE = "http://iiif.io/api/image/2/level2.json"
SOURCE_JSON = ("source/record.json", "source/record.jsonld")
THUMBNAIL_SIZE = 400
# The official schema accepts only these rights URIs, over http (their canonical form).
_RIGHTS = re.compile(r"https?://(creativecommons\.org/(?:licenses|publicdomain)/|"
                     r"rightsstatements\.org/vocab/)(.+)")
_SUBTAG = re.compile(r"[A-Za-z0-9]+")
_LABEL_EN = {"en": ["Attribution"]}


class NoManifest(LookupError):
    """A record that has no manifest (unknown, withdrawn, or without images)."""

    def __init__(self, message: str, status: int = 404) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class ImageView:
    """One image of a record, in the order it is shown."""

    uri: str
    order: int
    image_id: str | None
    service: str | None
    width: int | None
    height: int | None
    media_type: str | None
    services: list[dict[str, Any]] = field(default_factory=list)


def lang_key(tag: str | None) -> str:
    """A BCP 47 tag in its conventional case (zh-hans -> zh-Hans), or "none" when unknown."""
    if not tag:
        return "none"
    parts = tag.split("-")
    out = [parts[0].lower()]
    for part in parts[1:]:
        if not _SUBTAG.fullmatch(part):
            return "none"
        if len(part) == 4 and part.isalpha():
            out.append(part.title())
        elif len(part) == 2 and part.isalpha():
            out.append(part.upper())
        else:
            out.append(part.lower())
    return "-".join(out)


def language_map(literals: Iterable[Node]) -> dict[str, list[str]]:
    """A IIIF language map from literals: one key per language, "none" for untagged ones."""
    out: dict[str, list[str]] = {}
    for lit in sorted((x for x in literals if isinstance(x, Literal)),
                      key=lambda x: (x.language or "", str(x))):
        values = out.setdefault(lang_key(lit.language), [])
        if str(lit) not in values:
            values.append(str(lit))
    return out


def _merge(into: dict[str, list[str]], more: dict[str, list[str]]) -> None:
    for key, values in more.items():
        have = into.setdefault(key, [])
        have.extend(v for v in values if v not in have)


def _one(g: Graph, s: Node, p: URIRef) -> Node | None:
    return next(iter(g.objects(s, p)), None)


def _int(node: Node | None) -> int | None:
    try:
        return int(str(node)) if node is not None else None
    except ValueError:
        return None


def rights_uri(uri: str) -> str | None:
    """The rights URI in the form the Presentation schema accepts, or None if it has none."""
    m = _RIGHTS.fullmatch(uri.strip())
    return f"http://{m.group(1)}{m.group(2)}" if m else None


def _value_map(g: Graph, node: Node) -> dict[str, list[str]]:
    if isinstance(node, Literal):
        return language_map([node])
    labels = language_map(g.objects(node, SKOS.prefLabel))
    return labels or {"none": [str(node)]}


def record_images(g: Graph, agg: Node | None) -> list[ImageView]:
    """The record's edm:isShownBy / edm:hasView web resources, in mem:order."""
    if agg is None:
        return []
    resources = {*g.objects(agg, EDM.isShownBy), *g.objects(agg, EDM.hasView)}
    if not resources:
        return []
    # One pass over the graph: a thousand-page book would otherwise cost ~8,000 lookups.
    wanted = {MEM.imageId, SVCS.has_service, EBUCORE.hasMimeType, MEM.order, EBUCORE.width,
              EBUCORE.height}
    props: dict[Node, dict[Node, Node]] = {r: {} for r in resources}
    for s, p, o in g:
        if p in wanted and s in props:
            props[s].setdefault(p, o)
    out = []
    for res, values in props.items():
        image_id = values.get(MEM.imageId)
        service = values.get(SVCS.has_service)
        media = values.get(EBUCORE.hasMimeType)
        out.append(ImageView(
            uri=str(res), order=_int(values.get(MEM.order)) or 0,
            image_id=str(image_id) if image_id is not None else None,
            service=str(service) if service is not None else None,
            width=_int(values.get(EBUCORE.width)), height=_int(values.get(EBUCORE.height)),
            media_type=str(media) if media is not None else None,
        ))
    return sorted(out, key=lambda i: (i.order, i.uri))


def _iiif_context(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    ctx = doc.get("@context")
    values = ctx if isinstance(ctx, list) else [ctx]
    return any(isinstance(c, str) and "iiif.io/api/presentation" in c for c in values)


def _v3_service(svc: dict[str, Any]) -> dict[str, Any] | None:
    """A remote image service as a v3 manifest carries it (v2 ones keep @id/@type)."""
    sid = svc.get("id") or svc.get("@id")
    if not isinstance(sid, str) or not sid.startswith("http"):
        return None
    kind = svc.get("type") or svc.get("@type") or ""
    context = str(svc.get("@context", ""))
    profile = svc.get("profile")
    if isinstance(profile, list):
        profile = next((p for p in profile if isinstance(p, str)), None)
    if kind in ("ImageService3", "ImageService1") or (not kind and "image/3" in context):
        out = {"id": sid, "type": kind or "ImageService3"}
        if isinstance(profile, str):
            out["profile"] = profile
        return out
    if kind == "ImageService2" or "image/2" in context or "image/1" in context \
            or "iiif.io/api/image/2" in str(profile):
        return {"@id": sid, "@type": "ImageService2",
                "profile": profile if isinstance(profile, str) else IMAGE2_PROFILE}
    return None


def _walk_bodies(doc: dict[str, Any]) -> Iterable[tuple[dict[str, Any], dict[str, Any]]]:
    """(canvas, painted body) pairs of a v2 or v3 manifest."""
    canvases = doc.get("items")
    if not isinstance(canvases, list):
        sequences = doc.get("sequences") or [{}]
        canvases = sequences[0].get("canvases") if isinstance(sequences[0], dict) else []
    for canvas in canvases or []:
        if not isinstance(canvas, dict):
            continue
        bodies: list[Any] = [a.get("resource") for a in canvas.get("images") or []
                             if isinstance(a, dict)]
        for page in canvas.get("items") or []:
            for anno in (page.get("items") or []) if isinstance(page, dict) else []:
                if isinstance(anno, dict):
                    body = anno.get("body")
                    bodies += body if isinstance(body, list) else [body]
        for body in bodies:
            if isinstance(body, dict) and body.get("type", body.get("@type")) in ("Choice",
                                                                                  "oa:Choice"):
                body = body.get("default") or (body.get("items") or [None])[0]
            if isinstance(body, dict):
                yield canvas, body


def source_services(archive: Archive, rid: str) -> dict[str, tuple[list[dict[str, Any]],
                                                                   int | None, int | None]]:
    """For a record imported from a IIIF manifest: image URL -> (its services, width, height)."""
    try:
        path = next((p for p in SOURCE_JSON if p in archive.storage.state(rid)), None)
        if path is None:
            return {}
        doc = json.loads(archive.storage.read(rid, path))
    except (StorageError, ValueError, OSError):
        return {}
    if not _iiif_context(doc):
        return {}
    out: dict[str, tuple[list[dict[str, Any]], int | None, int | None]] = {}
    for canvas, body in _walk_bodies(doc):
        url = body.get("id") or body.get("@id")
        if not isinstance(url, str) or url in out:
            continue
        raw = body.get("service")
        raw_list = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
        services = [s for s in (_v3_service(x) for x in raw_list if isinstance(x, dict)) if s]
        width = _int(body.get("width")) or _int(canvas.get("width"))
        height = _int(body.get("height")) or _int(canvas.get("height"))
        out[url] = (services, width, height)
    return out


def _local_services(minter: Minter, image: ImageView) -> list[dict[str, Any]]:
    assert image.image_id is not None
    return [
        {"id": image.service or minter.image_service(image.image_id), "type": "ImageService3",
         "profile": "level2"},
        {"@id": f"{minter.base_url}/iiif/2/{image.image_id}", "@type": "ImageService2",
         "profile": IMAGE2_PROFILE},
    ]


def _service_base(services: list[dict[str, Any]]) -> str | None:
    for svc in services:
        sid = svc.get("id") or svc.get("@id")
        if isinstance(sid, str):
            return sid.rstrip("/")
    return None


def _thumbnail(image: ImageView) -> dict[str, Any]:
    w, h = image.width or 0, image.height or 0
    base = _service_base(image.services)
    if base and w and h:
        scale = min(1.0, THUMBNAIL_SIZE / max(w, h))
        tw, th = max(1, round(w * scale)), max(1, round(h * scale))
        return {"id": f"{base}/full/{tw},/0/default.jpg", "type": "Image",
                "format": "image/jpeg", "width": tw, "height": th, "service": image.services}
    thumb: dict[str, Any] = {"id": image.uri, "type": "Image",
                             "format": image.media_type or "image/jpeg"}
    if image.services:
        thumb["service"] = image.services
    return thumb


def _canvas(manifest_id: str, key: str, image: ImageView,
            label: dict[str, list[str]]) -> dict[str, Any]:
    # Built as plain dicts: pydantic models for every canvas cost ~0.5 ms each, which a
    # 1,000-page book cannot afford; tests load every manifest back through iiif-prezi3.
    canvas_id = f"{manifest_id}/canvas/{key}"
    body: dict[str, Any] = {"id": image.uri, "type": "Image",
                            "format": image.media_type or "image/jpeg",
                            "width": image.width, "height": image.height}
    if image.services:
        body["service"] = image.services
    return {
        "id": canvas_id, "type": "Canvas", "label": label,
        "width": image.width, "height": image.height,
        "items": [{"id": f"{canvas_id}/page", "type": "AnnotationPage", "items": [{
            "id": f"{canvas_id}/page/image", "type": "Annotation", "motivation": "painting",
            "body": body, "target": canvas_id,
        }]}],
    }


@dataclass
class _Part:
    """The images a manifest shows for one record (itself, or one child)."""

    record_id: str
    label: dict[str, list[str]]
    images: list[ImageView]
    canvas_ids: list[str] = field(default_factory=list)


def _label_of(g: Graph, cho: URIRef) -> dict[str, list[str]]:
    titles = language_map(g.objects(cho, DC.title))
    return titles or {"none": [title_of(g, cho, ["en"])]}


def _images_for(archive: Archive, record: Record) -> list[ImageView]:
    g = record.graph
    agg = next(iter(g.subjects(RDF.type, ORE.Aggregation)), None)
    images = record_images(g, agg)
    remote = [i for i in images if i.image_id is None]
    remote_info = source_services(archive, record.record_id) if remote else {}
    kept = []
    for image in images:
        if image.image_id is not None:
            image.services = _local_services(archive.minter, image)
        else:
            services, width, height = remote_info.get(image.uri, ([], None, None))
            if services:
                image.services = services
            elif image.service:
                image.services = [{"id": image.service, "type": "ImageService3",
                                   "profile": "level0"}]
            image.width = image.width or width
            image.height = image.height or height
        if not image.width or not image.height:
            log.warning("%s: image %s has no size; left out of the manifest",
                        record.record_id, image.uri)
            continue
        kept.append(image)
    return kept


def manifest_url(minter: Minter, rid: str) -> str:
    """The stable URL of a record's manifest."""
    return f"{minter.base_url}/iiif/3/manifest/{rid}"


def collection_url(minter: Minter, rid: str | None = None) -> str:
    """The URL of a record's IIIF collection, or of the top collection."""
    top = f"{minter.base_url}/iiif/3/collection"
    return f"{top}/{rid}" if rid else top


def _parts(archive: Archive, record: Record) -> tuple[list[_Part], list[tuple[str, str]]]:
    """The record's own images, then each child's (in archival order); and child versions."""
    minter = archive.minter
    cho = URIRef(minter.item(record.record_id))
    parts = [_Part(record.record_id, _label_of(record.graph, cho), _images_for(archive, record))]
    versions: list[tuple[str, str]] = []
    for child_id, _order in archive.children(record.record_id):
        child = archive.get(child_id)
        if child is None or child.withdrawn:
            continue
        versions.append((child_id, child.version))
        images = _images_for(archive, child)
        if images:
            parts.append(_Part(child_id, _label_of(child.graph, URIRef(minter.item(child_id))),
                               images))
    return parts, versions


def _metadata(g: Graph, cho: URIRef) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, list[str]]] = {}
    for prop, label in FIELDS:
        if prop == DC.description:
            continue  # it is the summary
        for node in g.objects(cho, prop):
            _merge(rows.setdefault(label, {}), _value_map(g, node))
    return [{"label": {"en": [label]}, "value": value} for label, value in rows.items()]


def _nav_date(g: Graph, cho: URIRef) -> str | None:
    for prop in (DCTERMS.created, DC.date, DCTERMS.temporal):
        for span in g.objects(cho, prop):
            year = _int(_one(g, span, MEM.beginYear))
            if year is not None and 1 <= year <= 9999:
                return f"{year:04d}-01-01T00:00:00Z"
    return None


def _nav_place(g: Graph, cho: URIRef, manifest_id: str) -> dict[str, Any] | None:
    features: list[dict[str, Any]] = []
    for place in g.objects(cho, DCTERMS.spatial):
        lat, long = _one(g, place, WGS84.lat), _one(g, place, WGS84.long)
        if lat is None or long is None:
            continue
        try:
            point = [float(str(long)), float(str(lat))]
        except ValueError:
            continue
        feature: dict[str, Any] = {
            "id": f"{manifest_id}/feature/{len(features) + 1}", "type": "Feature",
            "properties": {}, "geometry": {"type": "Point", "coordinates": point},
        }
        labels = language_map(g.objects(place, SKOS.prefLabel))
        if labels:
            feature["properties"]["label"] = labels
        features.append(feature)
    if not features:
        return None
    return {"id": f"{manifest_id}/feature-collection", "type": "FeatureCollection",
            "features": features}


def _header(archive: Archive, record: Record, manifest_id: str, label: dict[str, list[str]],
            thumbnail: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest's descriptive properties, through iiif-prezi3's validated model."""
    minter = archive.minter
    g = record.graph
    rid = record.record_id
    cho = URIRef(minter.item(rid))
    agg = next(iter(g.subjects(RDF.type, ORE.Aggregation)), None)
    item = minter.item(rid)
    fields: dict[str, Any] = {
        "id": manifest_id,
        "label": label,
        "homepage": [{"id": item, "type": "Text", "label": label, "format": "text/html"}],
        "seeAlso": [
            {"id": f"{item}.ttl", "type": "Dataset", "label": {"en": ["Record (Turtle)"]},
             "format": "text/turtle", "profile": "http://www.europeana.eu/schemas/edm/"},
            {"id": f"{item}.jsonld", "type": "Dataset", "label": {"en": ["Record (JSON-LD)"]},
             "format": "application/ld+json", "profile": "http://www.europeana.eu/schemas/edm/"},
        ],
        "provider": [{
            "id": f"{minter.base_url}/", "type": "Agent",
            "label": {"none": [archive.settings.provider]},
            "homepage": [{"id": f"{minter.base_url}/", "type": "Text",
                          "label": {"none": [archive.settings.provider]},
                          "format": "text/html"}],
        }],
    }
    summary = language_map(g.objects(cho, DC.description))
    if summary:
        fields["summary"] = summary
    metadata = _metadata(g, cho)
    rights = str(_one(g, agg, EDM.rights) or "") if agg is not None else ""
    if rights:
        if rights_uri(rights):
            fields["rights"] = rights_uri(rights)
        else:
            metadata.append({"label": {"en": ["Rights"]}, "value": {"none": [rights]}})
    if metadata:
        fields["metadata"] = metadata
    data_provider = _one(g, agg, EDM.dataProvider) if agg is not None else None
    if data_provider is not None:
        fields["requiredStatement"] = {"label": _LABEL_EN, "value": _value_map(g, data_provider)}
    if thumbnail:
        fields["thumbnail"] = [thumbnail]
    nav_date = _nav_date(g, cho)
    if nav_date:
        fields["navDate"] = nav_date
    parent = _one(g, cho, DCTERMS.isPartOf)
    parent_id = minter.record_id_of(str(parent)) if parent is not None else None
    if parent_id:
        fields["partOf"] = [{"id": collection_url(minter, parent_id), "type": "Collection"}]
    edm_type = str(_one(g, cho, EDM.type) or "")
    try:
        header = Manifest(**fields).jsonld_dict()
    except ValidationError as exc:
        # Serve what the graph says rather than fail the request; the schema tests watch this.
        log.warning("%s: iiif-prezi3 refused the manifest header: %s", rid, exc)
        header = {"@context": PRESENTATION_CONTEXT, "type": "Manifest", **fields}
    # navPlace is the navPlace extension's, which the core model does not know.
    nav_place = _nav_place(g, cho, manifest_id)
    if nav_place:
        header["@context"] = [NAVPLACE_CONTEXT, PRESENTATION_CONTEXT]
        header["navPlace"] = nav_place
    header = _plain(header)
    if nav_date:
        header["navDate"] = nav_date  # the model dump writes datetimes in Python's own form
    header["_edm_type"] = edm_type
    return header


def _plain(value: Any) -> Any:
    """JSON-ready values (the model dump keeps URL objects)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def may_have_manifest(archive: Archive, rid: str) -> bool:
    """False only when neither the record nor its parts link an image (so no manifest).

    One ASK on the RDF store's indexes: a page that merely links the manifest need not build
    it, and building a series' manifest reads every part (hundreds of records)."""
    if not archive.derives:
        return True
    cho = f"<{archive.minter.item(rid)}>"
    answer = archive.rdf.query(
        "PREFIX edm: <http://www.europeana.eu/schemas/edm/> "
        "PREFIX dcterms: <http://purl.org/dc/terms/> "
        f"ASK {{ {{ ?agg edm:aggregatedCHO {cho} . ?agg edm:isShownBy|edm:hasView ?r }} "
        f"UNION {{ ?part dcterms:isPartOf {cho} . ?pagg edm:aggregatedCHO ?part . "
        "?pagg edm:isShownBy|edm:hasView ?pr } }")
    return bool(answer)


def build_manifest(record: Record, archive: Archive) -> dict[str, Any]:
    """The IIIF Presentation 3.0 manifest of a record; NoManifest if it has no images."""
    return _build(record, archive)[0]


def _build(record: Record, archive: Archive) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    rid = record.record_id
    if record.withdrawn:
        raise NoManifest(f"record {rid} has been withdrawn", 410)
    minter = archive.minter
    manifest_id = manifest_url(minter, rid)
    parts, child_versions = _parts(archive, record)
    if not any(p.images for p in parts):
        raise NoManifest(f"record {rid} has no images, so it has no IIIF manifest "
                         f"(see {minter.item(rid)})")
    canvases = []
    seen: set[str] = set()
    for part in parts:
        many = len(part.images) > 1
        for n, image in enumerate(part.images, 1):
            key = image.image_id or f"{part.record_id}-p{image.order or n}"
            if key in seen:
                continue
            seen.add(key)
            if part.record_id == rid:
                label = {"none": [str(n)]} if many or len(parts) > 1 else part.label
            else:
                label = {k: [f"{v[0]} ({n})" if many else v[0]] for k, v in part.label.items()}
            canvas = _canvas(manifest_id, key, image, label)
            part.canvas_ids.append(canvas["id"])
            canvases.append(canvas)
    first = next(i for p in parts for i in p.images)
    doc = _header(archive, record, manifest_id, parts[0].label, _thumbnail(first))
    edm_type = doc.pop("_edm_type")
    if edm_type == "TEXT" and len(parts[0].images) > 1:
        doc["behavior"] = ["paged"]
    doc["items"] = canvases
    ranges = [
        {"id": f"{manifest_id}/range/{p.record_id}", "type": "Range", "label": p.label,
         "items": [{"id": c, "type": "Canvas"} for c in p.canvas_ids]}
        for p in parts[1:] if p.canvas_ids
    ]
    if ranges:
        doc["structures"] = ranges
    if isinstance(doc.get("@context"), str):
        doc["@context"] = PRESENTATION_CONTEXT
    return _ordered(doc), child_versions


_ORDER = ("@context", "id", "type", "label", "summary", "metadata", "requiredStatement",
          "rights", "provider", "homepage", "seeAlso", "partOf", "thumbnail", "navDate",
          "navPlace", "behavior", "items", "structures")


def _ordered(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: doc[k] for k in _ORDER if k in doc}
    out.update({k: v for k, v in doc.items() if k not in out})
    return out


@dataclass
class Rendered:
    """A manifest or collection ready to send: its JSON bytes, gzip bytes and entity tag."""

    doc: dict[str, Any]
    body: bytes
    etag: str
    _gzipped: bytes | None = None

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Rendered:
        """Serialise a document once."""
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(doc, body, hashlib.sha256(body).hexdigest()[:32])

    @property
    def gzipped(self) -> bytes:
        """The body compressed with gzip (made once, on first use)."""
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self._gzipped


class ManifestCache:
    """Built manifests by record id, valid while the record and its children keep their versions."""

    def __init__(self, capacity: int = 512) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[str, list[tuple[str, str]], Rendered]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def _fresh(self, archive: Archive, rid: str, version: str,
               children: list[tuple[str, str]]) -> bool:
        if archive.storage.head(rid) != version:
            return False
        now = [c for c, _ in archive.children(rid)]
        if now != [c for c, _ in children]:
            return False
        return all(archive.storage.head(c) == v for c, v in children)

    def get(self, archive: Archive, rid: str) -> Rendered:
        """The rendered manifest of a record, rebuilt when its storage version changed."""
        with self._lock:
            entry = self._items.get(rid)
        if entry is not None and self._fresh(archive, rid, entry[0], entry[1]):
            with self._lock:
                self._items.move_to_end(rid)
                self.hits += 1
            return entry[2]
        record = archive.get(rid)
        if record is None:
            raise NoManifest(f"no record {rid}")
        doc, children = _build(record, archive)
        rendered = Rendered.of(doc)
        with self._lock:
            self.misses += 1
            self._items[rid] = (record.version, children, rendered)
            self._items.move_to_end(rid)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return rendered

    def clear(self) -> None:
        """Forget every cached manifest."""
        with self._lock:
            self._items.clear()


__all__ = ["ManifestCache", "NoManifest", "Rendered", "build_manifest", "collection_url",
           "lang_key", "language_map", "manifest_url", "may_have_manifest", "record_images",
           "rights_uri", "source_services"]
