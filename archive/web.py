"""The Flask app factory: settings -> Archive -> routes; nothing is opened at import time."""

from __future__ import annotations

import secrets
import threading
from typing import Any

from flask import Flask, Response, jsonify
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.middleware.proxy_fix import ProxyFix

from archive.images import set_pixel_limit
from archive.service import Archive
from archive.settings import Settings, load_settings
from archive.site import register_site
from archive.site.pages import get_archive
from archive.site.security import error_page


class NoSessions(SessionInterface):
    """No session cookie is read or written: no page keeps state between requests (the
    language is its own cookie). Flask would otherwise unsign a cookie on every request."""

    def open_session(self, app: Flask, request: Any) -> SessionMixin | None:
        """None: Flask uses its null session (writing to it is an error)."""
        return None

    def save_session(self, app: Flask, session: SessionMixin, response: Any
                     ) -> None:
        """Nothing to save."""


def _proxy_fix(app: Flask, settings: Settings) -> None:
    trusted = {h.strip().lower() for h in settings.trusted_proxy_headers.split(",") if h.strip()}
    if trusted:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=int("for" in trusted), x_proto=int("proto" in trusted),
            x_host=int("host" in trusted), x_prefix=int("prefix" in trusted),
        )


def _start_sync(app: Flask, archive: Archive, interval: float) -> None:
    """Derive records other processes saved while this server held the RDF store."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            with app.app_context():
                try:
                    archive.sync()
                except Exception:
                    app.logger.exception("background sync failed")

    threading.Thread(target=loop, name="memoria-sync", daemon=True).start()
    app.extensions["memoria_sync_stop"] = stop


def create_app(settings: Settings | None = None, *, sync_interval: float | None = None,
               archive: Archive | None = None) -> Flask:
    """Build the web app for one instance (on an archive opened by the caller, if given)."""
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["SECRET_KEY"] = settings.secret_key or secrets.token_hex(32)
    app.session_interface = NoSessions()
    app.config["MEMORIA_SETTINGS"] = settings
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    set_pixel_limit(settings.max_image_pixels)
    archive = archive or Archive(settings).open()
    app.extensions["memoria"] = archive
    archive.sync()
    _proxy_fix(app, settings)
    if sync_interval:
        _start_sync(app, archive, sync_interval)
    register_routes(app)
    _register_iiif(app, settings)
    from archive.api import create_api_blueprint

    app.register_blueprint(create_api_blueprint())
    return app


def _register_iiif(app: Flask, settings: Settings) -> None:
    from iiif.cache import DerivativeCache
    from iiif.image_request import Limits
    from iiif.image_routes import create_image_blueprint, directory_resolver

    max_side = settings.iiif_max_width or None
    limits = Limits(max_width=max_side, max_height=max_side, max_area=settings.iiif_max_area)
    cache = DerivativeCache(settings.cache_dir / "iiif", max_bytes=settings.iiif_cache_mb << 20)
    app.register_blueprint(create_image_blueprint(
        directory_resolver(settings.pyramid_dir), base_url=lambda: settings.base_url,
        cache=cache, limits=limits,
    ))
    from iiif.presentation_routes import create_presentation_blueprint

    app.register_blueprint(create_presentation_blueprint(
        get_archive, collection_page_size=settings.iiif_page_size,
        activity_page_size=settings.iiif_page_size,
    ))


def register_routes(app: Flask) -> None:
    """Attach the health check and the researcher's pages."""

    @app.get("/healthz")
    def healthz() -> Response:
        archive = get_archive()
        return jsonify({
            "status": "ok",
            "rdf_store": "open" if archive.derives else "held by another process",
            "pending": archive.state.pending_count(),
        })

    # 404 and 410 as the other errors: a page, or JSON for the API and for JSON requests.
    app.register_error_handler(404, error_page)
    app.register_error_handler(410, error_page)
    register_site(app)
