"""Safety on every response: Content-Security-Policy and friends, size limits, safe links."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, abort, current_app, jsonify, render_template, request
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException

# Request limits; each can be overridden in app.config before register() runs.
MAX_CONTENT_LENGTH = 1 << 20  # no page takes an upload; forms are small
MAX_URL_LENGTH = 8192  # path + query string, in bytes (what nginx and Apache take by default)
MAX_QUERY_PARAMS = 200  # facets are multi-select, but not by the hundred
# Link schemes a metadata value may become a clickable href with.
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
REFERRER_POLICY = "strict-origin-when-cross-origin"
_C0_AND_SPACE = "".join(map(chr, range(0x21)))


def tile_origin(tile_url: str) -> str | None:
    """The CSP source of a Leaflet tile URL template ({s} subdomains become a wildcard)."""
    if not tile_url:
        return None
    parts = urlsplit(tile_url.replace("{s}", "a"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = tile_url.split("//", 1)[1].split("/", 1)[0].replace("{s}", "*")
    return f"{parts.scheme}://{host}"


def site_policy(tile_url: str = "") -> dict[str, list[str]]:
    """The CSP of Memoria's pages: no inline script or style, images also from https: hosts."""
    img = ["'self'", "data:", "https:"]
    origin = tile_origin(tile_url)
    if origin and not origin.startswith("https:"):
        img.append(origin)
    return {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": img,
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'self'"],
    }


def parse_policy(header: str) -> dict[str, list[str]]:
    """A CSP header as {directive: sources}."""
    policy: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            policy.setdefault(words[0].lower(), words[1:])
    return policy


def format_policy(policy: dict[str, list[str]]) -> str:
    """{directive: sources} as a CSP header value."""
    return "; ".join(" ".join([name, *sources]) for name, sources in policy.items())


def merge_policy(existing: str, ours: dict[str, list[str]]) -> str:
    """A route's own policy (e.g. the IIIF viewer's) completed with the directives it lacks."""
    policy = parse_policy(existing)
    added = False
    for name in ("object-src", "base-uri", "form-action", "frame-ancestors"):
        if name not in policy:
            policy[name], added = ours[name], True
    extra = [s for s in ours["img-src"] if s not in policy.get("img-src", ["'self'"])
             and s not in ("'self'", "data:", "https:")]
    if extra:
        policy["img-src"], added = policy.get("img-src", ["'self'"]) + extra, True
    return format_policy(policy) if added else existing


def is_safe_url(value: Any) -> bool:
    """Whether a metadata value may be a clickable link: http(s), mailto, or a local path."""
    if not isinstance(value, str) or not value.strip():
        return False
    # Browsers drop tabs and newlines anywhere and C0 controls and spaces at both ends.
    cleaned = "".join(ch for ch in value if ch not in "\t\n\r").strip(_C0_AND_SPACE)
    scheme, colon, _ = cleaned.partition(":")
    if not colon or any(ch in scheme for ch in "/?#"):
        return bool(cleaned)  # a relative reference
    return scheme.lower() in SAFE_SCHEMES


def safe_url(value: Any) -> str:
    """The value if it is a safe link target, else an empty string (templates then show text)."""
    return value if is_safe_url(value) else ""


def bdi(value: Any) -> Markup:
    """A metadata value escaped and isolated in <bdi>, so bidi overrides cannot leak out."""
    return Markup("<bdi>%s</bdi>") % escape(value)


# Unicode bidi formatting characters: embeddings and overrides (closed by PDF, U+202C) and
# isolates (closed by PDI, U+2069).
_EMBEDDINGS = frozenset("\u202a\u202b\u202d\u202e")
_ISOLATES = frozenset("\u2066\u2067\u2068")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def isolate_bidi(text: str) -> str:
    """Text with bidi controls closed and the whole wrapped in FSI…PDI, so it cannot reorder
    what follows it; text without bidi controls is returned unchanged."""
    if not _BIDI.search(text):
        return text
    stack: list[str] = []
    out: list[str] = []
    for ch in text:
        if ch in _EMBEDDINGS:
            stack.append("\u202c")
        elif ch in _ISOLATES:
            stack.append("\u2069")
        elif ch == "\u202c":
            if not stack or stack[-1] != ch:
                continue  # a stray PDF: dropped
            stack.pop()
        elif ch == "\u2069":
            if ch not in stack:
                continue  # a stray PDI would close our own isolate: dropped
            while stack.pop() != ch:  # a PDI also closes the embeddings opened inside it
                pass
        out.append(ch)
    return "\u2068" + "".join(out) + "".join(reversed(stack)) + "\u2069"


