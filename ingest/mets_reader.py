"""METS documents with MODS descriptions, plain MODS, and OAI-PMH responses carrying MODS."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from archive.record import RecordBuilder, RecordDraft
from archive.vocab import DC, DCTERMS
from ingest.dc_reader import (
    MEDIA_TYPE,
    XLINK_HREF,
    add_image_or_page,
    child,
    children,
    edm_type_of,
    is_url,
    lang_tag,
    local,
    make_record_id,
    position_of,
    raw_xml,
    rights_uri,
    set_rights,
    text_of,
)
from ingest.reader import ReadContext, RecordRejected, Rejection, SourceRecord
from ingest.xmlrecords import guarded, reparsed

METS_NS = "http://www.loc.gov/METS/"
MODS_NS = "http://www.loc.gov/mods/v3"
_CREATOR_ROLES = {
    "aut", "cre", "art", "pht", "ctg", "ill", "egr", "drm", "cmp", "creator", "author", "artist",
    "photographer", "cartographer", "illustrator", "engraver", "originator", "composer",
}
_PUBLISHER_ROLES = {"pbl", "publisher"}
_RESOURCE_TYPES = {
    "text": "TEXT", "still image": "IMAGE", "cartographic": "IMAGE", "notated music": "TEXT",
    "sound recording": "SOUND", "sound recording-musical": "SOUND",
    "sound recording-nonmusical": "SOUND", "moving image": "VIDEO",
    "three dimensional object": "3D", "mixed material": "TEXT", "software, multimedia": "TEXT",
}
# fileGrp USE values, best first, when a METS offers the same pages in several sizes.
_PREFERRED_USE = ("MAX", "DEFAULT", "MASTER", "ORIGINAL", "PRESENTATION", "IMAGE")


@dataclass
class ModsItem:
    """A MODS description on its way to a record, with what the METS adds to it."""

    mods: Any
    images: list[tuple[str, str | None]] = field(default_factory=list)
    parent_local: str | None = None
    order: int | None = None
    label: str | None = None
    rights: str | None = None
    notes: list[str] = field(default_factory=list)
    # Where the MODS is inside the record's raw XML (child indices from its root element).
    mods_path: tuple[int, ...] = ()

    def __getstate__(self) -> dict[str, Any]:
        """What travels to a worker: all but the element, which the worker finds again by
        mods_path in the record's raw bytes, parsed with the hardened parser."""
        return {**self.__dict__, "mods": None}


def _path_below(el: Any, top: Any) -> tuple[int, ...]:
    """Child indices that lead from `top` down to `el`."""
    steps: list[int] = []
    while el is not top:
        parent = el.getparent()
        steps.append(parent.index(el))
        el = parent
    return tuple(reversed(steps))


def _mods_of(dmd: Any) -> Any | None:
    wrap = child(dmd, "mdWrap")
    data = child(wrap, "xmlData") if wrap is not None else None
    return child(data, "mods") if data is not None else None


def _record_identifier(mods: Any) -> str | None:
    info = child(mods, "recordInfo")
    rid = child(info, "recordIdentifier") if info is not None else None
    return text_of(rid) or None if rid is not None else None


def _struct_map(root: Any, kind: str) -> Any | None:
    for smap in children(root, "structMap"):
        if (smap.get("TYPE") or "").upper() == kind:
            return smap
    return None


def _images(root: Any) -> tuple[list[tuple[str, str | None]], list[str]]:
    """Image URLs in physical order, from the best fileGrp; and the hrefs that are not URLs."""
    groups: dict[str, dict[str, tuple[str, str | None]]] = {}
    skipped: list[str] = []
    file_sec = child(root, "fileSec")
    for group in (file_sec.iter(f"{{{METS_NS}}}fileGrp") if file_sec is not None else []):
        use = (group.get("USE") or "").upper()
        for file in children(group, "file"):
            mime = file.get("MIMETYPE")
            flocat = child(file, "FLocat")
            href = (flocat.get(XLINK_HREF) or "").strip() if flocat is not None else ""
            if not (mime or "image/").startswith("image/"):
                continue
            if href and is_url(href):
                groups.setdefault(use, {})[file.get("ID") or href] = (href, mime)
            elif href:
                skipped.append(href)
    if not groups:
        return [], skipped
    use = next((u for u in _PREFERRED_USE if u in groups), next(iter(groups)))
    files = groups[use]
    physical = _struct_map(root, "PHYSICAL")
    if physical is None:
        return list(files.values()), skipped
    pages = [d for d in physical.iter(f"{{{METS_NS}}}div") if child(d, "fptr") is not None]
    pages.sort(key=lambda d: int(d.get("ORDER")) if (d.get("ORDER") or "").isdigit() else 0)
    ordered = []
    for page in pages:
        for fptr in children(page, "fptr"):
            if fptr.get("FILEID") in files:
                ordered.append(files[fptr.get("FILEID")])
                break
    return ordered, skipped


