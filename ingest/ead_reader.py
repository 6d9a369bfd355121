"""EAD 2002 and EAD3 finding aids: the collection and every component, as a hierarchy of records."""

from __future__ import annotations

import re
from collections.abc import Iterator
from copy import deepcopy
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lxml import etree

from archive.dates import parse_years
from archive.record import RecordBuilder, RecordDraft
from archive.rights import NOT_EVALUATED
from archive.vocab import ARCHIVAL_LEVELS, DC, DCTERMS
from ingest.dc_reader import (
    MEDIA_TYPE,
    XLINK_HREF,
    add_image_or_page,
    child,
    children,
    is_url,
    lang_tag,
    local,
    make_record_id,
    position_of,
    rights_uri,
    set_rights,
    text_of,
)
from ingest.reader import ReadContext, RecordRejected, Rejection, SourceRecord
from ingest.xmlrecords import guarded, reparsed, tree_records

EAD_NAMESPACES = (None, "urn:isbn:1-931666-22-9", "http://ead3.archivists.org/schema/")
COMPONENT = re.compile(r"c(?:0[1-9]|1[0-2])?")
_LEVELS = {"recordgrp": "fonds", "subgrp": "subfonds", "class": "series"}
_NAMES = ("persname", "corpname", "famname", "name")
_SUBJECTS = ("subject", "genreform", "function", "occupation", "title")


@dataclass
class EadItem:
    """A finding aid's collection or component, with what it inherits from above."""

    element: Any
    eadid: str
    parent_local: str | None
    order: int | None
    rights: str | None
    data_provider: str | None

    def __getstate__(self) -> dict[str, Any]:
        """What travels to a worker: all but the element, which the worker parses again from
        the record's raw bytes (own_xml: the same element without its nested components)."""
        return {**self.__dict__, "element": None}


def is_component(el: Any) -> bool:
    """Tell whether an element is a component (c, c01..c12)."""
    return isinstance(el.tag, str) and bool(COMPONENT.fullmatch(local(el)))


def _located(el: Any, position: str) -> list[tuple[Any, str]]:
    """(child, its XPath as position_of gives it) for every element child of `el`."""
    kids = [(c, local(c)) for c in el if isinstance(c.tag, str)]
    totals: dict[str, int] = {}
    for _, name in kids:
        totals[name] = totals.get(name, 0) + 1
    seen: dict[str, int] = {}
    located = []
    for c, name in kids:
        seen[name] = seen.get(name, 0) + 1
        located.append((c, f"{position}/{name}[{seen[name]}]" if totals[name] > 1
                        else f"{position}/{name}"))
    return located


def located_components(el: Any, position: str) -> list[tuple[Any, str]]:
    """component_children(el) with their XPaths, counted in one pass (not per component)."""
    found = []
    for c, where in _located(el, position):
        if is_component(c):
            found.append((c, where))
        elif local(c) == "dsc":
            found.extend((x, at) for x, at in _located(c, where) if is_component(x))
    return found


def own_elements(el: Any, *names: str) -> Iterator[Any]:
    """Descendants with the local names, not looking inside nested components."""
    stack = _own_children(el)
    while stack:
        node, name = stack.pop()
        if name in names:
            yield node
        stack.extend(_own_children(node))


def _own_children(el: Any) -> list[tuple[Any, str]]:
    # Element children that are not components (nor a dsc), with their local names, last
    # first (a stack): each name worked out once.
    found = []
    for c in el:
        tag = c.tag
        if isinstance(tag, str):
            name = tag.rpartition("}")[2]
            if name != "dsc" and not COMPONENT.fullmatch(name):
                found.append((c, name))
    found.reverse()
    return found


def own_xml(el: Any) -> bytes:
    """The element's XML without its nested components (they are records of their own)."""
    copy = etree.Element(el.tag, dict(el.attrib), nsmap=el.nsmap)
    copy.text = el.text
    for c in el:
        if isinstance(c.tag, str) and (is_component(c) or local(c) == "dsc"):
            continue
        copy.append(deepcopy(c))
    return bytes(etree.tostring(copy, encoding="utf-8"))


def _own_rights(el: Any) -> str | None:
    try:
        return rights_uri(text_of(u, skip=("head",)) for u in children(el, "userestrict"))
    except RecordRejected:
        return None  # the record itself is rejected, with the reason, when it is mapped


