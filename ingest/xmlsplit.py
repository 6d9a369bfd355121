"""Records cut from a plain XML file without parsing it, for the worker processes to parse.

A file of records (a lidoWrap of lido:lido, a MARC collection of records) is read by the
parent, and every record is then parsed again where it is mapped. On a plain file the parent
need not parse at all: `split_records` finds each record's bytes with a few regular
expressions (C speed) and hands them on with the root's start tag; `resolve` (in the worker)
parses root start tag + record + root end tag with the one hardened parser, and gives the
record exactly as the streamed parse gives it (the same element under the same root, the same
`etree.tostring` bytes, local id and position).

Only a file of the simplest shape is cut: an optional XML declaration (UTF-8), no DOCTYPE, a
root element whose children are the records, one after another, separated by white space. A
`Wrapping` allows one more level, as in an OAI-PMH response: text-only elements, then the
records' parent, the records, text-only elements after them (a resumptionToken), and the ends.
Anything else (a comment between records, another element, an unclosed root, a record that
does not parse alone) is never guessed at: the cut stops there, and the caller reads the rest
of the file the exact way (xmlrecords.file_records with `skip`), from the first record not yet
known good. So output, positions and refusals are those of the streamed parse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

from ingest.reader import SourceRecord
from ingest.xmlsafe import XmlRejected, _check_size, _check_start, parse_xml_bytes

BLOCK = 1 << 20
_NAME = rb"[A-Za-z_][A-Za-z0-9_.\-]*"
_QNAME = rb"(?:" + _NAME + rb":)?" + _NAME
# A start tag's attributes: values hold no "<" (XML forbids it), so the tag's end is exact.
_ATTRS = rb"(?:\s+" + _QNAME + rb"\s*=\s*(?:\"[^\"<]*\"|'[^'<]*'))*\s*"
_PROLOG = re.compile(
    rb"(?:\xef\xbb\xbf)?(?:<\?xml\s+version\s*=\s*[\"']1\.[0-9][\"']"
    rb"(?:\s+encoding\s*=\s*[\"'](?:[uU][tT][fF]-?8)[\"'])?"
    rb"(?:\s+standalone\s*=\s*[\"'](?:yes|no)[\"'])?\s*\?>)?[ \t\r\n]*"
    rb"<(" + _QNAME + rb")" + _ATTRS + rb">"
)
_SPACE = re.compile(rb"[ \t\r\n]*")
_START_NAME = re.compile(rb"<(" + _QNAME + rb")[\s/>]")
_OPEN_NAME = re.compile(rb"<(" + _QNAME + rb")")
# What may follow a tag's name (the bytes regular expressions' \s, "/" or ">").
_AFTER_NAME = frozenset(b" \t\n\r\x0b\x0c/>")
# An element holding text only (the head and tail of an OAI-PMH response).
_TEXT_ONLY = rb"<(" + _QNAME + rb")" + _ATTRS + rb"(?:/>|>[^<]*</\1\s*>)"
_SIMPLE = re.compile(rb"[ \t\r\n]*" + _TEXT_ONLY)
_OPEN = re.compile(rb"[ \t\r\n]*<(" + _QNAME + rb")" + _ATTRS + rb">")
# How far ahead the end of the file is looked for (past a resumptionToken).
_END_AHEAD = 65536


@dataclass(frozen=True)
class Wrapping:
    """The elements around the records when they are not the root's children (OAI-PMH)."""

    root: bytes  # the root's local name
    before: frozenset[bytes]  # text-only elements that may come before the records' parent
    parents: frozenset[bytes]  # the local names the records' parent may have
    after: frozenset[bytes]  # text-only elements that may follow the last record
    # The record's name found in its bytes ("" if none): its position and local id.
    identify: Callable[[bytes], str]


class SliceFailed(Exception):
    """A cut record that is not what the streamed parse would give: read the rest exactly."""