class MetsReader:
    """Reads METS/MODS documents, MODS records and OAI-PMH responses with MODS."""

    name = "mets"
    version = "1.0"

    def read(self, source: Path, context: ReadContext) -> Iterator[SourceRecord | Rejection]:
        """Yield the records of a METS, MODS or OAI-PMH (MODS) file; OAI-PMH ones streamed."""
        from ingest.oai import streamed_or_whole

        yield from streamed_or_whole(source, context, self.from_oai,
                                     lambda root, name: self._records_of(root, name, context))

    def _records_of(self, root: Any, source: str, context: ReadContext
                    ) -> Iterator[SourceRecord | Rejection]:
        from ingest.oai import oai_file_records

        name = local(root)
        if name in ("OAI-PMH", "record"):
            yield from oai_file_records(root, source, context, self.from_oai)
        elif name == "mets":
            yield from self.mets_records(root, source, None, Path(source).stem)
        elif name in ("mods", "modsCollection"):
            for mods in [root] if name == "mods" else children(root, "mods"):
                yield SourceRecord(source, position_of(mods), None, raw_xml(mods), MEDIA_TYPE,
                                   ModsItem(mods))
        else:
            yield Rejection(source, "file", f"the root element is <{name}>, not METS, MODS "
                            "or an OAI-PMH response")

    def from_oai(self, record: SourceRecord) -> Iterator[SourceRecord | Rejection]:
        """A MODS or METS payload harvested over OAI-PMH."""
        payload = record.data
        if local(payload) == "mets":
            yield from guarded(self.mets_records(payload, record.source, record.local_id,
                                                 record.position), record.source, record.position)
        elif local(payload) == "mods":
            # record.raw is the OAI <record> around the payload.
            oai_record = next(payload.iterancestors("{*}record"), payload)
            yield SourceRecord(record.source, record.position, record.local_id, record.raw,
                               record.media_type,
                               ModsItem(payload, mods_path=_path_below(payload, oai_record)))
        else:
            yield Rejection(record.source, record.position,
                            f"the metadata is <{local(payload)}>, not MODS or METS")

    def mets_records(self, root: Any, source: str, top_local: str | None,
                     fallback: str) -> Iterator[SourceRecord | Rejection]:
        """The METS document's record, then one child record per logical division with MODS."""
        dmds = {d.get("ID"): m for d in children(root, "dmdSec") if (m := _mods_of(d)) is not None}
        logical = _struct_map(root, "LOGICAL")
        top_div = child(logical, "div") if logical is not None else None
        main = dmds.get(top_div.get("DMDID")) if top_div is not None else None
        if main is None and dmds:
            main = next(iter(dmds.values()))
        if main is None:
            yield Rejection(source, "file", "the METS document has no MODS description "
                            "(dmdSec/mdWrap/xmlData/mods)")
            return
        main_local = top_local or _record_identifier(main) or root.get("OBJID") or fallback
        images, skipped = _images(root)
        item = ModsItem(main, images, label=top_div.get("LABEL") if top_div is not None else None,
                        mods_path=_path_below(main, root))
        try:
            item.rights = rights_uri(_rights_texts(main)[0])
        except RecordRejected:
            item.rights = None  # the record is rejected with the reason when it is mapped
        if skipped:
            item.notes.append(f"{len(skipped)} image files are local paths, not http(s) URLs, "
                              f"and are not linked (first: {skipped[0][:200]!r})")
        kids = list(self._logical(top_div, main_local, item)) if top_div is not None else []
        yield SourceRecord(source, position_of(root), main_local, raw_xml(root), MEDIA_TYPE, item)
        for div, kid in kids:
            kid.mods = dmds[div.get("DMDID")]
            dmd = kid.mods.getparent().getparent().getparent()
            kid.mods_path = _path_below(kid.mods, dmd)
            yield SourceRecord(source, position_of(div), f"{main_local}/{div.get('ID')}",
                               raw_xml(dmd), MEDIA_TYPE, kid)

    def _logical(self, top_div: Any, main_local: str, main: ModsItem
                 ) -> Iterator[tuple[Any, ModsItem]]:
        dmd_ids = {d.get("ID") for d in top_div.getroottree().getroot().iter(
            f"{{{METS_NS}}}dmdSec") if _mods_of(d) is not None}
        kept_in_source = 0
        # (div, local id of the nearest record above it); iterative, hostile depth is harmless.
        stack = [(d, main_local) for d in reversed(children(top_div, "div"))]
        counters: dict[str, int] = {}
        while stack:
            div, parent = stack.pop()
            below = parent
            if div.get("DMDID") in dmd_ids:
                counters[parent] = counters.get(parent, 0) + 1
                below = f"{main_local}/{div.get('ID')}"
                yield div, ModsItem(None, [], parent, counters[parent], div.get("LABEL"),
                                    main.rights)
            else:
                kept_in_source += 1
            stack.extend((d, below) for d in reversed(children(div, "div")))
        if kept_in_source:
            main.notes.append(f"{kept_in_source} logical divisions without their own MODS are "
                              "kept only in the source METS")

    def to_rdf(self, record: SourceRecord, context: ReadContext) -> RecordDraft:
        """Map a MODS description (and its METS images and place in the structure)."""
        item = record.data
        if not isinstance(item, ModsItem):
            if item is not None and local(item) == "mods":
                item = ModsItem(item)
            else:
                raise RecordRejected("a MODS record must come from the METS reader's read()")
        if item.mods is None:
            mods = reparsed(record.raw, record.source)
            try:
                for index in item.mods_path:
                    mods = mods[index]
            except IndexError:
                mods = mods.makeelement("missing")
            if local(mods) != "mods":
                raise RecordRejected(f"no MODS at {item.mods_path} in the record's XML")
            item = replace(item, mods=mods)
        local_id = record.local_id or _record_identifier(item.mods) or record.position
        b = RecordBuilder(context.minter, make_record_id(context, "mods", local_id))
        try:
            if item.parent_local is not None:
                b.set_parent(make_record_id(context, "mods", item.parent_local), item.order)
            map_mods(b, item, context)
        except ValueError as exc:
            raise RecordRejected(str(exc)) from None
        b.warnings.extend(item.notes)
        return RecordDraft(b.record_id, b.graph, record.raw, record.media_type, [], b.warnings)