def _finalize(value: Any) -> Any:
    # Every {{ value }} of every template, Markup too (highlights, translated messages with
    # values): bidi controls are closed and isolated. |tojson output has none left (see below).
    if isinstance(value, str) and not _BIDI.search(value):
        return value  # nearly every value: unchanged, Markup or not (no copy of either)
    if isinstance(value, Markup):
        # Safe: isolate_bidi only adds or drops bidi control characters, never markup.
        return Markup(isolate_bidi(str(value)))  # noqa: S704
    if isinstance(value, str):
        return isolate_bidi(value)
    return value


# Bidi controls and the line/paragraph separators, written as \\u escapes by |tojson.
_JSON_ESCAPED = re.compile("[\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def _json_dumps_for(app: Flask) -> Any:
    """The app's JSON dumps for |tojson, with invisible controls as \\u escapes (valid JSON)."""
    dumps = app.json.dumps

    def json_dumps(obj: Any, **kwargs: Any) -> str:
        return _JSON_ESCAPED.sub(lambda m: f"\\u{ord(m[0]):04x}", dumps(obj, **kwargs))

    return json_dumps


def check_limits() -> None:
    """Refuse oversized bodies (413), long URLs (414) and too many query parameters (400)."""
    config = current_app.config
    length = request.content_length
    if length is not None and length > config["MAX_CONTENT_LENGTH"]:
        abort(413)
    environ = request.environ
    url_length = len(environ.get("PATH_INFO", "")) + len(environ.get("QUERY_STRING", ""))
    if url_length > config["MEMORIA_MAX_URL_LENGTH"]:
        abort(414)
    if len(request.args) and sum(1 for _ in request.args.items(multi=True)) > \
            config["MEMORIA_MAX_QUERY_PARAMS"]:
        abort(400, description="too many query parameters")


def error_detail(error: HTTPException) -> str:
    """What went wrong in particular (e.g. "no record x"), or "" for werkzeug's stock text."""
    description = error.description or ""
    return "" if description == type(error).description else description


def error_page(error: HTTPException) -> tuple[Response | str, int]:
    """A refused request as the site's error page, or as JSON for the JSON twin and the APIs."""
    code = error.code or 400
    if request.blueprint is not None or request.args.get("format") == "json" or \
            request.accept_mimetypes.best_match(["text/html", "application/json"]) == \
            "application/json":
        return jsonify({"error": error.description, "status": code}), code
    return render_template("error.html", error=error), code


def register(app: Flask) -> None:
    """Request limits, safety headers on every response, and the safe_url/bdi template helpers."""
    if app.config.get("MAX_CONTENT_LENGTH") is None:  # Flask's default is None: no limit
        app.config["MAX_CONTENT_LENGTH"] = MAX_CONTENT_LENGTH
    app.config.setdefault("MEMORIA_MAX_URL_LENGTH", MAX_URL_LENGTH)
    app.config.setdefault("MEMORIA_MAX_QUERY_PARAMS", MAX_QUERY_PARAMS)
    settings = app.config.get("MEMORIA_SETTINGS")
    ours = site_policy(getattr(settings, "map_tile_url", ""))
    header = format_policy(ours)
    app.before_request(check_limits)
    app.add_template_filter(safe_url)
    app.add_template_filter(bdi)
    app.add_template_test(is_safe_url, "safe_url")
    app.add_template_global(error_detail)
    app.jinja_env.finalize = _finalize
    app.jinja_env.policies["json.dumps_function"] = _json_dumps_for(app)
    for code in (400, 405, 413, 414):
        app.register_error_handler(code, error_page)

    @app.after_request
    def security_headers(resp: Response) -> Response:
        # Runs after the IIIF blueprint's viewer_policy, which sets the viewers' own CSP.
        existing = resp.headers.get("Content-Security-Policy")
        resp.headers["Content-Security-Policy"] = (merge_policy(existing, ours) if existing
                                                   else header)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", REFERRER_POLICY)
        resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        # Not Cross-Origin-Resource-Policy: IIIF images and manifests are for other sites too.
        resp.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if request.is_secure:
            resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return resp
