"""Open CORS for IIIF responses: any site's viewer may read our images and manifests."""

from __future__ import annotations

from flask import Response, request


def allow_any_origin(resp: Response, expose: str) -> Response:
    """Set the CORS headers (exactly once each), answering a preflight in full."""
    # Assignment replaces: exactly one header even if something set it before.
    resp.headers["Access-Control-Allow-Origin"] = "*"
    resp.headers["Access-Control-Expose-Headers"] = expose
    if request.method == "OPTIONS":
        resp.headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
        asked = request.headers.get("Access-Control-Request-Headers")
        resp.headers["Access-Control-Allow-Headers"] = asked[:500] if asked else "*"
        resp.headers["Access-Control-Max-Age"] = "86400"
    return resp