def _rights_texts(mods: Any) -> tuple[list[str], list[str]]:
    """(statements to place as edm:rights, access restrictions) of a MODS record."""
    rights: list[str] = []
    access: list[str] = []
    for condition in children(mods, "accessCondition"):
        href = (condition.get(XLINK_HREF) or "").strip()
        text = text_of(condition)
        if "restriction" in (condition.get("type") or "").lower():
            access.append(text)
        else:
            rights.extend(v for v in (href, text) if v)
    return rights, access


def _name(name: Any) -> str:
    display = child(name, "displayForm")
    if display is not None and text_of(display):
        return text_of(display)
    parts = {(p.get("type") or ""): text_of(p) for p in children(name, "namePart")}
    if "family" in parts or "given" in parts:
        text = ", ".join(v for v in (parts.get("family"), parts.get("given")) if v)
        return f"{text}, {parts['date']}" if parts.get("date") else text
    return " ".join(text_of(p) for p in children(name, "namePart"))


def _title(info: Any) -> str:
    parts = [text_of(x) for x in children(info, "nonSort", "title")]
    title = " ".join(p for p in parts if p)
    sub = child(info, "subTitle")
    if sub is not None and text_of(sub):
        title = f"{title} : {text_of(sub)}"
    return title


def _dates(b: RecordBuilder, origin: Any) -> None:
    for name, prop in (("dateIssued", DCTERMS.issued), ("dateCreated", DCTERMS.created),
                       ("copyrightDate", DC.date), ("dateOther", DC.date)):
        dates = children(origin, name)
        plain = [text_of(d) for d in dates if not d.get("point")]
        if plain:
            for value in dict.fromkeys(v for v in plain if v):
                b.add_date(value, prop)
            continue
        start = [text_of(d) for d in dates if d.get("point") == "start"]
        end = [text_of(d) for d in dates if d.get("point") == "end"]
        if start:
            b.add_date(f"{start[0]}/{end[0]}" if end and end[0] != start[0] else start[0], prop)