class EadReader:
    """Reads EAD 2002 (namespaced or not) and EAD3 finding aids."""

    name = "ead"
    version = "1.0"

    def read(self, source: Path, context: ReadContext) -> Iterator[SourceRecord | Rejection]:
        """Yield the collection record, then every component in document order."""
        yield from tree_records(
            source, lambda root, name: self.records_in(root, name, None, Path(name).stem))

    def from_oai(self, record: SourceRecord) -> Iterator[SourceRecord | Rejection]:
        """Expand an EAD document harvested over OAI-PMH into its records."""
        yield from guarded(self.records_in(record.data, record.source, record.local_id,
                                           record.position), record.source, record.position)

    def records_in(self, root: Any, source: str, top_local: str | None,
                   fallback: str) -> Iterator[SourceRecord | Rejection]:
        """Records of one EAD document: archdesc first, then components depth first."""
        if local(root) != "ead" or etree.QName(root).namespace not in EAD_NAMESPACES:
            yield Rejection(source, "file", f"the root element is <{local(root)}> in namespace "
                            f"{etree.QName(root).namespace!r}, not an EAD <ead>")
            return
        header = child(root, "eadheader", "control")
        id_el = child(header, "eadid", "recordid") if header is not None else None
        eadid = text_of(id_el) if id_el is not None else ""
        archdesc = child(root, "archdesc")
        if archdesc is None:
            yield Rejection(source, "file", "the finding aid has no <archdesc>")
            return
        did = child(archdesc, "did")
        unitid = child(did, "unitid") if did is not None else None
        top = top_local or eadid or (text_of(unitid) if unitid is not None else "") or fallback
        repository = child(did, "repository") if did is not None else None
        provider = text_of(repository) if repository is not None else None
        rights = _own_rights(archdesc)
        where = position_of(archdesc)
        yield SourceRecord(source, where, top, own_xml(archdesc), MEDIA_TYPE,
                           EadItem(archdesc, top, None, None, rights, provider or None))
        # Depth first without recursion: a hostile file must not exhaust the Python stack.
        stack: list[tuple[Any, str, str, str, str | None]] = [
            (c, at, top, f"{top}/{i}", rights)
            for i, (c, at) in reversed(list(enumerate(located_components(archdesc, where), 1)))]
        while stack:
            el, where, parent_local, path, inherited = stack.pop()
            order = int(path.rsplit("/", 1)[1])
            own_id = (el.get("id") or "").strip()
            local_id = f"{top}/{own_id}" if own_id else path
            rights_here = _own_rights(el) or inherited
            yield SourceRecord(source, where, local_id, own_xml(el), MEDIA_TYPE,
                               EadItem(el, top, parent_local, order, rights_here,
                                       provider or None))
            stack.extend((c, at, local_id, f"{path}/{i}", rights_here)
                         for i, (c, at) in reversed(list(enumerate(located_components(el, where),
                                                                   1))))

    def to_rdf(self, record: SourceRecord, context: ReadContext) -> RecordDraft:
        """Map a collection or component to a record placed in the hierarchy."""
        item = record.data
        if not isinstance(item, EadItem):
            raise RecordRejected("an EAD record must come from the EAD reader's read()")
        if record.local_id is None:
            raise RecordRejected("no identifier for the EAD record")
        if item.element is None:
            item = replace(item, element=reparsed(record.raw, record.source))
        b = RecordBuilder(context.minter, make_record_id(context, "ead", record.local_id))
        try:
            self._map(b, item, context)
        except ValueError as exc:
            raise RecordRejected(str(exc)) from None
        return RecordDraft(b.record_id, b.graph, record.raw, record.media_type, [], b.warnings)

    def _map(self, b: RecordBuilder, item: EadItem, context: ReadContext) -> None:
        el = item.element
        did = child(el, "did")
        if did is None:
            raise RecordRejected(f"<{local(el)}> has no <did> (descriptive identification)")
        if item.parent_local is not None:
            b.set_parent(make_record_id(context, "ead", item.parent_local), item.order)
        self._level(b, el, top=item.parent_local is None)
        titles = [text_of(t) for t in children(did, "unittitle") if text_of(t)]
        dates = self._dates(b, did)
        if titles:
            b.add_literal(DC.title, titles[0])
            for other in titles[1:]:
                b.add_literal(DCTERMS.alternative, other)
        else:
            fallback = dates or " ".join(
                f"{c.get('type', '').title()} {text_of(c)}".strip()
                for c in children(did, "container"))
            if not fallback:
                raise RecordRejected("the component has no unittitle, unitdate or container "
                                     "to name it")
            b.add_literal(DC.title, fallback)
            b.warnings.append(f"no unittitle; titled {fallback!r} from its date or container")
        for unitid in children(did, "unitid"):
            b.add_literal(DC.identifier, text_of(unitid))
        for origination in children(did, "origination"):
            for name in children(origination, *_NAMES):
                if text_of(name):
                    b.add_agent(DC.creator, text_of(name))
        for note in [*children(did, "abstract"), *children(el, "scopecontent")]:
            b.add_literal(DC.description, text_of(note, skip=("head",)))
        rights_texts = []
        for note in children(el, "accessrestrict", "userestrict"):
            text = text_of(note, skip=("head",))
            rights_texts.append(text)
            b.add_literal(DC.rights, text)
            if local(note) == "accessrestrict":
                b.add_literal(DCTERMS.accessRights, text)
        self._languages(b, did)
        self._extents(b, did)
        self._access_points(b, el)
        self._digital_objects(b, el)
        b.set_type("TEXT")
        if item.rights or context.options.get("rights"):
            b.set_rights(item.rights or context.options["rights"])
        elif item.parent_local is not None and not any(rights_texts):
            # Silent: the collection record already carries the warning for the whole tree.
            b.set_rights(NOT_EVALUATED)
        else:
            set_rights(b, [t for t in rights_texts if t])
        b.set_providers(context.options.get("data_provider") or item.data_provider
                        or context.provider, context.provider)

    @staticmethod
    def _level(b: RecordBuilder, el: Any, top: bool) -> None:
        level = (el.get("level") or "").strip().lower()
        level = _LEVELS.get(level, level)
        if level == "otherlevel" and el.get("otherlevel"):
            b.warnings.append(f"level otherlevel ({el.get('otherlevel')!r}) kept as otherlevel")
        if level in ARCHIVAL_LEVELS:
            b.set_level(level)
        elif level:
            b.warnings.append(f"level {level!r} is not an archival level; kept as otherlevel")
            b.set_level("otherlevel")
        elif top:
            b.set_level("collection")

    @staticmethod
    def _dates(b: RecordBuilder, did: Any) -> str:
        """Add the unit dates (inclusive before bulk); return the first date's text."""
        found: list[tuple[str, str]] = []
        for date in children(did, "unitdate"):
            text, normal = text_of(date), (date.get("normal") or "").strip()
            kind = (date.get("type") or date.get("unitdatetype") or "").lower()
            found.append((kind, normal if normal and parse_years(normal) else text))
        for structured in children(did, "unitdatestructured"):
            kind = (structured.get("unitdatetype") or "").lower()
            for single in children(structured, "datesingle"):
                found.append((kind, single.get("standarddate") or text_of(single)))
            for span in children(structured, "daterange"):
                ends = [child(span, "fromdate"), child(span, "todate")]
                values = [(e.get("standarddate") or text_of(e)) for e in ends if e is not None]
                found.append((kind, "/".join(values)))
        has_inclusive = any(kind != "bulk" for kind, _ in found)
        first = ""
        for kind, value in found:
            if not value or (kind == "bulk" and has_inclusive):
                continue
            b.add_date(value)
            first = first or value
        return first

    @staticmethod
    def _languages(b: RecordBuilder, did: Any) -> None:
        for material in children(did, "langmaterial"):
            languages = list(material.iter("{*}language"))
            for language in languages:
                code = language.get("langcode") or ""
                b.add_literal(DC.language, lang_tag(code) or lang_tag(text_of(language))
                              or code or text_of(language))
            if not languages and text_of(material):
                b.add_literal(DC.language, text_of(material))

    @staticmethod
    def _extents(b: RecordBuilder, did: Any) -> None:
        for physdesc in children(did, "physdesc"):
            extents = children(physdesc, "extent")
            for extent in extents:
                b.add_literal(DCTERMS.extent, text_of(extent))
            if not extents:
                b.add_literal(DCTERMS.extent, text_of(physdesc))
        for structured in children(did, "physdescstructured"):
            quantity, unit = child(structured, "quantity"), child(structured, "unittype")
            parts = [text_of(x) for x in (quantity, unit) if x is not None]
            b.add_literal(DCTERMS.extent, " ".join(p for p in parts if p))

    @staticmethod
    def _access_points(b: RecordBuilder, el: Any) -> None:
        for access in own_elements(el, "controlaccess"):
            for term in children(access):
                name, text = local(term), text_of(term)
                if not text:
                    continue
                if name == "geogname":
                    b.add_place(text)
                elif name in _SUBJECTS:
                    b.add_concept(text)
                elif name in _NAMES:
                    b.add_agent(DC.subject, text)

    @staticmethod
    def _digital_objects(b: RecordBuilder, el: Any) -> None:
        shown_at: list[str] = []
        for dao in own_elements(el, "dao", "daoloc", "digitalobject", "digitalobjectloc"):
            href = (dao.get(XLINK_HREF) or dao.get("href") or "").strip()
            if not href:
                continue
            if not is_url(href):
                b.warnings.append(f"digital object link {href[:200]!r} is not an http(s) URL; "
                                  "not linked")
                continue
            role = (dao.get("{http://www.w3.org/1999/xlink}role") or dao.get("daotype") or "")
            if "image" in role.lower() and "iiif" not in href.lower():
                b.add_remote_image(href)
            else:
                add_image_or_page(b, href, shown_at)
