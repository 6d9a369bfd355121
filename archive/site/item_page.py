"""The item page and its linked-data twins (Turtle, JSON-LD, RDF/XML, N-Triples, JSON)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, abort, jsonify, render_template, request

from archive.site.i18n import preferred_languages
from archive.site.pages import get_archive
from archive.views import record_view
from archive.vocab import bind_prefixes

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


def register(app: Flask) -> None:
    """Attach the item page."""

    @app.get("/item/<path:name>", endpoint="item")
    def item(name: str) -> Any:
        rid, ext = name, ""
        stem, dot, suffix = name.rpartition(".")
        if dot and (suffix in EXTENSIONS or suffix == "json"):
            rid, ext = stem, suffix
        archive = get_archive()
        record = archive.get(rid)
        if record is None:
            abort(404, description=f"no record {rid}")
        if record.withdrawn:
            abort(410, description=f"record {rid} has been withdrawn")
        if ext == "json":
            return jsonify(record_view(archive, record, preferred_languages()))
        if ext:
            return _rdf_response(record.graph, EXTENSIONS[ext])
        best = request.accept_mimetypes.best_match(["text/html", *RDF_FORMATS, "application/json"])
        if best in RDF_FORMATS:
            return _rdf_response(record.graph, best)
        if best == "application/json":
            return jsonify(record_view(archive, record, preferred_languages()))
        view = record_view(archive, record, preferred_languages())
        resp = Response(render_template("item.html", record=view,
                                        formats=[(m, e) for m, (_, e) in RDF_FORMATS.items()]))
        resp.headers["Vary"] = "Accept"
        resp.headers["Link"] = ", ".join(
            f'<{view["uri"]}.{e}>; rel="alternate"; type="{m}"' for m, (_, e) in RDF_FORMATS.items()
        )
        return resp
