"""The item page and its linked-data twins (Turtle, JSON-LD, RDF/XML, N-Triples, JSON)."""

from __future__ import annotations

from typing import Any

from flask import (
    Flask,
    Response,
    current_app,
    jsonify,
    render_template,
    request,
    url_for,
)

from archive.service import Archive, Record
from archive.site import citation, qr
from archive.site.i18n import preferred_languages
from archive.site.pages import get_archive, item_url, published_record, template_url_for
from archive.views import read_for_view, record_view, related_items, siblings
from archive.vocab import DC, DCTERMS, bind_prefixes
from iiif.presentation import manifest_url

# Linked-data serialisations by media type: (rdflib format, file extension).
RDF_FORMATS: dict[str, tuple[str, str]] = {
    "text/turtle": ("turtle", "ttl"),
    "application/ld+json": ("json-ld", "jsonld"),
    "application/rdf+xml": ("xml", "rdf"),
    "application/n-triples": ("nt", "nt"),
}
EXTENSIONS = {ext: media for media, (_, ext) in RDF_FORMATS.items()}


def _rdf_response(graph: Any, media_type: str) -> Response:
    fmt, _ = RDF_FORMATS[media_type]
    bind_prefixes(graph)
    body = graph.serialize(format=fmt, auto_compact=True) if fmt == "json-ld" else \
        graph.serialize(format=fmt)
    resp = Response(body, mimetype=media_type)
    resp.headers["Vary"] = "Accept"
    return resp


def _texts(view: dict[str, Any], prop: Any) -> list[dict[str, Any]]:
    return [v for f in view["fields"] if f["property"] == str(prop) for v in f["values"]]


def schema_org(view: dict[str, Any]) -> dict[str, Any]:
    """The page's schema.org description (embedded as JSON-LD for search engines)."""
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "ArchiveComponent",
        "@id": view["uri"],
        "url": view["uri"],
        "name": view["title"],
    }
    if descriptions := _texts(view, DC.description):
        data["description"] = descriptions[0]["text"]
    if creators := _texts(view, DC.creator):
        data["creator"] = [{"@type": "Thing", "name": v["text"]} for v in creators]
    if dates := _texts(view, DCTERMS.created) or _texts(view, DC.date):
        data["dateCreated"] = dates[0]["text"]
    if subjects := _texts(view, DC.subject):
        data["about"] = [v["text"] for v in subjects]
    places = []
    for v in _texts(view, DCTERMS.spatial):
        place: dict[str, Any] = {"@type": "Place", "name": v["text"]}
        if v.get("lat") is not None:
            place["geo"] = {"@type": "GeoCoordinates", "latitude": v["lat"],
                            "longitude": v["long"]}
        places.append(place)
    if places:
        data["contentLocation"] = places
    if view["rights"]:
        data["license"] = view["rights"]
    if view["data_provider"]:
        data["holdingArchive"] = {"@type": "ArchiveOrganization", "name": view["data_provider"]}
    if view["breadcrumb"]:
        parent = view["breadcrumb"][-1]
        data["isPartOf"] = {"@id": parent["uri"], "name": parent["title"]}
    if view["images"]:
        data["image"] = [f"{img['service']}/full/max/0/default.jpg" for img in view["images"]]
    return data


def item_view(archive: Archive, record: Record, preferred: list[str]) -> dict[str, Any]:
    """The item page's data: the record's view plus its neighbours, citations and links."""
    view = record_view(archive, record, preferred)
    rid = record.record_id
    view.update(siblings(archive, view, preferred))
    view["related"] = related_items(archive, record, preferred)
    view["citation"] = citation.citations(citation.item_citable(archive, record, preferred, view))
    view["links"] = {
        "manifest": (manifest_url(archive.minter, rid)
                     if view["images"] or view["children"] else None),
        "linked_data": {ext: item_url(f"{rid}.{ext}") for _, (_, ext) in RDF_FORMATS.items()},
        "json": item_url(f"{rid}.json"),
        "citation": {fmt: url_for("item_citation", name=rid, fmt=fmt)
                     for fmt in citation.MEDIA_TYPES},
        "qr": {fmt: url_for("item_qr", name=rid, fmt=fmt) for fmt in qr.MEDIA_TYPES},
        "labels": url_for("labels", id=rid) if "labels" in current_app.view_functions else None,
    }
    view["schema_org"] = schema_org(view)
    return view


def register(app: Flask) -> None:
    """Attach the item page, its citations and its QR codes."""
    citation.register(app)
    qr.register(app)
    app.add_template_global(item_url)
    app.jinja_env.globals["url_for"] = template_url_for

    @app.get("/item/<path:name>", endpoint="item")
    def item(name: str) -> Any:
        rid, ext = name, ""
        stem, dot, suffix = name.rpartition(".")
        if dot and (suffix in EXTENSIONS or suffix == "json"):
            rid, ext = stem, suffix
        archive = get_archive()
        best = request.accept_mimetypes.best_match(["text/html", *RDF_FORMATS, "application/json"])
        if ext in EXTENSIONS or (not ext and best in RDF_FORMATS):
            record = published_record(archive, rid)  # an rdflib graph, to serialise
            return _rdf_response(record.graph, EXTENSIONS[ext] if ext else str(best))
        record = published_record(archive, rid, read_for_view)
        if ext == "json":
            return jsonify(item_view(archive, record, preferred_languages()))
        if best == "application/json":
            return jsonify(item_view(archive, record, preferred_languages()))
        view = item_view(archive, record, preferred_languages())
        resp = Response(render_template("item.html", record=view,
                                        formats=[(m, e) for m, (_, e) in RDF_FORMATS.items()]))
        resp.headers["Vary"] = "Accept"
        resp.headers["Link"] = ", ".join(
            f'<{view["uri"]}.{e}>; rel="alternate"; type="{m}"' for m, (_, e) in RDF_FORMATS.items()
        )
        return resp
