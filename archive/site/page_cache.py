"""Rendered pages shared by the server's worker processes until the data changes; ETag / 304.

A page is kept under the request that made it (path, sorted query string, interface and
metadata languages, the Accept variant) and a token of the data it was made from. Under the
production server the token names that data the same way in every worker: the RDF store
snapshot the primary published, the search index's committed state on disk and the pending
queue's length. A worker reads or writes kept pages only while its own view is that newest
state (a reader still on an older snapshot, or the primary between a write and its next
snapshot, renders afresh and keeps nothing), and keeps a page only if its view did not move
while it rendered. An ingest or a correction changes the token, so the next request renders
afresh; a reader worker sees the change on its usual sync beat, exactly as without the cache.
Outside the production server (one process, no snapshots) the token names the process too.

The store is `diskcache` in the instance's cache folder: one SQLite file (WAL), safe across
processes and threads, bounded in bytes with eviction — a well-kept library instead of a
hand-made shared-memory cache. Every page stays inside SQLite (diskcache would write pages over
32 KB as files of their own and unlink them on eviction: on ext4 without a journal, every file
created after many deletions scans the recently deleted inodes, and a hit on such a page opened
a file). The pages are derived data: deleting the folder only makes the next requests render
again, and the production server forgets them at start (see `forget_pages`): the data token
names the RDF-store snapshot the primary publishes at start, so no earlier page can be served.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import diskcache
from flask import Flask, Response, current_app, g, request
from flask_babel import get_locale

from archive.service import Archive
from archive.settings import Settings
from archive.site.fast_pages import ENVIRON_VIEW, FastPages
from archive.site.i18n import preferred_languages
from archive.site.pages import get_archive

# GET pages whose answer depends only on the request and the data (no side effects).
CACHED_ENDPOINTS = frozenset({"home", "search", "item", "collection", "collections", "place",
                              "places", "timeline"})
# Other GET answers made only from the request and the data (manifests; images, from the
# pyramids the data's derivation made): not kept in the shared cache (the manifest cache and
# the pyramids are theirs), but vouched for, so a worker may keep them whole.
VOUCHED_ENDPOINTS = frozenset({"iiif_presentation.manifest", "iiif_image.image"})
# The variants an Accept header can pick (HTML, the JSON twin, the item's RDF formats).
VARIANTS = ("text/html", "application/json", "text/turtle", "application/ld+json",
            "application/rdf+xml", "application/n-triples")
# Response headers that belong to the page itself; the rest are set again on every request.
# The viewer's CSP is one: the IIIF blueprint sets it while the item template renders (its
# hook runs before ours; the site's security hook, after ours, completes it on every answer).
KEPT_HEADERS = ("Content-Type", "Link", "Vary", "Content-Security-Policy")
# A page bigger than this share of the cache is not kept (it would evict too much).
LARGEST_SHARE = 8
# Names this process in tokens that are not shared (a pid alone may be reused).
_PROCESS_NONCE = secrets.token_hex(8)
# How long a worker waits for another's write to the cache before going without it (s).
LOCK_WAIT_SECONDS = 2.0
# The cache failing (disk full, a lock held too long) costs a render, never the page.
_CACHE_ERRORS = (OSError, sqlite3.Error, diskcache.Timeout)
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedPage:
    """A rendered page: body, its own headers and its ETag."""

    body: bytes
    headers: tuple[tuple[str, str], ...]
    etag: str

    def encode(self) -> bytes:
        """One byte string: a JSON line of ETag and headers, then the body (no pickle)."""
        head = json.dumps([self.etag, self.headers], ensure_ascii=True).encode()
        return head + b"\n" + self.body

    @classmethod
    def decode(cls, data: bytes) -> CachedPage:
        """The page encode() wrote."""
        head, body = data.split(b"\n", 1)
        etag, headers = json.loads(head)
        return cls(body, tuple((str(k), str(v)) for k, v in headers), str(etag))


class PageCache:
    """Pages kept in a folder every worker process opens; bounded in bytes, oldest out first."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        # Least recently *stored* out first: a least-recently-used policy would write to
        # SQLite on every hit, and hits are the common case.
        # No page file: a page over max_bytes / LARGEST_SHARE is never kept, so every kept
        # one is under disk_min_file_size and stays a SQLite row.
        self._cache = diskcache.Cache(str(directory), size_limit=max_bytes,
                                      eviction_policy="least-recently-stored",
                                      timeout=LOCK_WAIT_SECONDS,
                                      disk_min_file_size=max(max_bytes, 1 << 20))

    def get(self, key: str) -> CachedPage | None:
        """The page kept under key, or None (also when the cache cannot be read)."""
        try:
            data = self._cache.get(key)
        except _CACHE_ERRORS:
            _log.warning("page cache unreadable; rendering instead", exc_info=True)
            return None
        return None if data is None else CachedPage.decode(data)

    def put(self, key: str, page: CachedPage) -> None:
        """Keep a page; the oldest ones go when the folder outgrows the bound."""
        if len(page.body) * LARGEST_SHARE > self.max_bytes:
            return
        try:
            self._cache.set(key, page.encode())
        except _CACHE_ERRORS:
            _log.warning("page cache unwritable; page not kept", exc_info=True)

    def clear(self) -> None:
        """Forget every page (when what pages are made from changed outside the data)."""
        self._cache.clear()

    def volume(self) -> int:
        """Bytes the kept pages take on disk (SQLite file and page files)."""
        return int(self._cache.volume())

    def close(self) -> None:
        """Close this process's connections (the pages stay)."""
        self._cache.close()

    def __len__(self) -> int:
        return len(self._cache)


