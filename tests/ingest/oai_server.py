"""A real OAI-PMH HTTP server on 127.0.0.1 for harvest tests, with pages built from the corpus."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from lxml import etree

OAI = "http://www.openarchives.org/OAI/2.0/"


@dataclass
class Answer:
    """What the server sends back for one request."""

    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


Respond = Callable[[dict[str, str]], Answer]


def corpus_records(path: Path) -> list[bytes]:
    """The <record> elements of an OAI-PMH response file, each as its own XML."""
    root = etree.parse(str(path)).getroot()
    return [etree.tostring(r, with_tail=False) for r in root.iter(f"{{{OAI}}}record")]


def deleted_record(identifier: str, datestamp: str = "2024-05-01") -> bytes:
    """A record whose header says the source deleted it."""
    return (f'<record xmlns="{OAI}"><header status="deleted"><identifier>{identifier}'
            f"</identifier><datestamp>{datestamp}</datestamp></header></record>").encode()


def list_records(records: list[bytes], token: str | None, response_date: str,
                 prefix: str = "oai_dc") -> bytes:
    """A ListRecords page (with a resumption token unless it is the last page)."""
    body = b"".join(records)
    resumption = f"<resumptionToken>{token}</resumptionToken>" if token else (
        "<resumptionToken/>")
    return (f'<?xml version="1.0" encoding="UTF-8"?><OAI-PMH xmlns="{OAI}">'
            f"<responseDate>{response_date}</responseDate>"
            f'<request verb="ListRecords" metadataPrefix="{prefix}">http://127.0.0.1/oai</request>'
            f"<ListRecords>").encode() + body + f"{resumption}</ListRecords></OAI-PMH>".encode()


def oai_error(code: str, message: str, response_date: str = "2024-06-01T00:00:00Z") -> bytes:
    """An OAI-PMH error response."""
    return (f'<?xml version="1.0" encoding="UTF-8"?><OAI-PMH xmlns="{OAI}">'
            f"<responseDate>{response_date}</responseDate><request>http://127.0.0.1/oai</request>"
            f'<error code="{code}">{message}</error></OAI-PMH>').encode()


def paged(records: list[bytes], size: int, response_date: str, prefix: str = "oai_dc"
          ) -> dict[str | None, bytes]:
    """Pages keyed by the token that asks for them (None: the first request)."""
    chunks = [records[i:i + size] for i in range(0, len(records), size)]
    pages: dict[str | None, bytes] = {}
    for n, chunk in enumerate(chunks):
        token = f"page-{n + 2}" if n + 1 < len(chunks) else None
        pages[None if n == 0 else f"page-{n + 1}"] = list_records(chunk, token, response_date,
                                                                  prefix)
    return pages


class OaiServer:
    """Answers every request with the current `respond` function and keeps the requests."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.respond: Respond = lambda query: Answer(oai_error("badVerb", "no pages"))
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                query["_path"] = parts.path
                server.requests.append(query)
                answer = server.respond(query)
                self.send_response(answer.status)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(answer.body)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/oai"

    def serve_pages(self, pages: dict[str | None, bytes]) -> None:
        """Serve ListRecords pages by resumption token; unknown tokens are badResumptionToken."""
        def respond(query: dict[str, str]) -> Answer:
            token = query.get("resumptionToken")
            if token is not None and token not in pages:
                return Answer(oai_error("badResumptionToken", f"token {token} has expired"))
            return Answer(pages[token])
        self.respond = respond


@contextmanager
def running_server() -> Iterator[OaiServer]:
    """An OaiServer on a free port, in a thread, for the length of a test."""
    server = OaiServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join(timeout=5)
