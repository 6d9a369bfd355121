"""Safety headers on every response."""

from __future__ import annotations

from flask import Flask, Response


def register(app: Flask) -> None:
    """Set CSP, nosniff and frame-ancestors on every response."""

    @app.after_request
    def security_headers(resp: Response) -> Response:
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; frame-ancestors 'self'")
        return resp