def map_mods(b: RecordBuilder, item: ModsItem, context: ReadContext) -> None:
    """Add a MODS description (top-level elements only; related items stay in the source)."""
    mods = item.mods
    shown_at: list[str] = []
    has_title = False
    for info in children(mods, "titleInfo"):
        title = _title(info)
        if title:
            kind = info.get("type")
            primary = not kind and not has_title
            b.add_literal(DC.title if primary else DCTERMS.alternative, title, lang_of(info))
            has_title = has_title or primary
    if not has_title and item.label:
        b.add_literal(DC.title, item.label)
    for name in children(mods, "name"):
        text = _name(name)
        if not text:
            continue
        roles = {text_of(r).lower() for r in name.iter(f"{{{MODS_NS}}}roleTerm")}
        if roles & _PUBLISHER_ROLES:
            b.add_agent(DC.publisher, text, uri=_uri(name))
        elif roles and not roles & _CREATOR_ROLES:
            b.add_agent(DC.contributor, text, uri=_uri(name))
        else:
            b.add_agent(DC.creator, text, uri=_uri(name))
    for origin in children(mods, "originInfo"):
        if (origin.get("eventType") or "").lower() == "digitization":
            continue
        _dates(b, origin)
        for place in origin.iter(f"{{{MODS_NS}}}placeTerm"):
            if place.get("type") != "code" and text_of(place):
                b.add_place(text_of(place))
        for publisher in children(origin, "publisher"):
            if text_of(publisher):
                b.add_agent(DC.publisher, text_of(publisher))
    for subject in children(mods, "subject"):
        for term in children(subject):
            text, kind = text_of(term), local(term)
            if not text:
                continue
            if kind in ("geographic", "hierarchicalGeographic"):
                b.add_place(" -- ".join(text_of(p) for p in children(term)) or text
                            if kind == "hierarchicalGeographic" else text)
            elif kind == "temporal":
                b.add_date(text, DCTERMS.temporal)
            elif kind in ("topic", "genre", "occupation", "titleInfo"):
                b.add_concept(text, lang_of(term), uri=_uri(term))
            elif kind == "name":
                b.add_agent(DC.subject, _name(term) or text)
    for note in children(mods, "abstract", "tableOfContents"):
        b.add_literal(DC.description, text_of(note), lang_of(note))
    for genre in children(mods, "genre"):
        if text_of(genre):
            b.add_concept(text_of(genre), lang_of(genre), uri=_uri(genre), prop=DC.type)
    for classification in children(mods, "classification"):
        if text_of(classification):
            b.add_concept(text_of(classification), lang_of(classification))
    for language in children(mods, "language"):
        terms = children(language, "languageTerm")
        codes = [t for t in terms if t.get("type") == "code"] or terms
        for term in codes[:1]:
            code = text_of(term)
            if lang_tag(code) or code.lower() not in ("und", "zxx", "mul", "undefined"):
                b.add_literal(DC.language, lang_tag(code) or code)
    for physical in children(mods, "physicalDescription"):
        for extent in children(physical, "extent"):
            b.add_literal(DCTERMS.extent, text_of(extent))
        for form in children(physical, "form", "internetMediaType"):
            b.add_literal(DC.format, text_of(form))
    for identifier in children(mods, "identifier"):
        value = text_of(identifier)
        b.add_literal(DC.identifier, value)
        if is_url(value) and not shown_at:
            b.set_shown_at(value)
            shown_at.append(value)
    record_identifier = _record_identifier(mods)
    if record_identifier:
        b.add_literal(DC.identifier, record_identifier)
    for related in children(mods, "relatedItem"):
        info = child(related, "titleInfo")
        if info is not None and _title(info):
            b.add_literal(DC.relation, _title(info))
    words = [text_of(t) for t in children(mods, "typeOfResource")]
    for word in words:
        b.add_literal(DC.type, word)
    for url, mime in item.images:
        b.add_remote_image(url, media_type=mime)
    _location_urls(b, mods, shown_at, with_images=not item.images)
    rights, access = _rights_texts(mods)
    for text in [*rights, *access]:
        if text and not is_url(text):
            b.add_literal(DC.rights, text)
    for text in access:
        b.add_literal(DCTERMS.accessRights, text)
    edm_type = next((_RESOURCE_TYPES[w.lower()] for w in words if w.lower() in _RESOURCE_TYPES),
                    None) or edm_type_of(words)
    b.set_type(edm_type or ("IMAGE" if item.images else "TEXT"))
    if rights_uri(rights) is None and (item.rights or context.options.get("rights")):
        b.set_rights(item.rights or context.options["rights"])
    else:
        set_rights(b, rights + access)
    b.set_providers(context.options.get("data_provider") or context.provider, context.provider)


def _location_urls(b: RecordBuilder, mods: Any, shown_at: list[str], with_images: bool) -> None:
    for location in children(mods, "location"):
        for url_el in children(location, "url"):
            url, access = text_of(url_el), (url_el.get("access") or "").lower()
            if not is_url(url) or access == "preview":
                continue
            if access == "raw object":
                if with_images:
                    b.add_remote_image(url)
            elif access == "object in context" or not shown_at:
                if not shown_at:
                    b.set_shown_at(url)
                    shown_at.append(url)
            else:
                add_image_or_page(b, url, shown_at)


def _uri(el: Any) -> str | None:
    value = (el.get("valueURI") or "").strip()
    return value if is_url(value) else None


def lang_of(el: Any) -> str | None:
    """The language tag a MODS element declares (lang or xml:lang), or None."""
    return lang_tag(el.get("lang") or el.get("{http://www.w3.org/XML/1998/namespace}lang"))

