"""OAI-PMH: records inside response files, and the incremental harvester built on run_batch."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from archive.ids import IdentifierError, record_id
from archive.record import RecordDraft
from archive.service import Archive
from archive.state import utc_now
from ingest.dc_reader import (
    DELETED_REASON,
    MEDIA_TYPE,
    child,
    children,
    local,
    parse_data,
    position_of,
    raw_xml,
)
from ingest.netsafe import FetchError, FetchLimitError, FetchRefused, HttpStatusError, fetch
from ingest.pipeline import Accepted, BatchReport, run_batch, write_report
from ingest.reader import ReadContext, Reader, Rejection, SourceRecord
from ingest.registry import get_reader
from ingest.xmlrecords import RecordsOf, guarded, stopped, tree_records
from ingest.xmlsafe import XmlRejected, iter_located, root_name

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
STATE_FILE = "harvest-state.json"
# metadataPrefix -> (reader name, default record-id namespace of that reader)
ROUTES: dict[str, tuple[str, str]] = {
    "oai_dc": ("dc", "dc"), "oai_qdc": ("dc", "dc"), "qdc": ("dc", "dc"), "dc": ("dc", "dc"),
    "ead": ("ead", "ead"), "mods": ("mets", "mods"), "mets": ("mets", "mods"),
    "lido": ("lido", "lido"), "marcxml": ("marcxml", "marc"), "marc21": ("marcxml", "marc"),
}
RETRY_STATUSES = (429, 500, 502, 503, 504)

OaiHandler = Callable[[SourceRecord], Iterator[SourceRecord | Rejection]]
# A reader's step on a <record> cut unparsed (ingest/oai_cut.py), run in a worker.
OaiSettle = Callable[[SourceRecord, Any], SourceRecord]


@dataclass(frozen=True)
class OaiRecord:
    """One record of an OAI-PMH response: its element, header facts and metadata payload."""

    element: Any
    identifier: str
    datestamp: str
    deleted: bool
    payload: Any | None


def oai_error(root: Any) -> tuple[str, str] | None:
    """The (code, message) of an OAI-PMH error response, or None."""
    error = child(root, "error")
    if error is None:
        return None
    return error.get("code", "unknown"), " ".join("".join(error.itertext()).split())


def oai_records(root: Any) -> Iterator[OaiRecord]:
    """Every record in an OAI-PMH response (or a bare <record>), namespaced or not."""
    if local(root) == "record":
        elements = [root]
    else:
        elements = [r for verb in children(root, "ListRecords", "GetRecord")
                    for r in children(verb, "record")]
    for el in elements:
        header = child(el, "header")
        identifier = ""
        datestamp = ""
        deleted = False
        if header is not None:
            id_el = child(header, "identifier")
            identifier = " ".join("".join(id_el.itertext()).split()) if id_el is not None else ""
            ds_el = child(header, "datestamp")
            datestamp = (ds_el.text or "").strip() if ds_el is not None else ""
            deleted = header.get("status") == "deleted"
        metadata = child(el, "metadata")
        payload = child(metadata) if metadata is not None else None
        yield OaiRecord(el, identifier, datestamp, deleted, payload)


def resumption_token(root: Any) -> str | None:
    """The resumption token of a ListRecords page, or None at the end of the list."""
    verb = child(root, "ListRecords")
    token = child(verb, "resumptionToken") if verb is not None else None
    value = (token.text or "").strip() if token is not None else ""
    return value or None


def is_oai_file(source: Path) -> bool:
    """Whether a file is an OAI-PMH response (its root element, read alone, says so)."""
    try:
        name, namespace = root_name(source)
    except XmlRejected:
        return False  # the reader's whole-tree path reports why
    return name == "OAI-PMH" and namespace in (None, OAI_NS)


def oai_file_stream(source: Path, context: ReadContext, handler: OaiHandler,
                    settle: OaiSettle | None = None, skip: int = 0
                    ) -> Iterator[SourceRecord | Rejection]:
    """Records of an OAI-PMH response file read as a stream, one <record> at a time.

    A response without records (an error, noRecordsMatch, ListSets) is read whole to say why.
    With `settle` (the reader's worker step, ingest/oai_cut.py) and `context.split`, a plain
    file's records are cut unparsed. The first `skip` records are read, not yielded.
    """
    if settle is not None and context.split:
        from ingest.oai_cut import cut_file

        yield from cut_file(source, settle, lambda skip: oai_file_stream(
            source, context, handler, skip=skip))
        return
    count = 0
    try:
        for position, el in iter_located(source, "record"):
            count += 1
            if count > skip:
                yield from oai_file_records(el, str(source), context, handler, position)
    except XmlRejected as exc:
        yield stopped(source, exc, count)
        return
    if not count:
        yield from tree_records(
            source, lambda root, name: oai_file_records(root, name, context, handler))


def streamed_or_whole(source: Path, context: ReadContext, handler: OaiHandler,
                      records_of: RecordsOf, settle: OaiSettle | None = None
                      ) -> Iterator[SourceRecord | Rejection]:
    """An OAI-PMH response file streamed through `handler` (cut, with `settle`: see
    oai_file_stream); any other file parsed whole."""
    if is_oai_file(source):
        yield from oai_file_stream(source, context, handler, settle)
    else:
        yield from tree_records(source, records_of)


def oai_file_records(root: Any, source: str, context: ReadContext, handler: OaiHandler,
                     where: str | None = None) -> Iterator[SourceRecord | Rejection]:
    """Records of an OAI-PMH response (or of one streamed <record> found at `where`), each
    passed through a reader's handler."""
    error = oai_error(root)
    if error is not None:
        if error[0] == "noRecordsMatch":
            context.warnings.append(f"{source}: the OAI-PMH response says noRecordsMatch")
            return
        yield Rejection(source, "file", f"OAI-PMH error {error[0]}: {error[1]}")
        return
    if local(root) != "record" and child(root, "ListRecords", "GetRecord") is None:
        verbs = [local(c) for c in children(root) if local(c) not in ("responseDate", "request")]
        yield Rejection(source, "file", f"an OAI-PMH {'/'.join(verbs) or 'empty'} response holds "
                        "no records (only ListRecords and GetRecord responses do)")
        return
    for rec in oai_records(root):
        position = rec.identifier or where or position_of(rec.element)
        if rec.deleted:
            yield Rejection(source, position, DELETED_REASON)
            continue
        if rec.payload is None:
            yield Rejection(source, position, "the OAI record has no metadata")
            continue
        yield from guarded(handler(SourceRecord(source, position, rec.identifier or None,
                                                raw_xml(rec.element), MEDIA_TYPE, rec.payload)),
                           source, position)


# -- the harvester -------------------------------------------------------------------------------

@dataclass(frozen=True)
class HarvestLimits:
    """Caps on one harvest: pages, time, bytes per response, and retrying."""

    max_pages: int = 10_000
    max_seconds: float = 6 * 3600
    max_response_bytes: int = 64 * 1024 * 1024
    request_timeout: float = 120.0
    retries: int = 5
    backoff_seconds: float = 2.0
    max_retry_after: float = 120.0


@dataclass
class _Harvest:
    """What a harvest learnt while reading: deletions, the first responseDate, completion."""

    deleted: list[tuple[str, str]] = field(default_factory=list)
    response_date: str | None = None
    complete: bool = False


class OaiHarvestReader:
    """A reader whose source is an OAI-PMH endpoint: pages through ListRecords."""

    name = "oai"
    version = "1.0"

    def __init__(self, url: str, params: dict[str, str], route: str, *,
                 limits: HarvestLimits, allow_private: bool) -> None:
        self.url = url
        self.params = params
        self.route_name, self.default_namespace = ROUTES[route]
        self.route: Reader = get_reader(self.route_name)
        self.limits = limits
        self.allow_private = allow_private
        self.outcome = _Harvest()
        self.name = f"oai:{self.route_name}"

    def _get(self, query: dict[str, str], started: float) -> bytes:
        url = f"{self.url}?{urlencode(query)}"
        attempt = 0
        while True:
            try:
                return fetch(url, allow_private=self.allow_private,
                             max_bytes=self.limits.max_response_bytes,
                             timeout=self.limits.request_timeout)
            except (FetchRefused, FetchLimitError):
                raise
            except FetchError as exc:
                status = exc.status if isinstance(exc, HttpStatusError) else None
                if attempt >= self.limits.retries or (status and status not in RETRY_STATUSES):
                    raise
                retry_after = exc.retry_after if isinstance(exc, HttpStatusError) else None
                wait = min(retry_after if retry_after is not None
                           else self.limits.backoff_seconds * 2 ** attempt,
                           self.limits.max_retry_after)
                if time.monotonic() + wait - started > self.limits.max_seconds:
                    raise
                time.sleep(wait)
                attempt += 1

    def read(self, source: Path, context: ReadContext) -> Iterator[SourceRecord | Rejection]:
        """Yield every record of every page; stop with a rejection on any harvest-level error."""
        started = time.monotonic()
        query = {"verb": "ListRecords", **self.params}
        seen_tokens: set[str] = set()
        page = 0
        while True:
            page += 1
            where = f"page {page}"
            if page > self.limits.max_pages:
                yield Rejection(self.url, where, f"stopped after {self.limits.max_pages} pages "
                                "(the page limit); the rest was not harvested")
                return
            if time.monotonic() - started > self.limits.max_seconds:
                yield Rejection(self.url, where, f"stopped after {self.limits.max_seconds:g} s "
                                "(the time limit); the rest was not harvested")
                return
            try:
                root = parse_data(self._get(query, started), f"{self.url} {where}")
            except (FetchError, XmlRejected) as exc:
                yield Rejection(self.url, where, f"harvest stopped: {exc}")
                return
            if self.outcome.response_date is None:
                date_el = child(root, "responseDate")
                self.outcome.response_date = (date_el.text or "").strip() if date_el is not None \
                    else None
            error = oai_error(root)
            if error is not None and self._day_granularity(error[0], page, query):
                page -= 1
                continue
            if error is not None:
                code, message = error
                if code == "noRecordsMatch":
                    context.warnings.append("the repository has no records that match "
                                            "(noRecordsMatch)")
                    self.outcome.complete = True
                elif code == "badResumptionToken":
                    yield Rejection(self.url, where, "the repository refused the resumption "
                                    f"token (badResumptionToken: {message}); harvest stopped, "
                                    "the records before it are kept; harvest again to resume")
                else:
                    yield Rejection(self.url, where, f"OAI-PMH error {code}: {message}")
                return
            yield from self._page_records(root, context)
            token = resumption_token(root)
            if token is None:
                self.outcome.complete = True
                return
            if token in seen_tokens:
                yield Rejection(self.url, where, f"the repository sent resumption token {token!r} "
                                "a second time; stopped to avoid a loop")
                return
            seen_tokens.add(token)
            query = {"verb": "ListRecords", "resumptionToken": token}

    @staticmethod
    def _day_granularity(code: str, page: int, query: dict[str, str]) -> bool:
        """Retry a first request with day dates when the repository refuses seconds."""
        if code != "badArgument" or page != 1:
            return False
        changed = False
        for name in ("from", "until"):
            if "T" in query.get(name, ""):
                query[name] = query[name][:10]
                changed = True
        return changed

    def _page_records(self, root: Any, context: ReadContext
                      ) -> Iterator[SourceRecord | Rejection]:
        for rec in oai_records(root):
            position = rec.identifier or position_of(rec.element)
            if rec.deleted:
                namespace = context.options.get("namespace") or self.default_namespace
                try:
                    self.outcome.deleted.append((record_id(namespace, rec.identifier), position))
                except IdentifierError as exc:
                    yield Rejection(self.url, position, f"deleted record: {exc}")
                continue
            if rec.payload is None:
                yield Rejection(self.url, position, "the OAI record has no metadata")
                continue
            # A record that comes back after a deletion is no longer to be withdrawn.
            self.outcome.deleted = [d for d in self.outcome.deleted if d[1] != position]
            handler = getattr(self.route, "from_oai", None)
            if handler is not None:
                record = SourceRecord(self.url, position, rec.identifier or None,
                                      raw_xml(rec.element), MEDIA_TYPE, rec.payload)
                yield from guarded(handler(record), self.url, position)
            else:
                # The contract with other readers: raw is the metadata payload's XML, data the
                # parsed payload element.
                yield SourceRecord(self.url, position, rec.identifier or None,
                                   raw_xml(rec.payload), MEDIA_TYPE, rec.payload)

    def to_rdf(self, record: SourceRecord, context: ReadContext) -> RecordDraft:
        """Map a harvested record with the reader of its metadata format."""
        return self.route.to_rdf(record, context)


def _state_key(url: str, prefix: str, set_spec: str | None) -> str:
    return f"{url} {prefix} {set_spec or ''}".rstrip()


def load_state(home: Path) -> dict[str, dict[str, str]]:
    """The incremental harvest state: the last responseDate per (endpoint, prefix, set)."""
    path = home / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_state(home: Path, state: dict[str, dict[str, str]]) -> None:
    home.mkdir(parents=True, exist_ok=True)
    path = home / STATE_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def harvest(archive: Archive, url: str, *, prefix: str = "oai_dc", set_spec: str | None = None,
            from_date: str | None = None, until: str | None = None,
            options: dict[str, Any] | None = None, limits: HarvestLimits | None = None,
            allow_private: bool = False, dry_run: bool = False) -> BatchReport:
    """Harvest an OAI-PMH endpoint as one batch; incremental from the last harvest's date."""
    if prefix not in ROUTES:
        raise ValueError(f"no reader for metadataPrefix {prefix!r}; known: {', '.join(ROUTES)}")
    limits = limits or HarvestLimits()
    key = _state_key(url, prefix, set_spec)
    state = load_state(archive.settings.home)
    if from_date is None:
        from_date = state.get(key, {}).get("responseDate")
    params = {"metadataPrefix": prefix}
    for name, value in (("set", set_spec), ("from", from_date), ("until", until)):
        if value:
            params[name] = value
    reader = OaiHarvestReader(url, params, prefix, limits=limits, allow_private=allow_private)
    report = run_batch(archive, reader, url, options=options, dry_run=dry_run)
    _apply_deletions(archive, reader, report)
    if reader.outcome.complete and reader.outcome.response_date and not dry_run:
        state[key] = {"responseDate": reader.outcome.response_date, "harvested": utc_now()}
        _save_state(archive.settings.home, state)
    return report


def _apply_deletions(archive: Archive, reader: OaiHarvestReader, report: BatchReport) -> None:
    if not reader.outcome.deleted:
        return
    for rid, position in reader.outcome.deleted:
        if report.dry_run:
            report.accepted.append(Accepted(rid, position, "valid", None,
                                            ["deleted at the source"]))
            continue
        version = archive.withdraw(rid, "deleted at the source", report.batch_id)
        if version is None:
            report.accepted.append(Accepted(rid, position, "unchanged", None, [
                "deleted at the source; not held here or already withdrawn"]))
            continue
        archive.state.add_batch_record(report.batch_id, rid, version, "withdrawn")
        report.accepted.append(Accepted(rid, position, "withdrawn", version))
    report.finished = utc_now()
    archive.state.finish_batch(report.batch_id, "done",
                               (report.input, len(report.accepted), len(report.rejected)))
    write_report(archive, report)