@dataclass
class RecordSlice:
    """What a worker needs to parse a cut record: the root's start and end, and the reader's
    record test and local id. `resume`, in the parent only, reads the rest exactly."""

    head: bytes
    tail: bytes
    number: int
    is_record: Callable[[etree._Element], bool]
    local_id: Callable[[etree._Element], str | None]
    id_name: str
    stop: bool = False  # not a record: the cut stopped here (something it does not guess at)
    resume: Callable[[int], Iterator[Any]] | None = field(default=None, compare=False)
    # With a Wrapping: how many children the root has in head + record + tail (the last is
    # the records' parent).
    inside: int = 0
    # The reader's own step on the parsed record (OAI-PMH: header checks, refusals); it
    # returns the record as the exact read hands it on, raises RecordRejected for a refusal
    # and SliceFailed where the parent read the record's bytes wrong.
    settle: Callable[[SourceRecord, etree._Element], SourceRecord] | None = None

    def __getstate__(self) -> dict[str, Any]:
        """What travels: everything but the parent's resume function."""
        return {**self.__dict__, "resume": None}


def resolve(item: SourceRecord) -> tuple[SourceRecord, str | None]:
    """The cut record as the streamed parse gives it, and its local id; SliceFailed if not."""
    from ingest.xmlrecords import ParsedRecord, inherited_lang

    cut: RecordSlice = item.data
    if cut.stop:
        raise SliceFailed
    try:
        root = parse_xml_bytes(cut.head + item.raw + cut.tail, item.source)
    except (XmlRejected, ValueError):
        raise SliceFailed from None
    # Exactly one element and nothing else: a wrong cut (a tag inside a comment or CDATA)
    # leaves a construct open or two elements, never one element.
    parent = root
    if cut.inside:
        if len(root) != cut.inside or root[-1].tail is not None:
            raise SliceFailed
        parent = root[-1]
    if len(parent) != 1 or parent.text is not None:
        raise SliceFailed
    el = parent[0]
    if not isinstance(el.tag, str) or el.tail is not None or not cut.is_record(el):
        raise SliceFailed
    if cut.settle is not None:
        return cut.settle(item, el), None  # no duplicate test: the reader makes none
    raw = etree.tostring(el, encoding="utf-8", with_tail=False)
    resolved = replace(item, raw=raw, data=ParsedRecord(el, inherited_lang(el)))
    return resolved, cut.local_id(el)


class _Resume:
    """The exact read of the rest of a file, and whether it was asked for (the cut ends)."""

    def __init__(self, exact: Callable[[int], Iterator[Any]]) -> None:
        self.exact = exact
        self.used = False

    def __call__(self, skip: int) -> Iterator[Any]:
        """The exact read with the first `skip` records left out."""
        self.used = True
        return self.exact(skip)


@dataclass
class _Reader:
    """A file read in blocks; `buf[pos:]` is what is not yet consumed."""

    handle: Any
    buf: bytes = b""
    pos: int = 0
    eof: bool = False
    ending: bytes = b""  # what closed the file after the last record

    def more(self) -> bool:
        """Append a block (dropping what was consumed); False at the end of the file."""
        if self.eof:
            return False
        block = self.handle.read(BLOCK)
        if not block:
            self.eof = True
            return False
        self.buf = self.buf[self.pos:] + block
        self.pos = 0
        return True