def forget_pages(directory: Path, max_bytes: int) -> None:
    """Empty the shared page cache (a server start: its pages name data no longer served)."""
    cache = PageCache(directory, max_bytes)
    try:
        cache.clear()
    except _CACHE_ERRORS:
        _log.warning("page cache not emptied at start", exc_info=True)
    finally:
        cache.close()


def page_cache_folder(settings: Settings) -> Path:
    """Where the instance keeps its pages."""
    return Path(settings.cache_dir) / "pages"


def data_token(archive: Archive) -> tuple[Any, ...] | None:
    """What the pages were made from; None when it cannot be told cheaply (then no caching)."""
    if archive.index is None:
        return None
    state_token = getattr(archive.index.backend, "state_token", None)
    if state_token is None:  # Elasticsearch: no cheap way to know another process wrote
        return None
    shared_view = getattr(archive, "shared_view", None)
    if shared_view is not None:  # a production worker: the same name in every process
        view = shared_view()
        return None if view is None else ("shared", *view, archive.state.pending_count())
    return ("process", os.getpid(), _PROCESS_NONCE, id(archive.rdf), archive.rdf.version,
            archive.derives, state_token(), archive.state.pending_count())


def page_key(request_part: tuple[Any, ...], token: tuple[Any, ...]) -> str:
    """The shared key of a request under a data token (the same in every process)."""
    return hashlib.blake2b(repr((request_part, token)).encode(), digest_size=20).hexdigest()


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
    cache: PageCache | None = current_app.extensions.get("memoria_page_cache")
    if cache is None:
        return None
    if request.method == "GET" and request.endpoint in VOUCHED_ENDPOINTS:
        g.memoria_vouch = data_token(get_archive())
        return None
    if not _cacheable():
        return None
    token = data_token(get_archive())
    if token is None:
        g.memoria_page_bypass = True
        return None
    key = page_key(request_key(), token)
    page = cache.get(key)
    if page is None:
        g.memoria_page_key = (key, token)
        return None
    resp = Response(page.body, headers=list(page.headers))
    resp.set_etag(page.etag)
    resp.headers["X-Page-Cache"] = "hit"
    request.environ[ENVIRON_VIEW] = token  # the whole answer may be kept before Flask
    return resp


def _keep(cache: PageCache, key: str, token: tuple[Any, ...], resp: Response) -> bool:
    # Kept only if this process's view did not move while the page rendered (a sync, an
    # ingest): otherwise the page may mix the old and the new under the old token.
    if data_token(get_archive()) != token:
        return False
    headers = tuple((k, v) for k in KEPT_HEADERS if (v := resp.headers.get(k)))
    cache.put(key, CachedPage(resp.get_data(), headers, resp.get_etag()[0] or ""))
    return True


def _keep_and_tag(resp: Response) -> Response:
    vouch = g.pop("memoria_vouch", None)
    if vouch is not None and resp.status_code == 200 and data_token(get_archive()) == vouch:
        request.environ[ENVIRON_VIEW] = vouch  # made from this data alone, start to end
    if not _cacheable() or resp.status_code != 200 or resp.direct_passthrough:
        return resp
    if resp.headers.get("X-Page-Cache") != "hit":
        resp.set_etag(etag_of(resp.get_data()))
        kept = g.pop("memoria_page_key", None)
        cache: PageCache | None = current_app.extensions.get("memoria_page_cache")
        if kept is not None and cache is not None:
            kept_now = _keep(cache, kept[0], kept[1], resp)
            resp.headers["X-Page-Cache"] = "miss" if kept_now else "bypass"
            if kept_now:
                request.environ[ENVIRON_VIEW] = kept[1]
        elif g.pop("memoria_page_bypass", False):
            resp.headers["X-Page-Cache"] = "bypass"
    resp.make_conditional(request)  # 304 when the reader's copy is current (in place)
    return resp


def register(app: Flask) -> None:
    """Serve kept pages before the views run; keep and tag the pages they render."""
    settings = app.config.get("MEMORIA_SETTINGS")
    size_mb = getattr(settings, "page_cache_mb", 0)
    if settings is not None and size_mb > 0:
        app.extensions["memoria_page_cache"] = PageCache(page_cache_folder(settings),
                                                         size_mb << 20)
        archive = app.extensions["memoria"]
        # Each worker keeps its own copies of whole answers, in half the shared cache's size.
        app.wsgi_app = FastPages(app.wsgi_app,  # type: ignore[method-assign]
                                 lambda: data_token(archive), (size_mb << 20) // 2)
    app.before_request(_serve_kept)
    app.after_request(_keep_and_tag)
