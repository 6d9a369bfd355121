"""Every page has a JSON twin: the same data, asked for with ?format=json or Accept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    g,
    has_request_context,
    jsonify,
    render_template,
    request,
    url_for,
)

from archive.service import Archive, Record


def wants_json() -> bool:
    """Whether the request asks for the page's JSON twin rather than HTML."""
    if request.args.get("format") == "json":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def render_page(template: str, data: dict[str, Any], **context: Any) -> Response:
    """The page as HTML from `template`, or `data` as JSON when the reader asks for it."""
    if wants_json():
        resp = jsonify(data)
    else:
        resp = Response(render_template(template, data=data, **data, **context))
    resp.headers["Vary"] = "Accept"
    return resp


def get_archive() -> Archive:
    """The Archive attached to the current app."""
    archive: Archive = current_app.extensions["memoria"]
    return archive


def published_record(archive: Archive, rid: str,
                     read: Callable[[Archive, str], Record | None] | None = None) -> Record:
    """The record `rid` (read by `read`, Archive.get by default), or abort with 404 when it
    is unknown and 410 when it is withdrawn."""
    record = archive.get(rid) if read is None else read(archive, rid)
    if record is None:
        abort(404, description=f"no record {rid}")
    if record.withdrawn:
        abort(410, description=f"record {rid} has been withdrawn")
    return record


def item_url(name: str) -> str:
    """url_for("item", name=name), its base found once per request (pages link dozens)."""
    try:
        base, to_url = g.memoria_item_url
    except AttributeError:
        # The item route's own converter (<path:name>) quotes the name, as url_for would.
        url_map = current_app.url_map
        base, to_url = g.memoria_item_url = (url_for("item", name="_")[:-1],
                                             url_map.converters["path"](url_map).to_url)
    return str(base) + str(to_url(name))


def template_url_for(endpoint: str, **values: Any) -> str:
    """url_for for the templates, the URLs of static files and argument-free pages (a dozen a
    page, the same on every page) kept per app and script root."""
    app = current_app
    if (endpoint[:1] == "." or (values and values.keys() != {"filename"})
            or not has_request_context() or app.url_map.host_matching
            or app.config.get("SERVER_NAME")):  # then the host could make a URL external
        return url_for(endpoint, **values)
    key = (endpoint, values.get("filename"), request.script_root)
    kept: dict[tuple[str, Any, str], str] = app.extensions.setdefault("memoria_urls", {})
    try:
        return kept[key]
    except KeyError:
        url = kept[key] = url_for(endpoint, **values)
        return url