def split_records(source: Path, tag: str, media_type: str, what: dict[str, Any],
                  exact: Callable[[int], Iterator[Any]],
                  wrapping: Wrapping | None = None) -> Iterator[Any]:
    """Yield the records of a plain file as cut SourceRecords (data: RecordSlice).

    `exact(skip)` reads the file the exact way, leaving out its first `skip` records. If the
    file is not plain from the start, that is all this yields; where the cut stops later, a
    stop marker (a SourceRecord whose resolve fails) is yielded in its place, and whoever
    meets it calls its `resume` to read on exactly.
    """
    _check_size(source)
    with source.open("rb") as handle:
        _check_start(handle.read(4096), str(source))
        handle.seek(0)
        reader = _Reader(handle, handle.read(BLOCK))
        prolog = _PROLOG.match(reader.buf)
        root_q = prolog.group(1) if prolog else b""
        if prolog is None or root_q.rpartition(b":")[2] == tag.encode() or (
                b"<!DOCTYPE" in reader.buf[:prolog.end()]):
            yield from exact(0)
            return
        root_local = root_q.rpartition(b":")[2].decode()
        tail = b"</" + root_q + b">"
        prefix = f"/{root_local}/"
        closing = _root_end(root_q)
        inside = 0
        if wrapping is not None:
            wrapped = _wrapped(reader.buf, prolog.end(), root_q, wrapping)
            if wrapped is None:
                yield from exact(0)
                return
            reader.pos, inside, parent_q = wrapped
            tail = b"</" + parent_q + b">" + tail
            prefix += f"{parent_q.rpartition(b':')[2].decode()}[1]/"
            closing = _wrapped_end(root_q, parent_q, wrapping.after)
        else:
            reader.pos = prolog.end()
        head = reader.buf[:reader.pos]
        what = {**what, "inside": inside}
        resume = _Resume(exact)
        number = 0
        scanners: dict[bytes, _Scanner] = {}  # by the records' qualified names
        while True:
            start = _next_record(reader, closing, tag.encode())
            if start is None and not _ends_well(head, reader.ending, source):
                start = -1
            if start is None:  # the root ended cleanly, nothing after it
                if number:
                    return
                yield from exact(0)  # no records: the exact read says so
                return
            end = None
            if start != -1:
                record_q = _record_name(reader)
                scanner = scanners.get(record_q)
                if scanner is None:
                    scanner = scanners[record_q] = _Scanner(record_q)
                end = scanner.end_of(reader)
            number += 1
            if end is None:
                if number == 1:
                    yield from exact(0)
                    return
                yield _stop(source, media_type, head, tail, number, what, resume)
                return
            raw = reader.buf[reader.pos:end]
            reader.pos = end
            name = wrapping.identify(raw) if wrapping is not None else ""
            yield SourceRecord(str(source), name or f"{prefix}{tag}[{number}]", name or None,
                               raw, media_type, RecordSlice(head, tail, number, resume=resume,
                                                            **what))
            if resume.used:
                return  # the rest is read exactly, by whoever met a record that failed


def _stop(source: Path, media_type: str, head: bytes, tail: bytes, number: int,
          what: dict[str, Any], exact: Callable[[int], Iterator[Any]]) -> SourceRecord:
    return SourceRecord(str(source), "", None, b"", media_type,
                        RecordSlice(head, tail, number, stop=True, resume=exact, **what))


def _next_record(reader: _Reader, closing: re.Pattern[bytes], tag: bytes) -> int | None:
    """Skip white space; the next record starts at reader.pos (returns 0), the file ends
    there (`closing`, then white space only; None), or anything else (-1)."""
    while True:
        space = _SPACE.match(reader.buf, reader.pos)
        assert space is not None
        if space.end() == len(reader.buf) and reader.more():
            continue
        reader.pos = space.end()
        rest = reader.buf[reader.pos:reader.pos + 512]
        if len(rest) < 512 and not reader.eof and reader.more():
            continue
        break
    name = _START_NAME.match(rest)
    if name is not None and name.group(1).rpartition(b":")[2] == tag:
        return 0
    while len(reader.buf) - reader.pos < _END_AHEAD and reader.more():
        pass
    close = closing.match(reader.buf, reader.pos)
    if close is None:
        return -1
    reader.pos = close.end()
    reader.ending = close.group()
    while True:  # only white space may follow, to the end of the file
        space = _SPACE.match(reader.buf, reader.pos)
        assert space is not None
        if space.end() < len(reader.buf):
            return -1
        reader.pos = space.end()
        if not reader.more():
            return None


def _ends_well(head: bytes, end: bytes, source: Path) -> bool:
    """Whether the file's end (after the last record) is well-formed: the exact read would
    refuse what the patterns let by (an invalid character, a repeated attribute...)."""
    try:
        parse_xml_bytes(head + end, str(source))
    except (XmlRejected, ValueError):
        return False
    return True


