"""Flask blueprint: IIIF manifests, collections and the change stream, with CORS, ETag and gzip."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, g, request

from archive.ids import is_record_id
from archive.service import Archive
from iiif.changes import DEFAULT_PAGE_SIZE as DEFAULT_ACTIVITY_PAGE_SIZE
from iiif.changes import DISCOVERY_CONTEXT, build_stream
from iiif.collections import DEFAULT_PAGE_SIZE, build_collection
from iiif.cors import allow_any_origin
from iiif.presentation import (
    PRESENTATION_CONTEXT,
    ManifestCache,
    NoManifest,
    Rendered,
    manifest_url,
    may_have_manifest,
)

JSONLD = "application/ld+json"
# What a page embedding Mirador or UV needs: both style elements inline (React/MUI, jQuery UI,
# OpenSeadragon), and imported manifests show images and info.json from their own hosts.
VIEWER_CSP = ("default-src 'self'; style-src 'self' 'unsafe-inline'; "
              "img-src 'self' data: blob: https:; connect-src 'self' https:; "
              "font-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
              "frame-ancestors 'self'")
# Small bodies are not worth the CPU and the extra bytes of a gzip header.
GZIP_MIN_BYTES = 860


def content_state(manifest_url: str, canvas_url: str | None = None) -> str:
    """The IIIF Content State for a manifest (or a canvas in it), base64url-encoded, unpadded."""
    target: dict[str, Any] = {"id": manifest_url, "type": "Manifest"}
    if canvas_url:
        target = {"id": canvas_url, "type": "Canvas",
                  "partOf": [{"id": manifest_url, "type": "Manifest"}]}
    state = {"@context": PRESENTATION_CONTEXT, "id": f"{manifest_url}#content-state",
             "type": "Annotation", "motivation": ["contentState"], "target": target}
    raw = json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _media_type(profile: str) -> str:
    accept = request.headers.get("Accept", "")
    if JSONLD in accept and request.accept_mimetypes[JSONLD] > 0:
        return f'{JSONLD};profile="{profile}"'
    return "application/json"


def _wants_gzip() -> bool:
    return request.accept_encodings["gzip"] > 0


def _send(rendered: Rendered, profile: str, max_age: int) -> Response:
    mimetype = _media_type(profile)
    gz = _wants_gzip() and len(rendered.body) >= GZIP_MIN_BYTES
    # One representation per (media type, encoding), so each gets its own strong tag.
    variant = ("ld" if mimetype.startswith(JSONLD) else "js") + ("-gz" if gz else "")
    etag = f"{rendered.etag}-{variant}"
    if request.if_none_match and request.if_none_match.contains(etag):
        resp = Response(status=304)
    else:
        resp = Response(rendered.gzipped if gz else rendered.body, content_type=mimetype)
        if gz:
            resp.headers["Content-Encoding"] = "gzip"
    resp.set_etag(etag)
    resp.vary.add("Accept")
    resp.vary.add("Accept-Encoding")
    resp.cache_control.public = True
    resp.cache_control.max_age = max_age
    return resp


def _problem(message: str, status: int) -> Response:
    body = json.dumps({"error": message, "status": status}, ensure_ascii=False)
    resp = Response(body, status=status, content_type="application/json")
    resp.cache_control.max_age = 60
    return resp


def create_presentation_blueprint(
    get_archive: Callable[[], Archive],
    *,
    collection_page_size: int = DEFAULT_PAGE_SIZE,
    activity_page_size: int = DEFAULT_ACTIVITY_PAGE_SIZE,
    cache: ManifestCache | None = None,
    max_age: int = 60,
    name: str = "iiif_presentation",
) -> Blueprint:
    """Blueprint for /iiif/3/manifest/<id>, /iiif/3/collection[/<id>] and /iiif/3/activity/..."""
    manifests = cache or ManifestCache()
    bp = Blueprint(name, __name__)
    bp.manifest_cache = manifests  # type: ignore[attr-defined]

    @bp.after_request
    def cors(resp: Response) -> Response:
        return allow_any_origin(resp, "ETag, Content-Type, Vary")

    @bp.app_template_global("iiif_content_state")
    def iiif_content_state(manifest: str, canvas: str | None = None) -> str:
        return content_state(manifest, canvas)

    @bp.app_template_global("iiif_manifest_url")
    def iiif_manifest_url(rid: str) -> str | None:
        # A page that asks for a viewer gets the policy the viewers need (see VIEWER_CSP).
        archive = get_archive()
        if not may_have_manifest(archive, rid):
            return None
        try:
            manifests.get(archive, rid)
        except NoManifest:
            return None
        g.memoria_viewer = True
        return manifest_url(archive.minter, rid)

    @bp.after_app_request
    def viewer_policy(resp: Response) -> Response:
        # Runs before the app's own security headers, which only fill in what is unset.
        if g.get("memoria_viewer"):
            resp.headers["Content-Security-Policy"] = VIEWER_CSP
        return resp

    @bp.route("/iiif/3/manifest/<rid>", methods=["GET", "HEAD"])
    def manifest(rid: str) -> Response:
        if not is_record_id(rid):
            return _problem(f"{rid!r} is not a record id", 404)
        try:
            rendered = manifests.get(get_archive(), rid)
        except NoManifest as exc:
            return _problem(exc.message, exc.status)
        return _send(rendered, PRESENTATION_CONTEXT, max_age)

    def collection_response(rid: str | None, page: int | None) -> Response:
        if rid is not None and not is_record_id(rid):
            return _problem(f"{rid!r} is not a record id", 404)
        try:
            doc = build_collection(get_archive(), rid, page, collection_page_size)
        except NoManifest as exc:
            return _problem(exc.message, exc.status)
        return _send(Rendered.of(doc), PRESENTATION_CONTEXT, max_age)

    @bp.route("/iiif/3/collection", methods=["GET", "HEAD"])
    def top_collection() -> Response:
        return collection_response(None, None)

    @bp.route("/iiif/3/collection/page/<int:page>", methods=["GET", "HEAD"])
    def top_collection_page(page: int) -> Response:
        return collection_response(None, page)

    @bp.route("/iiif/3/collection/<rid>", methods=["GET", "HEAD"])
    def collection(rid: str) -> Response:
        return collection_response(rid, None)

    @bp.route("/iiif/3/collection/<rid>/page/<int:page>", methods=["GET", "HEAD"])
    def collection_page(rid: str, page: int) -> Response:
        return collection_response(rid, page)

    @bp.route("/iiif/3/activity/all-changes", methods=["GET", "HEAD"])
    def all_changes() -> Response:
        doc = build_stream(get_archive(), None, activity_page_size)
        return _send(Rendered.of(doc), DISCOVERY_CONTEXT, max_age)

    @bp.route("/iiif/3/activity/page/<int:page>", methods=["GET", "HEAD"])
    def activity_page(page: int) -> Response:
        try:
            doc = build_stream(get_archive(), page, activity_page_size)
        except NoManifest as exc:
            return _problem(exc.message, exc.status)
        return _send(Rendered.of(doc), DISCOVERY_CONTEXT, max_age)

    return bp


__all__ = ["VIEWER_CSP", "content_state", "create_presentation_blueprint"]
