"""OAI-PMH response files cut into their <record> elements unparsed (ingest/xmlsplit.py).

The parent finds each record's bytes, and the identifier in its header (the record's
position and local id); the worker parses the record under the file's head and hands it on,
or refuses it, exactly as oai_file_records does after the streamed parse. Where the parent's
reading of the header was not what the parse says, the rest of the file is read exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lxml import etree

from ingest.dc_reader import DELETED_REASON, MEDIA_TYPE, local, raw_xml
from ingest.oai import OaiHandler, OaiSettle, oai_error, oai_records
from ingest.reader import RecordRejected, Rejection, SourceRecord
from ingest.xmlrecords import guarded, stopped
from ingest.xmlsafe import XmlRejected
from ingest.xmlsplit import _ATTRS, _NAME, SliceFailed, Wrapping, split_records

_PREFIX = rb"(?:" + _NAME + rb":)?"
# A header that opens the record and names its identifier first, in plain text.
_HEADER_ID = re.compile(
    rb"<" + _PREFIX + rb"record" + _ATTRS + rb">[ \t\r\n]*<" + _PREFIX + rb"header" + _ATTRS
    + rb">[ \t\r\n]*<" + _PREFIX + rb"identifier[ \t\r\n]*>([^<]*)</")
_ENTITIES = ((b"&lt;", b"<"), (b"&gt;", b">"), (b"&quot;", b'"'), (b"&apos;", b"'"),
             (b"&amp;", b"&"))


def identifier_in(raw: bytes) -> str:
    """The identifier in a cut record's header as oai_records reads it, if plainly there.

    A guess the worker checks (a character reference, say, is left as it is: the worker's
    parse then differs, and the rest of the file is read exactly)."""
    found = _HEADER_ID.match(raw)
    if found is None:
        return ""
    text = found.group(1)
    if b"&" in text:  # URLs with queries: the predefined entities only
        for entity, char in _ENTITIES:
            text = text.replace(entity, char)
    try:
        return " ".join(text.decode("utf-8").split())
    except UnicodeDecodeError:
        return ""


WRAPPING = Wrapping(b"OAI-PMH", frozenset({b"responseDate", b"request"}),
                    frozenset({b"ListRecords", b"GetRecord"}), frozenset({b"resumptionToken"}),
                    identifier_in)


def is_oai_record(el: etree._Element) -> bool:
    """Whether an element is an OAI-PMH <record> (any namespace, as the streamed read takes)."""
    return local(el) == "record"


def no_local_id(el: etree._Element) -> None:
    """Cut OAI records are not tested for duplicates here (the exact read makes no such test)."""
    return None


def cut_file(source: Path, settle: OaiSettle, exact: Callable[[int], Iterator[Any]]
             ) -> Iterator[SourceRecord | Rejection]:
    """The records of an OAI-PMH response file, cut; `exact(skip)` reads it the exact way."""
    what = {"is_record": is_oai_record, "local_id": no_local_id, "id_name": "identifier",
            "settle": settle}
    try:
        yield from split_records(source, "record", MEDIA_TYPE, what, exact, WRAPPING)
    except XmlRejected as exc:
        yield stopped(source, exc, 0)


def settled(item: SourceRecord, el: etree._Element, handler: OaiHandler) -> SourceRecord:
    """A cut <record> as oai_file_records hands it on: RecordRejected for its refusals, and
    SliceFailed where the parent's reading (position, local id) is not what the parse says."""
    if oai_error(el) is not None:
        raise SliceFailed  # an <error> in a record: rare enough to read exactly
    rec = next(oai_records(el))
    if rec.identifier != (item.local_id or ""):
        raise SliceFailed
    if rec.deleted:
        raise RecordRejected(DELETED_REASON)
    if rec.payload is None:
        raise RecordRejected("the OAI record has no metadata")
    record = SourceRecord(item.source, item.position, item.local_id, raw_xml(el), MEDIA_TYPE,
                          rec.payload)
    out = list(guarded(handler(record), item.source, item.position))
    if len(out) != 1:
        raise SliceFailed
    done = out[0]
    if isinstance(done, Rejection):
        if (done.source, done.position, done.record_id) != (item.source, item.position, None):
            raise SliceFailed  # a refusal the pipeline could not report as the reader did
        raise RecordRejected(done.reason)
    return done
