"""Many records in one XML file, or one record inside a harvested payload: shared reader steps."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from lxml import etree

from ingest.reader import RecordRejected, Rejection, SourceRecord
from ingest.xmlsafe import XmlRejected, iter_located, parse_xml_bytes, parse_xml_file

MEDIA_TYPE = "application/xml"


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
                 id_name: str) -> Iterator[SourceRecord | Rejection]:
    """Yield every record element (called `tag`) of a file, streamed, with its XPath.

    Memory stays flat with the file size: each record is parsed, handed on and released. A
    repeated local id is rejected; damage in the file rejects the rest of it, after the
    records before the damage.
    """
    seen: dict[str, str] = {}
    count = 0
    try:
        for position, el in _streamed(source, tag, is_record):
            count += 1
            local = local_id(el)
            if local and local in seen:
                yield Rejection(str(source), position,
                                f"duplicate {id_name} {local!r}, first at {seen[local]}")
                continue
            if local:
                seen[local] = position
            yield SourceRecord(str(source), position, local,
                               etree.tostring(el, encoding="utf-8", with_tail=False),
                               MEDIA_TYPE, el)
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
    el = record.data if isinstance(record.data, etree._Element) else None
    if el is None:
        try:
            el = parse_xml_bytes(record.raw, record.source)
        except XmlRejected as exc:
            raise RecordRejected(str(exc)) from None
    if not is_record(el):
        found = next((child for child in el.iter() if is_record(child)), None)
        if found is None:
            raise RecordRejected(f"no {what} in the record")
        el = found
    return el