@lru_cache(maxsize=64)
def _root_end(root_q: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"</" + re.escape(root_q) + rb"[ \t\r\n]*>")


@lru_cache(maxsize=64)
def _wrapped_end(root_q: bytes, parent_q: bytes, after: frozenset[bytes]) -> re.Pattern[bytes]:
    extra = b""
    if after:
        names = b"|".join(re.escape(n) for n in sorted(after))
        extra = (rb"(?:[ \t\r\n]*<((?:" + _NAME + rb":)?(?:" + names + rb"))" + _ATTRS
                 + rb"(?:/>|>[^<]*</\1[ \t\r\n]*>))*")
    return re.compile(extra + rb"[ \t\r\n]*</" + re.escape(parent_q) + rb"[ \t\r\n]*>"
                      rb"[ \t\r\n]*</" + re.escape(root_q) + rb"[ \t\r\n]*>")


def _wrapped(buf: bytes, at: int, root_q: bytes, wrapping: Wrapping
             ) -> tuple[int, int, bytes] | None:
    """After the root's start tag: where the records begin, how many children the root has
    up to the records' parent (included), and the parent's name; None if not that shape."""
    if root_q.rpartition(b":")[2] != wrapping.root:
        return None
    count = 0
    while (simple := _SIMPLE.match(buf, at)) is not None and (
            simple.group(1).rpartition(b":")[2] in wrapping.before):
        at = simple.end()
        count += 1
    opened = _OPEN.match(buf, at)
    if opened is None or opened.group(1).rpartition(b":")[2] not in wrapping.parents:
        return None
    return opened.end(), count + 1, opened.group(1)


def _record_name(reader: _Reader) -> bytes:
    match = _OPEN_NAME.match(reader.buf, reader.pos, reader.pos + 512)
    assert match is not None
    return match.group(1)


class _Scanner:
    """Finds where a record (its start tag at reader.pos) ends, nested same-name ones counted."""

    def __init__(self, record_q: bytes) -> None:
        quoted = re.escape(record_q)
        self.name = record_q
        self.start_tag = re.compile(rb"<" + quoted + _ATTRS + rb"(/?)>")
        self.end_tag = re.compile(rb"</" + quoted + rb"\s*>")

    def end_of(self, reader: _Reader) -> int | None:
        """The offset just after the record's end tag in reader.buf, or None (not plain)."""
        begin = reader.pos
        depth = 0
        at = begin
        while True:
            mark = self.mark(reader.buf, at)
            if mark is None or (mark[1] + 2048 > len(reader.buf) and not reader.eof):
                # Not found, or too near the end of what is read to see the whole tag.
                offset = reader.pos
                if not reader.more():
                    if mark is None:
                        return None
                else:
                    begin -= offset
                    at -= offset
                    continue
            assert mark is not None
            start, _, closing = mark
            if closing:
                close = self.end_tag.match(reader.buf, start)
                if close is None:
                    return None
                depth -= 1
                if depth == 0:
                    reader.pos = begin
                    return close.end()
                at = close.end()
            else:
                opened = self.start_tag.match(reader.buf, start)
                if opened is None:
                    return None
                if not opened.group(1):
                    depth += 1
                elif depth == 0:
                    return None  # an empty record element: left to the exact read
                at = opened.end()

    def mark(self, buf: bytes, at: int) -> tuple[int, int, bool] | None:
        """The next "<name" or "</name" (followed by white space, "/" or ">") from `at`:
        (where it starts, where the name ends, whether it is an end tag), or None.

        The name is found with bytes.find (a regular expression starting with "<" stops at
        every tag of a 42 KB record)."""
        name = self.name
        size = len(name)
        found = buf.find(name, at)
        while found >= 0:
            after = found + size
            if after < len(buf) and buf[after] in _AFTER_NAME:
                if found > at and buf[found - 1] == 0x3C:  # "<"
                    return found - 1, after, False
                if found > at + 1 and buf[found - 2:found] == b"</":
                    return found - 2, after, True
            found = buf.find(name, found + 1)
        return None
