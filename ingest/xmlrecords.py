"""Many records in one XML file, or one record inside a harvested payload: shared reader steps."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from ingest.reader import RecordRejected, Rejection, SourceRecord
from ingest.xmlsafe import XmlRejected, iter_located, parse_xml_bytes, parse_xml_file

MEDIA_TYPE = "application/xml"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@dataclass
class ParsedRecord:
    """A record element read from a file, and the xml:lang it inherits from above it.

    Pickled (to map in a worker process) it travels without the element: the worker parses
    the record's raw bytes again with the hardened parser, and puts the inherited xml:lang on
    a stand-in parent so that language lookups find what they found in the file.
    """

    element: etree._Element | None
    lang: str | None = None

    def __getstate__(self) -> dict[str, Any]:
        """What travels: everything but the parsed element."""
        return {"element": None, "lang": self.lang}


def inherited_lang(el: etree._Element) -> str | None:
    """The xml:lang declared on the nearest ancestor of `el` (not on `el` itself), or None."""
    for above in el.iterancestors():
        value = above.get(XML_LANG)
        if value is not None:
            return value
    return None


def reparsed(raw: bytes, source: str, lang: str | None = None) -> etree._Element:
    """A record element parsed again from its raw bytes (hardened), under its inherited lang."""
    try:
        el = parse_xml_bytes(raw, source)
    except XmlRejected as exc:
        raise RecordRejected(str(exc)) from None
    if lang is not None and el.get(XML_LANG) is None:
        etree.Element("inherited", {XML_LANG: lang}).append(el)
    return el


def local_name(el: etree._Element) -> str:
    """An element's tag without its namespace ("" for comments and processing instructions)."""
    tag = el.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


RecordsOf = Callable[[etree._Element, str], Iterator[SourceRecord | Rejection]]


def guarded(items: Iterator[SourceRecord | Rejection], source: str,
            position: str = "file") -> Iterator[SourceRecord | Rejection]:
    """Pass records through; a field over a limit met while reading rejects the rest."""
    try:
        yield from items
    except RecordRejected as exc:
        yield Rejection(source, position, f"reading stopped: {exc}")


def tree_records(source: Path, records_of: RecordsOf) -> Iterator[SourceRecord | Rejection]:
    """Parse a whole-tree source and yield records_of(root, source); a refused file is one
    rejection, and so is the rest of a file where reading stops on a field over a limit."""
    try:
        root = parse_xml_file(source)
    except XmlRejected as exc:
        yield Rejection(str(source), "file", str(exc))
        return
    yield from guarded(records_of(root, str(source)), str(source))


def stopped(source: Path, exc: XmlRejected, count: int) -> Rejection:
    """The rejection of the rest of a streamed file, after `count` records were read."""
    after = f" (reading stopped after {count} record{'s' if count != 1 else ''})" if count else ""
    return Rejection(str(source), "file", f"{exc}{after}")


def duplicate(source: str, position: str, id_name: str, local: str, first: str) -> Rejection:
    """The refusal of a record whose local id an earlier record of the same file holds."""
    return Rejection(source, position, f"duplicate {id_name} {local!r}, first at {first}")


def inner_position(el: etree._Element, top: etree._Element, top_position: str) -> str:
    """The XPath of `el` inside the complete element `top`, which is at `top_position`."""
    steps: list[str] = []
    node = el
    while node is not top and node is not None:
        name = local_name(node)
        before = sum(1 for s in node.itersiblings(preceding=True) if local_name(s) == name)
        steps.append(f"/{name}[{before + 1}]")
        node = node.getparent()
    return top_position + "".join(reversed(steps))


def _streamed(source: Path, tag: str, is_record: Callable[[etree._Element], bool]
              ) -> Iterator[tuple[str, etree._Element]]:
    """(XPath, element) of every record in a file, read as a stream."""
    for position, el in iter_located(source, tag):
        if is_record(el):
            yield position, el
        else:
            # A wrapper of the same name (an OAI-PMH <record> around a MARC <record>).
            for inner in el.iter():
                if inner is not el and is_record(inner):
                    yield inner_position(inner, el, position), inner


def file_records(source: Path, *, tag: str, is_record: Callable[[etree._Element], bool],
                 local_id: Callable[[etree._Element], str | None], what: str,
                 id_name: str, split: bool = False) -> Iterator[SourceRecord | Rejection]:
    """Yield every record element (called `tag`) of a file, streamed, with its XPath.

    Memory stays flat with the file size: each record is parsed, handed on and released. A
    repeated local id is rejected; damage in the file rejects the rest of it, after the
    records before the damage. With `split` (the pipeline, whose workers parse each record
    anyway) a plain file is cut into records without parsing it here (ingest/xmlsplit.py).
    """
    def exact(skip: int) -> Iterator[SourceRecord | Rejection]:
        return _exact_records(source, tag, is_record, local_id, what, id_name, skip)

    if not split:
        yield from exact(0)
        return
    from ingest.xmlsplit import split_records

    try:
        yield from split_records(source, tag, MEDIA_TYPE,
                                 {"is_record": is_record, "local_id": local_id,
                                  "id_name": id_name}, exact)
    except XmlRejected as exc:
        yield stopped(source, exc, 0)


def _exact_records(source: Path, tag: str, is_record: Callable[[etree._Element], bool],
                   local_id: Callable[[etree._Element], str | None], what: str, id_name: str,
                   skip: int) -> Iterator[SourceRecord | Rejection]:
    """file_records read by the streamed parse; the first `skip` records are read, not yielded."""
    seen: dict[str, str] = {}
    count = 0
    try:
        for position, el in _streamed(source, tag, is_record):
            count += 1
            local = local_id(el)
            if local and local in seen:
                if count > skip:
                    yield duplicate(str(source), position, id_name, local, seen[local])
                continue
            if local:
                seen[local] = position
            if count > skip:
                yield SourceRecord(str(source), position, local,
                                   etree.tostring(el, encoding="utf-8", with_tail=False),
                                   MEDIA_TYPE, ParsedRecord(el, inherited_lang(el)))
    except XmlRejected as exc:
        yield stopped(source, exc, count)
        return
    if not count:
        yield Rejection(str(source), "file", f"no {what} found")


def record_element(record: SourceRecord, *, is_record: Callable[[etree._Element], bool],
                   what: str) -> etree._Element:
    """The record's element: handed over parsed (files, harvests) or parsed from its raw bytes.

    An OAI-PMH payload may wrap the record (lido:lidoWrap, marc:collection): the first record
    element inside is taken.
    """
    data = record.data
    if isinstance(data, ParsedRecord):
        el = data.element if data.element is not None else reparsed(record.raw, record.source,
                                                                     data.lang)
    elif isinstance(data, etree._Element):
        el = data
    else:
        el = reparsed(record.raw, record.source)
    if not is_record(el):
        found = next((child for child in el.iter() if is_record(child)), None)
        if found is None:
            raise RecordRejected(f"no {what} in the record")
        el = found
    return el
