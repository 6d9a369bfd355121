"""Many records in one XML file, or one record inside a harvested payload: shared reader steps."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from lxml import etree

from ingest.reader import RecordRejected, Rejection, SourceRecord
from ingest.xmlsafe import XmlRejected, parse_xml_bytes, parse_xml_file, xpath_of

MEDIA_TYPE = "application/xml"


def local_name(el: etree._Element) -> str:
    """An element's tag without its namespace ("" for comments and processing instructions)."""
    tag = el.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def file_records(source: Path, *, is_record: Callable[[etree._Element], bool],
                 local_id: Callable[[etree._Element], str | None], what: str,
                 id_name: str) -> Iterator[SourceRecord | Rejection]:
    """Yield every record element of a file with its XPath; a repeated local id is rejected."""
    try:
        root = parse_xml_file(source)
    except XmlRejected as exc:
        yield Rejection(str(source), "file", str(exc))
        return
    records = [root] if is_record(root) else [el for el in root.iter() if is_record(el)]
    if not records:
        yield Rejection(str(source), "file", f"no {what} found")
        return
    seen: dict[str, str] = {}
    for el in records:
        position = xpath_of(el)
        local = local_id(el)
        if local and local in seen:
            yield Rejection(str(source), position,
                            f"duplicate {id_name} {local!r}, first at {seen[local]}")
            continue
        if local:
            seen[local] = position
        yield SourceRecord(str(source), position, local,
                           etree.tostring(el, encoding="utf-8", with_tail=False), MEDIA_TYPE, el)


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
