"""Flask blueprint serving the IIIF Image API 3.0 and 2.1 from pre-built pyramids."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from flask import Blueprint, Response, request

from iiif.cache import DerivativeCache
from iiif.cors import allow_any_origin
from iiif.image_request import (
    BadRequest,
    IIIFError,
    Limits,
    NotFound,
    Version,
    parse_request,
)
from iiif.info import context_uri, info_json, profile_uri
from iiif.pyramid import PYRAMID_FILE, Pyramid, PyramidError, open_pyramid
from iiif.render import MEDIA_TYPES, encode, passthrough_tile, render_image

log = logging.getLogger(__name__)

# Conservative on purpose: no '/', '%', '\\', NUL or leading dot ever reaches a resolver.
DEFAULT_IDENTIFIER_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._~:-]{0,199}"
_VERSIONS = 'any("2", "3")'


class _PyramidCache:
    """Open pyramids keyed by path, reopened when the file on disk is replaced."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[tuple[int, int], Pyramid]] = OrderedDict()

    def get(self, directory: Path) -> Pyramid:
        path = directory / PYRAMID_FILE
        try:
            st = os.stat(path)
        except OSError as exc:
            raise PyramidError(f"no pyramid at {directory}") from exc
        stamp = (st.st_ino, st.st_mtime_ns)
        key = str(path)
        with self._lock:
            item = self._items.get(key)
            if item is not None and item[0] == stamp:
                self._items.move_to_end(key)
                return item[1]
        pyramid = open_pyramid(directory)
        with self._lock:
            self._items[key] = (stamp, pyramid)
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return pyramid


def directory_resolver(root: Path) -> Callable[[str], Path | None]:
    """A resolver mapping identifier -> root/identifier that refuses symlinks and escapes."""
    base = Path(root).resolve()

    def resolve(identifier: str) -> Path | None:
        if "/" in identifier or "\\" in identifier or "\x00" in identifier:
            return None
        if identifier in ("", ".", ".."):
            return None
        candidate = base / identifier
        try:
            if candidate.is_symlink() or (candidate / PYRAMID_FILE).is_symlink():
                return None
            real = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if real.parent != base or not real.is_dir():
            return None
        return real

    return resolve


