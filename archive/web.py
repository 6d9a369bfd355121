"""The Flask app factory: settings -> Archive -> routes; nothing is opened at import time."""

from __future__ import annotations

import secrets
import threading
from typing import Any

from flask import Flask, Response, abort, current_app, jsonify, render_template, request
from werkzeug.middleware.proxy_fix import ProxyFix

from archive.images import set_pixel_limit
from archive.service import Archive
from archive.settings import Settings, load_settings
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
UI_LANGUAGES = ["en", "zh-Hans", "zh", "es"]


def get_archive() -> Archive:
    """The Archive attached to the current app."""
    archive: Archive = current_app.extensions["memoria"]
    return archive


def preferred_languages() -> list[str]:
    """The reader's languages, from ?lang= or Accept-Language, then English."""
    chosen = request.args.get("lang")
    langs = [chosen] if chosen else []
    langs += [lang for lang, _ in request.accept_languages if lang != "*"]
    return [*langs, "en"]


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


def create_app(settings: Settings | None = None, *, sync_interval: float | None = None) -> Flask:
    """Build the web app for one instance."""
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["SECRET_KEY"] = settings.secret_key or secrets.token_hex(32)
    app.config["MEMORIA_SETTINGS"] = settings
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    set_pixel_limit(settings.max_image_pixels)
    archive = Archive(settings).open()
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


def _rdf_response(graph: Any, media_type: str) -> Response:
    fmt, _ = RDF_FORMATS[media_type]
    bind_prefixes(graph)
    body = graph.serialize(format=fmt, auto_compact=True) if fmt == "json-ld" else \
        graph.serialize(format=fmt)
    resp = Response(body, mimetype=media_type)
    resp.headers["Vary"] = "Accept"
    return resp


def register_routes(app: Flask) -> None:
    """Attach the pages and linked-data routes."""

    @app.get("/healthz")
    def healthz() -> Response:
        archive = get_archive()
        return jsonify({
            "status": "ok",
            "rdf_store": "open" if archive.derives else "held by another process",
            "pending": archive.state.pending_count(),
        })

    @app.get("/")
    def home() -> str:
        archive = get_archive()
        langs = preferred_languages()
        top = []
        for rid in archive.ids()[:500]:
            record = archive.get(rid)
            if record is None or record.withdrawn:
                continue
            view = record_view(archive, record, langs)
            if not view["breadcrumb"]:
                top.append(view)
        return render_template("home.html", records=top)

    @app.get("/item/<path:name>")
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

    @app.errorhandler(404)
    @app.errorhandler(410)
    def not_found(error: Any) -> tuple[str, int]:
        return render_template("error.html", error=error), error.code

    @app.after_request
    def security_headers(resp: Response) -> Response:
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; frame-ancestors 'self'")
        return resp
