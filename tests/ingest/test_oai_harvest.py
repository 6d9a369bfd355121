"""The OAI-PMH harvester against a real HTTP server on 127.0.0.1, and the URL guard under it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest
from lxml import etree

from archive.ids import record_id
from archive.service import Archive
from archive.settings import Settings
from ingest.netsafe import FetchError, FetchRefused, HttpStatusError, fetch, resolve_checked
from ingest.oai import HarvestLimits, harvest
from tests.conftest import CORPUS
from tests.ingest.oai_server import (
    Answer,
    OaiServer,
    corpus_records,
    deleted_record,
    list_records,
    oai_error,
    paged,
    running_server,
)

EUR = CORPUS / "oai_dc" / "eur_dspace_listrecords_oai_dc_2003.xml"
HARVARD_MODS = CORPUS / "mets_mods" / "harvard_botanicals_oai_listrecords_mods.xml"
FIRST_DATE = "2024-05-01T10:00:00Z"
FAST = HarvestLimits(backoff_seconds=0.05, max_retry_after=2.0, request_timeout=10)


@pytest.fixture
def server() -> Iterator[OaiServer]:
    with running_server() as s:
        yield s


def eur_ids() -> list[str]:
    return [record_id("dc", f"hdl:1765/{n}") for n in (
        308, 309, 310, 311, 312, 313, 314, 315, 316, 317, 318, 319, 320, 321, 322, 323)]


def test_harvest_pages_through_resumption_tokens(settings: Settings, server: OaiServer) -> None:
    records = corpus_records(EUR)
    assert len(records) == 16
    server.serve_pages(paged(records, 5, FIRST_DATE))
    with Archive(settings).open() as archive:
        report = harvest(archive, server.url, allow_private=True, limits=FAST)
        assert report.counts() == {"input": 16, "accepted": 16, "rejected": 0, "created": 16}
        assert report.source == server.url
        assert [q.get("resumptionToken") for q in server.requests] == [
            None, "page-2", "page-3", "page-4"]
        first = server.requests[0]
        assert (first["verb"], first["metadataPrefix"]) == ("ListRecords", "oai_dc")
        assert "from" not in first
        assert len(archive.ids()) == 16
        assert sorted(archive.ids()) == sorted(a.record_id for a in report.accepted)
        record = archive.get(report.accepted[0].record_id)
        assert record is not None
        assert b"<record" in archive.storage.read(report.accepted[0].record_id,
                                                  "source/record.xml")
    state = json.loads((settings.home / "harvest-state.json").read_text())
    assert state[f"{server.url} oai_dc"]["responseDate"] == FIRST_DATE


def test_second_harvest_is_incremental_idempotent_and_withdraws_deleted(
        settings: Settings, server: OaiServer) -> None:
    records = corpus_records(EUR)
    server.serve_pages(paged(records, 5, FIRST_DATE))
    with Archive(settings).open() as archive:
        harvest(archive, server.url, allow_private=True, limits=FAST)
        # The same records again: nothing changes, nothing is duplicated.
        server.requests.clear()
        again = harvest(archive, server.url, allow_private=True, limits=FAST)
        assert server.requests[0]["from"] == FIRST_DATE
        assert again.counts() == {"input": 16, "accepted": 16, "rejected": 0, "unchanged": 16}
        assert len(archive.ids()) == 16
        # Later the source deletes one record and changes nothing else.
        gone = "hdl:1765/308"
        server.serve_pages({None: list_records([deleted_record(gone)], None,
                                               "2024-06-01T00:00:00Z")})
        server.requests.clear()
        later = harvest(archive, server.url, allow_private=True, limits=FAST)
        assert server.requests[0]["from"] == FIRST_DATE
        assert later.counts() == {"input": 1, "accepted": 1, "rejected": 0, "withdrawn": 1}
        rid = record_id("dc", gone)
        assert later.accepted[0].record_id == rid
        assert archive.is_withdrawn(rid)
        assert rid not in archive.ids() and len(archive.ids()) == 15
        assert [r[0] for r in archive.state.batch_records(later.batch_id)] == [rid]
        saved = json.loads((settings.home / "batches" / f"{later.batch_id}.json").read_text())
        assert saved["counts"]["withdrawn"] == 1
        # Deleting it again is harmless.
        again = harvest(archive, server.url, allow_private=True, limits=FAST)
        assert again.counts()["unchanged"] == 1
    state = json.loads((settings.home / "harvest-state.json").read_text())
    assert state[f"{server.url} oai_dc"]["responseDate"] == "2024-06-01T00:00:00Z"


def test_looping_token_stops_with_a_clear_message(settings: Settings, server: OaiServer) -> None:
    records = corpus_records(EUR)
    server.serve_pages({None: list_records(records[:5], "same", FIRST_DATE),
                        "same": list_records(records[5:10], "same", FIRST_DATE)})
    with Archive(settings).open() as archive:
        report = harvest(archive, server.url, allow_private=True, limits=FAST)
        assert len(report.accepted) == 10
        assert [(r.position, "a second time; stopped to avoid a loop" in r.reason)
                for r in report.rejected] == [("page 2", True)]
        assert len(server.requests) == 2
    assert not (settings.home / "harvest-state.json").exists()  # not complete: no new `from`


def test_expired_token_is_a_clear_rejection(settings: Settings, server: OaiServer) -> None:
    records = corpus_records(EUR)
    server.serve_pages({None: list_records(records[:5], "expired", FIRST_DATE)})
    with Archive(settings).open() as archive:
        report = harvest(archive, server.url, allow_private=True, limits=FAST)
        assert len(report.accepted) == 5
        assert len(report.rejected) == 1
        reason = report.rejected[0].reason
        assert "badResumptionToken" in reason and "token expired has expired" in reason
        assert "records before it are kept" in reason


def test_503_with_retry_after_is_retried(settings: Settings, server: OaiServer) -> None:
    pages = paged(corpus_records(EUR), 8, FIRST_DATE)
    failed: list[float] = []

    def respond(query: dict[str, str]) -> Answer:
        token = query.get("resumptionToken")
        if token == "page-2" and not failed:
            failed.append(time.monotonic())
            return Answer(b"busy", 503, {"Retry-After": "1"})
        return Answer(pages[token])

    server.respond = respond
    with Archive(settings).open() as archive:
        report = harvest(archive, server.url, allow_private=True, limits=FAST)
    assert report.counts()["created"] == 16 and report.rejected == []
    assert [q.get("resumptionToken") for q in server.requests] == [None, "page-2", "page-2"]
    assert time.monotonic() - failed[0] >= 0.9


def test_503_forever_gives_up_after_the_retries(settings: Settings, server: OaiServer) -> None:
    server.respond = lambda query: Answer(b"down", 503, {"Retry-After": "0"})
    with Archive(settings).open() as archive:
        report = harvest(archive, server.url, allow_private=True,
                         limits=HarvestLimits(retries=2, backoff_seconds=0.01))
    assert len(server.requests) == 3
    assert [r.position for r in report.rejected] == ["page 1"]
    assert "HTTP 503" in report.rejected[0].reason


def test_set_from_until_are_sent(settings: Settings, server: OaiServer) -> None:
    server.respond = lambda query: Answer(oai_error("noRecordsMatch", "nothing"))
    with Archive(settings).open() as archive:
        report = harvest(archive, server.url, set_spec="1:2", from_date="2003-01-01",
                         until="2003-12-31", allow_private=True, limits=FAST)
    assert report.input == 0
    assert any("noRecordsMatch" in w for w in report.warnings)
    query = server.requests[0]
    assert (query["set"], query["from"], query["until"]) == ("1:2", "2003-01-01", "2003-12-31")


def test_page_and_size_limits(settings: Settings, server: OaiServer) -> None:
    server.serve_pages(paged(corpus_records(EUR), 2, FIRST_DATE))
    with Archive(settings).open() as archive:
        report = harvest(archive, server.url, allow_private=True,
                         limits=HarvestLimits(max_pages=3))
        assert len(report.accepted) == 6
        assert "stopped after 3 pages" in report.rejected[0].reason
        small = harvest(archive, server.url, from_date="2000-01-01", allow_private=True,
                        limits=HarvestLimits(max_response_bytes=1000))
        assert small.accepted == []
        assert "over the limit of 1,000" in small.rejected[0].reason


def test_mods_and_ead_are_routed_to_their_readers(settings: Settings,
                                                  server: OaiServer) -> None:
    server.serve_pages(paged(corpus_records(HARVARD_MODS), 4, FIRST_DATE, "mods"))
    with Archive(settings).open() as archive:
        report = harvest(archive, server.url, prefix="mods", allow_private=True, limits=FAST)
        assert report.counts()["created"] == 10
        assert report.accepted[0].record_id == record_id("mods", "arn00007c00001")
        assert report.reader == "oai:mets"
        ead = (CORPUS / "ead" / "stanford_a0011_ead2002.xml").read_bytes()
        ead = ead[ead.index(b"<ead"):]
        record = (b'<record xmlns="http://www.openarchives.org/OAI/2.0/"><header><identifier>'
                  b"oai:stanford:a0011</identifier><datestamp>2024-01-01</datestamp></header>"
                  b"<metadata>" + ead + b"</metadata></record>")
        server.serve_pages({None: list_records([record], None, FIRST_DATE, "ead")})
        report = harvest(archive, server.url, prefix="ead", allow_private=True, limits=FAST)
        assert report.accepted[0].record_id == record_id("ead", "oai:stanford:a0011")
        assert len(report.accepted) == 2
        assert archive.children(record_id("ead", "oai:stanford:a0011")) == [
            (report.accepted[1].record_id, 1)]


def test_unknown_prefix_is_refused(settings: Settings) -> None:
    with Archive(settings).open() as archive, pytest.raises(ValueError, match="metadataPrefix"):
        harvest(archive, "http://127.0.0.1:1/oai", prefix="nonsense")


def test_loopback_is_refused_unless_allowed(settings: Settings, server: OaiServer) -> None:
    server.serve_pages(paged(corpus_records(EUR), 16, FIRST_DATE))
    with Archive(settings).open() as archive:
        report = harvest(archive, server.url, limits=FAST)
        assert report.accepted == []
        assert "loopback address; refused" in report.rejected[0].reason
        report = harvest(archive, "file:///etc/passwd", limits=FAST)
        assert "only http and https" in report.rejected[0].reason
    assert server.requests == []


# -- the URL guard ---------------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "file:///etc/hostname", "ftp://example.org/x", "gopher://127.0.0.1/", "/relative",
    "http://127.0.0.1/", "http://localhost/", "http://10.1.2.3/", "http://192.168.0.1/",
    "http://172.16.0.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/",
    "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://224.0.0.1/", "http://100.64.0.1/",
])
def test_guard_refuses_unsafe_urls(url: str) -> None:
    with pytest.raises(FetchRefused):
        resolve_checked(url, allow_private=False)


def test_guard_allows_private_only_when_told() -> None:
    assert resolve_checked("http://127.0.0.1:8080/x", allow_private=True)[3] == "127.0.0.1"
    for url in ("http://169.254.169.254/", "http://224.0.0.1/", "http://0.0.0.0/"):
        with pytest.raises(FetchRefused):
            resolve_checked(url, allow_private=True)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/redirect-to?"):
            self.send_response(302)
            self.send_header("Location", self.path.split("?", 1)[1])
            self.end_headers()
        elif self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
        elif self.path == "/big":
            self.send_response(200)
            self.end_headers()  # no Content-Length: the cap must hold while reading
            for _ in range(64):
                self.wfile.write(b"x" * 32_768)
        elif self.path == "/slow":
            time.sleep(2)
            self.send_response(200)
            self.end_headers()
        else:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def plain_server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_fetch_rechecks_every_redirect(plain_server: str) -> None:
    assert fetch(f"{plain_server}/redirect-to?/fine", allow_private=True, max_bytes=100,
                 timeout=5) == b"ok"
    for target in ("file:///etc/hostname", "http://169.254.169.254/latest/meta-data/"):
        with pytest.raises(FetchRefused):
            fetch(f"{plain_server}/redirect-to?{target}", allow_private=True, max_bytes=100,
                  timeout=5)
    with pytest.raises(FetchError, match="more than 5 redirects"):
        fetch(f"{plain_server}/loop", allow_private=True, max_bytes=100, timeout=5)


def test_fetch_caps_size_and_time(plain_server: str) -> None:
    with pytest.raises(FetchError, match="over the limit"):
        fetch(f"{plain_server}/big", allow_private=True, max_bytes=100_000, timeout=5)
    started = time.monotonic()
    with pytest.raises(FetchError):
        fetch(f"{plain_server}/slow", allow_private=True, max_bytes=100, timeout=0.5)
    assert time.monotonic() - started < 1.9


def test_fetch_reports_http_status(plain_server: str, tmp_path: Path) -> None:
    server = OaiServer()
    server.respond = lambda query: Answer(b"", 503, {"Retry-After": "7"})
    thread = Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(HttpStatusError) as info:
            fetch(server.url, allow_private=True, max_bytes=100, timeout=5)
        assert (info.value.status, info.value.retry_after) == (503, 7.0)
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


def test_day_granularity_repository_gets_day_dates(settings: Settings, server: OaiServer) -> None:
    pages = paged(corpus_records(EUR), 16, FIRST_DATE)

    def respond(query: dict[str, str]) -> Answer:
        if "T" in query.get("from", ""):
            return Answer(oai_error("badArgument", "granularity is YYYY-MM-DD"))
        return Answer(pages[None])

    server.respond = respond
    with Archive(settings).open() as archive:
        report = harvest(archive, server.url, from_date="2003-04-10T00:00:00Z",
                         allow_private=True, limits=FAST)
    assert report.counts()["created"] == 16
    assert [q["from"] for q in server.requests] == ["2003-04-10T00:00:00Z", "2003-04-10"]


def wrap_payloads(elements: list[etree._Element], prefix: str) -> list[bytes]:
    """OAI records around metadata payloads taken from corpus files."""
    return [(f'<record xmlns="http://www.openarchives.org/OAI/2.0/"><header><identifier>'
             f"oai:test:{prefix}:{n}</identifier><datestamp>2024-01-01</datestamp></header>"
             "<metadata>").encode() + etree.tostring(el) + b"</metadata></record>"
            for n, el in enumerate(elements)]


def test_lido_and_marcxml_go_to_the_readers_named_so(settings: Settings,
                                                     server: OaiServer) -> None:
    lido = etree.parse(str(CORPUS / "lido" / "lido-v1.1-example_la-primavera.xml")).getroot()
    lidos = [e for e in lido.iter("{http://www.lido-schema.org}lido")]
    marc = etree.parse(str(CORPUS / "marcxml" / "loc_batch_marcxml.xml")).getroot()
    marcs = list(marc.iter("{http://www.loc.gov/MARC21/slim}record"))[:3]
    with Archive(settings).open() as archive:
        for prefix, payloads, namespace in (("lido", lidos, "lido"), ("marcxml", marcs, "marc")):
            server.serve_pages({None: list_records(wrap_payloads(payloads, prefix), None,
                                                   FIRST_DATE, prefix)})
            report = harvest(archive, server.url, prefix=prefix, allow_private=True,
                             limits=FAST, options={"namespace": namespace})
            assert report.reader == f"oai:{prefix}"
            assert report.rejected == [], report.rejected
            assert len(report.accepted) == len(payloads) >= 1
