"""Kept pages answered before Flask: a worker's own copies of whole responses, by raw request.

A page from the shared page cache still costs ~1 ms of CPU under the production server, most
of it Flask's machinery around a byte string (request context, locale, URL matching, the
before/after-request hooks, a Response object). This WSGI layer remembers, in each worker
process, the final status, headers and body of a page the page cache answered or kept, under
everything the answer is made from: the request line, the headers that choose the page's
variant (Host, Accept, Accept-Language, Accept-Encoding, Cookie, Origin, forwarding headers)
and the data token of the page cache (IIIF manifests are kept the same way). A later
identical request under the same data token is answered from it without entering Flask.
Anything else — another method, a conditional or ranged request, a body, a token that moved —
goes through Flask as before, so the answers are the ones Flask gives.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

# Request headers a kept page's bytes or headers may depend on (besides method and URL).
_KEY_HEADERS = ("HTTP_HOST", "HTTP_ACCEPT", "HTTP_ACCEPT_LANGUAGE", "HTTP_ACCEPT_ENCODING",
                "HTTP_COOKIE", "HTTP_ORIGIN",
                "HTTP_FORWARDED", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO",
                "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_PREFIX")
# Requests Flask must answer itself: 304s, ranges and bodies depend on more than the key.
_PASS_HEADERS = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_MATCH",
                 "HTTP_IF_UNMODIFIED_SINCE", "HTTP_IF_RANGE", "HTTP_RANGE",
                 "HTTP_TRANSFER_ENCODING")
# Set by the page cache on a request it answered from, or kept under, a data token.
ENVIRON_VIEW = "memoria.page_data"
_Entry = tuple[Any, str, list[tuple[str, str]], bytes]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def request_key(environ: dict[str, Any]) -> tuple[str, ...] | None:
    """The raw request as the key of a kept answer; None if Flask must answer it."""
    if environ.get("REQUEST_METHOD") != "GET" or environ.get("CONTENT_LENGTH", "") not in \
            ("", "0"):
        return None
    if any(name in environ for name in _PASS_HEADERS):
        return None
    return (environ.get("wsgi.url_scheme", ""), environ.get("SCRIPT_NAME", ""),
            environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""),
            *(environ.get(name, "") for name in _KEY_HEADERS))


class FastPages:
    """WSGI middleware: whole kept responses per worker, bounded in bytes, least used out."""

    def __init__(self, app: WsgiApp, token: Callable[[], Any], max_bytes: int) -> None:
        self.app = app
        self.token = token
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, ...], _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        """Answer a kept page, or ask the app and keep what the page cache vouched for."""
        key = request_key(environ)
        if key is None:
            return self.app(environ, start_response)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)  # least recently used out first
        if entry is not None:
            token, status, headers, body = entry
            if token == self.token():
                start_response(status, headers)
                return [body]
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None
                    ) -> Any:
            captured[:] = [status, headers]
            return start_response(status, headers, exc_info)

        answer = self.app(environ, capture)
        token = environ.get(ENVIRON_VIEW)
        if token is None or not captured or not captured[0].startswith("200 "):
            return answer
        try:
            body = b"".join(answer)
        finally:
            close = getattr(answer, "close", None)
            if close is not None:
                close()
        self._keep(key, (token, captured[0], _as_hit(captured[1]), body))
        return [body]

    def _keep(self, key: tuple[str, ...], entry: _Entry) -> None:
        size = len(entry[3]) + sum(len(k) + len(v) for k, v in entry[2]) + 200
        if size * 8 > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old[3])
            self._entries[key] = entry
            self._bytes += len(entry[3])
            while self._bytes > self.max_bytes and self._entries:
                _, gone = self._entries.popitem(last=False)
                self._bytes -= len(gone[3])

    def clear(self) -> None:
        """Forget every kept answer (the shared page cache is not touched)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)


def _as_hit(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers as a kept answer gives them (X-Page-Cache: hit)."""
    return [(k, "hit" if k.lower() == "x-page-cache" else v) for k, v in headers]