def create_image_blueprint(
    resolve: Callable[[str], Path | None],
    *,
    base_url: Callable[[], str],
    cache: DerivativeCache | None = None,
    limits: Limits | None = None,
    identifier_pattern: str = DEFAULT_IDENTIFIER_PATTERN,
    max_age: int = 86400,
    jpeg_quality: int = 85,
    open_pyramids: int = 256,
    name: str = "iiif_image",
) -> Blueprint:
    """Blueprint for /iiif/3/... and /iiif/2/...; base_url() is the public app root URL."""
    limits = limits or Limits()
    id_re = re.compile(identifier_pattern)
    pyramids = _PyramidCache(open_pyramids)
    bp = Blueprint(name, __name__)

    def service_id(version: str, identifier: str) -> str:
        return f"{base_url().rstrip('/')}/iiif/{version}/{quote(identifier, safe='')}"

    def check_identifier(identifier: str) -> str:
        if len(identifier) > 200 or not id_re.fullmatch(identifier) or ".." in identifier:
            raise BadRequest("invalid identifier", "identifier")
        return identifier

    def load(identifier: str) -> Pyramid:
        try:
            directory = resolve(identifier)
        except (OSError, ValueError, KeyError, LookupError) as exc:
            log.warning("resolver failed for %r: %s", identifier, exc)
            directory = None
        if directory is None:
            raise NotFound(f"no image {identifier!r}", "identifier")
        try:
            return pyramids.get(Path(directory))
        except PyramidError as exc:
            log.warning("pyramid for %r unusable: %s", identifier, exc)
            raise NotFound(f"no image {identifier!r}", "identifier") from exc

    def error(exc: IIIFError) -> Response:
        resp = Response(exc.message + "\n", status=exc.status, mimetype="text/plain")
        resp.headers["Cache-Control"] = "no-store" if exc.status >= 500 else "max-age=60"
        resp.headers["X-Content-Type-Options"] = "nosniff"  # the body echoes request text
        return resp

    def conditional(resp: Response, etag: str, pyramid: Pyramid) -> Response:
        resp.set_etag(etag)
        resp.last_modified = datetime.fromtimestamp(int(pyramid.mtime), UTC)
        resp.cache_control.public = True
        resp.cache_control.max_age = max_age
        return resp

    def not_modified(etag: str, pyramid: Pyramid) -> bool:
        if request.if_none_match:
            return request.if_none_match.contains(etag)
        since = request.if_modified_since
        return since is not None and int(pyramid.mtime) <= since.timestamp()

    @bp.after_app_request
    def cors(resp: Response) -> Response:
        if request.path.startswith("/iiif/") or request.blueprint == bp.name:
            return allow_any_origin(resp, "Link, ETag, Last-Modified")
        return resp

    @bp.route(
        f"/iiif/<{_VERSIONS}:version>/<identifier>", methods=["GET", "HEAD"], merge_slashes=False
    )
    def base_uri(version: str, identifier: str) -> Response:
        try:
            load(check_identifier(identifier))
        except IIIFError as exc:
            return error(exc)
        resp = Response(status=303)
        resp.headers["Location"] = f"{service_id(version, identifier)}/info.json"
        return resp

    @bp.route(
        f"/iiif/<{_VERSIONS}:version>/<identifier>/info.json",
        methods=["GET", "HEAD"],
        merge_slashes=False,
    )
    def info(version: str, identifier: str) -> Response:
        v: Version = "3" if version == "3" else "2"
        try:
            pyramid = load(check_identifier(identifier))
        except IIIFError as exc:
            return error(exc)
        sid = service_id(version, identifier)
        jsonld = "application/ld+json" in request.headers.get("Accept", "")
        if jsonld:
            mimetype = f'application/ld+json;profile="{context_uri(v)}"'
        else:
            mimetype = "application/json"
        etag = _digest(pyramid.etag_base, sid, mimetype, repr(limits))
        if not_modified(etag, pyramid):
            resp = Response(status=304)
        else:
            body = json.dumps(info_json(pyramid.info, sid, v, limits), indent=2)
            resp = Response(body, content_type=mimetype)
        resp.headers["Link"] = f'<{profile_uri(v)}>;rel="profile"'
        resp.vary.add("Accept")
        return conditional(resp, etag, pyramid)

    @bp.route(
        f"/iiif/<{_VERSIONS}:version>/<identifier>/<region>/<size>/<rotation>/<quality_format>",
        methods=["GET", "HEAD"],
        merge_slashes=False,  # '//' must not redirect an empty identifier elsewhere
    )
    def image(
        version: str, identifier: str, region: str, size: str, rotation: str, quality_format: str
    ) -> Response:
        try:
            check_identifier(identifier)
            req = parse_request(version, region, size, rotation, quality_format)
            pyramid = load(identifier)
            resolved = req.resolve(pyramid.info.width, pyramid.info.height, limits)
        except IIIFError as exc:
            return error(exc)
        sid = service_id(version, identifier)
        canonical = resolved.canonical_path()
        etag = _digest(pyramid.etag_base, version, canonical)
        if not_modified(etag, pyramid):
            resp = Response(status=304)
        else:
            data = passthrough_tile(pyramid, resolved)
            if data is None:

                def produce() -> bytes:
                    im = render_image(pyramid, resolved)
                    return encode(im, resolved.format, jpeg_quality=jpeg_quality)

                if cache is not None:
                    data = cache.get_or_render(f"{pyramid.etag_base}/{canonical}", produce)
                else:
                    data = produce()
            resp = Response(data, mimetype=MEDIA_TYPES[resolved.format])
        resp.headers["Link"] = (
            f'<{sid}/{canonical}>;rel="canonical",<{profile_uri(req.version)}>;rel="profile"'
        )
        return conditional(resp, etag, pyramid)

    return bp


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
