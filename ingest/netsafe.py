"""Fetch a URL from an untrusted source: http(s), public hosts only, capped in size and time."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

REDIRECTS = (301, 302, 303, 307, 308)
CHUNK = 64 * 1024


class FetchError(Exception):
    """A fetch that failed: network error, over a limit, or a bad answer."""


class FetchRefused(FetchError):
    """A URL refused by policy (scheme, or a host that resolves to a non-public address)."""


class FetchLimitError(FetchError):
    """An answer over a limit (size, time, redirects): asking again will not help."""


class HttpStatusError(FetchError):
    """The server answered with a status other than 200."""

    def __init__(self, url: str, status: int, reason: str, retry_after: float | None) -> None:
        super().__init__(f"{url}: HTTP {status} {reason}".strip())
        self.status = status
        self.retry_after = retry_after


def _blocked(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_multicast or ip.is_unspecified:
        return "a multicast or unspecified"
    # Link-local holds cloud metadata services (169.254.169.254): never, even on a private net.
    if ip.is_link_local:
        return "a link-local"
    if allow_private:
        return None
    for test, word in ((ip.is_loopback, "a loopback"), (ip.is_private, "a private"),
                       (ip.is_reserved, "a reserved"),
                       (not ip.is_global, "a non-public")):
        if test:
            return word
    return None


def resolve_checked(url: str, allow_private: bool) -> tuple[str, str, int, str]:
    """(scheme, host, port, IP to connect to) for a URL, or raise FetchRefused."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchRefused(f"{url}: only http and https URLs are fetched, not {scheme or 'none'!r}")
    host = parts.hostname
    if not host:
        raise FetchRefused(f"{url}: no host in the URL")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise FetchRefused(f"{url}: bad port") from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"{url}: cannot resolve {host}: {exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    # Every address must pass: a name that also resolves to an internal address is refused.
    for address in addresses:
        why = _blocked(ipaddress.ip_address(address.split("%")[0]), allow_private)
        if why:
            raise FetchRefused(f"{url}: host {host} resolves to {address}, {why} address; refused")
    if not addresses:
        raise FetchError(f"{url}: {host} has no address")
    return scheme, host, port, addresses[0]


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the address that was checked, not to a fresh DNS answer."""

    def __init__(self, host: str, port: int, ip: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to the checked address, with the host name for SNI and certificate checks."""

    def __init__(self, host: str, port: int, ip: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._ip = ip

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def fetch(url: str, *, allow_private: bool, max_bytes: int, timeout: float,
          max_redirects: int = 5) -> bytes:
    """GET a URL; refuse unsafe targets (every redirect re-checked); cap bytes and seconds."""
    deadline = time.monotonic() + timeout
    for _ in range(max_redirects + 1):
        scheme, host, port, ip = resolve_checked(url, allow_private)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchLimitError(f"{url}: no answer within {timeout:g} s")
        cls = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
        conn = cls(host, port, ip, remaining)
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request("GET", target, headers={"User-Agent": "Memoria-harvester/1.0",
                                                 "Accept-Encoding": "identity"})
            response = conn.getresponse()
            if response.status in REDIRECTS:
                location = response.getheader("Location")
                if not location:
                    raise FetchLimitError(f"{url}: redirect without a Location")
                url = urljoin(url, location)
                continue
            if response.status != 200:
                raise HttpStatusError(url, response.status, response.reason,
                                      _retry_after(response.getheader("Retry-After")))
            length = response.getheader("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise FetchLimitError(f"{url}: {int(length):,} bytes is over the limit of "
                                 f"{max_bytes:,}")
            return _read_capped(response, url, max_bytes, deadline, timeout)
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(f"{url}: {exc.__class__.__name__}: {exc}") from None
        finally:
            conn.close()
    raise FetchLimitError(f"{url}: more than {max_redirects} redirects")


def _read_capped(response: http.client.HTTPResponse, url: str, max_bytes: int,
                 deadline: float, timeout: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise FetchLimitError(f"{url}: the answer is over the limit of {max_bytes:,} bytes")
        if time.monotonic() > deadline:
            raise FetchLimitError(f"{url}: the answer took longer than {timeout:g} s")
        chunks.append(chunk)
    return b"".join(chunks)
