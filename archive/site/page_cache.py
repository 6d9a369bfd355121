"""Rendered pages kept per process until the data changes, and ETag / 304 on those pages.

A page is kept under the request that made it (path, sorted query string, interface and
metadata languages, the Accept variant) and a token of the data it was made from: the RDF
store snapshot this process reads, the search index's state and the pending queue's length.
An ingest or a correction changes one of those, so the next request renders afresh; a reader
worker sees the change on its usual sync beat, exactly when it would without the cache.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, g, request
from flask_babel import get_locale

from archive.service import Archive
from archive.site.i18n import preferred_languages
from archive.site.pages import get_archive

# GET pages whose answer depends only on the request and the data (no side effects).
CACHED_ENDPOINTS = frozenset({"home", "search", "item", "collection", "collections", "place",
                              "places", "timeline"})
# The variants an Accept header can pick (HTML, the JSON twin, the item's RDF formats).
VARIANTS = ("text/html", "application/json", "text/turtle", "application/ld+json",
            "application/rdf+xml", "application/n-triples")
# Response headers that belong to the page itself; the rest are set again on every request.
# The viewer's CSP is one: the IIIF blueprint sets it while the item template renders (its
# hook runs before ours; the site's security hook, after ours, completes it on every answer).
KEPT_HEADERS = ("Content-Type", "Link", "Vary", "Content-Security-Policy")
# A page bigger than this share of the cache is not kept (it would evict too much).
LARGEST_SHARE = 8


@dataclass(frozen=True)
class CachedPage:
    """A rendered page: body, its own headers and its ETag."""

    body: bytes
    headers: tuple[tuple[str, str], ...]
    etag: str


class PageCache:
    """Least recently used pages, bounded by the bytes of their bodies; safe across threads."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._pages: OrderedDict[tuple[Any, ...], CachedPage] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> CachedPage | None:
        """The page kept under key (now the most recently used), or None."""
        with self._lock:
            page = self._pages.get(key)
            if page is None:
                self.misses += 1
                return None
            self._pages.move_to_end(key)
            self.hits += 1
            return page

    def put(self, key: tuple[Any, ...], page: CachedPage) -> None:
        """Keep a page, forgetting the least recently used ones beyond the bound."""
        if len(page.body) * LARGEST_SHARE > self.max_bytes:
            return
        with self._lock:
            old = self._pages.pop(key, None)
            if old is not None:
                self.size -= len(old.body)
            self._pages[key] = page
            self.size += len(page.body)
            while self.size > self.max_bytes and self._pages:
                _, evicted = self._pages.popitem(last=False)
                self.size -= len(evicted.body)

    def clear(self) -> None:
        """Forget every page (when what pages are made from changed outside the data)."""
        with self._lock:
            self._pages.clear()
            self.size = 0

    def __len__(self) -> int:
        return len(self._pages)


def data_token(archive: Archive) -> tuple[Any, ...] | None:
    """What the pages were made from; None when it cannot be told cheaply (then no caching)."""
    if archive.index is None:
        return None
    state_token = getattr(archive.index.backend, "state_token", None)
    if state_token is None:  # Elasticsearch: no cheap way to know another process wrote
        return None
    # A reader worker's snapshot path; the primary's own store changes only with the index.
    snapshot = getattr(archive.rdf, "current", None)
    return (str(snapshot), archive.derives, state_token(), archive.state.pending_count())


def request_key() -> tuple[Any, ...]:
    """Everything about the request a page's bytes depend on."""
    args = tuple(sorted(request.args.items(multi=True)))
    return (request.host, request.script_root, request.path, args, str(get_locale()),
            tuple(preferred_languages()), request.accept_mimetypes.best_match(VARIANTS),
            request.is_secure)


def etag_of(body: bytes) -> str:
    """A strong ETag for a body."""
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def _cacheable() -> bool:
    return request.method in ("GET", "HEAD") and request.endpoint in CACHED_ENDPOINTS


def _serve_kept() -> Response | None:
    if not _cacheable():
        return None
    cache: PageCache | None = current_app.extensions.get("memoria_page_cache")
    if cache is None:
        return None
    token = data_token(get_archive())
    if token is None:
        return None
    key = (request_key(), token)
    page = cache.get(key)
    if page is None:
        g.memoria_page_key = key
        return None
    resp = Response(page.body, headers=list(page.headers))
    resp.set_etag(page.etag)
    resp.headers["X-Page-Cache"] = "hit"
    return resp


def _keep_and_tag(resp: Response) -> Response:
    if not _cacheable() or resp.status_code != 200 or resp.direct_passthrough:
        return resp
    if resp.headers.get("X-Page-Cache") != "hit":
        body = resp.get_data()
        resp.set_etag(etag_of(body))
        key = g.pop("memoria_page_key", None)
        cache: PageCache | None = current_app.extensions.get("memoria_page_cache")
        if key is not None and cache is not None:
            headers = tuple((k, v) for k in KEPT_HEADERS if (v := resp.headers.get(k)))
            cache.put(key, CachedPage(body, headers, resp.get_etag()[0] or ""))
            resp.headers["X-Page-Cache"] = "miss"
    resp.make_conditional(request)  # 304 when the reader's copy is current (in place)
    return resp


def register(app: Flask) -> None:
    """Serve kept pages before the views run; keep and tag the pages they render."""
    settings = app.config.get("MEMORIA_SETTINGS")
    size_mb = getattr(settings, "page_cache_mb", 0)
    if size_mb > 0:
        app.extensions["memoria_page_cache"] = PageCache(size_mb << 20)
    app.before_request(_serve_kept)
    app.after_request(_keep_and_tag)
