"""Dublin Core XML (oai_dc, plain DC, qualified DC), also inside OAI-PMH response files."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from lxml import etree

from archive.dates import parse_years
from archive.ids import IdentifierError, record_id
from archive.record import RecordBuilder, RecordDraft
from archive.rights import NOT_EVALUATED, normalise_rights
from archive.vocab import DC, DCTERMS
from ingest.reader import ReadContext, RecordRejected, Rejection, SourceRecord
from ingest.xmlsafe import XmlRejected, parse_xml_bytes

DC_NS = "http://purl.org/dc/elements/1.1/"
DCTERMS_NS = "http://purl.org/dc/terms/"
EDM_NS = "http://www.europeana.eu/schemas/edm/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
MEDIA_TYPE = "application/xml"
MAX_FIELD = 65_536
DELETED_REASON = "deleted at the source (OAI header status=deleted)"

_URL = re.compile(r"https?://[^\s<>\"{}|\\^`]+", re.IGNORECASE)
_IMAGE_URL = re.compile(r"\.(?:jpe?g|png|gif|tiff?|jp2|webp)(?:[?#].*)?$", re.IGNORECASE)
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.)\]])(?=\s|$)")
_LANG_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
# ISO 639-2 (bibliographic and terminology codes) and English names -> ISO 639-1.
_LANGS = {
    "eng": "en", "english": "en", "spa": "es", "spanish": "es", "español": "es", "fre": "fr",
    "fra": "fr", "french": "fr", "ger": "de", "deu": "de", "german": "de", "dut": "nl",
    "nld": "nl", "dutch": "nl", "chi": "zh", "zho": "zh", "chinese": "zh", "jpn": "ja",
    "japanese": "ja", "ita": "it", "italian": "it", "por": "pt", "portuguese": "pt",
    "lat": "la", "latin": "la", "rus": "ru", "russian": "ru", "ara": "ar", "arabic": "ar",
    "gre": "el", "ell": "el", "greek": "el", "heb": "he", "hebrew": "he", "kor": "ko",
    "korean": "ko", "pol": "pl", "polish": "pl", "swe": "sv", "swedish": "sv", "dan": "da",
    "danish": "da", "nor": "no", "norwegian": "no", "fin": "fi", "finnish": "fi", "cze": "cs",
    "ces": "cs", "czech": "cs", "hun": "hu", "hungarian": "hu", "tur": "tr", "turkish": "tr",
    "cat": "ca", "catalan": "ca", "baq": "eu", "eus": "eu", "glg": "gl", "wel": "cy", "cym": "cy",
    "gle": "ga", "ice": "is", "isl": "is", "rum": "ro", "ron": "ro", "ukr": "uk", "hin": "hi",
    "per": "fa", "fas": "fa", "nah": "nah", "yua": "yua", "que": "qu", "grn": "gn",
}
_NO_LANGUAGE = {"und", "zxx", "mul", "mis", "other", "n/a"}
_EDM_TYPE_WORDS = (
    ("IMAGE", ("image", "photograph", "picture", "map", "drawing", "painting", "print")),
    ("SOUND", ("sound", "audio")),
    ("VIDEO", ("video", "moving image", "film")),
    ("3D", ("3d", "physical object", "three dimensional")),
    ("TEXT", ("text", "book", "article", "report", "paper", "manuscript", "thesis")),
)
# DC / DCTerms element -> how it maps; names not here are reported as not mapped.
_LITERALS = {
    "title": DC.title, "alternative": DCTERMS.alternative, "description": DC.description,
    "abstract": DC.description, "tableOfContents": DC.description, "format": DC.format,
    "medium": DC.format, "extent": DCTERMS.extent, "source": DC.source, "relation": DC.relation,
    "isPartOf": DC.relation, "hasPart": DC.relation, "isVersionOf": DC.relation,
    "references": DC.relation, "rightsHolder": DCTERMS.rightsHolder,
    "bibliographicCitation": DCTERMS.bibliographicCitation, "provenance": DCTERMS.provenance,
    "modified": DCTERMS.modified, "available": DCTERMS.available,
}
_AGENTS = {"creator": DC.creator, "contributor": DC.contributor, "publisher": DC.publisher}
_DATES = {"date": DC.date, "created": DCTERMS.created, "issued": DCTERMS.issued,
          "temporal": DCTERMS.temporal}
_RIGHTS = ("rights", "license", "accessRights")


# -- helpers shared by the XML readers ---------------------------------------------------------

def local(el: Any) -> str:
    """The local name of an element ('' for comments and processing instructions)."""
    tag = el.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def namespace_of(el: Any) -> str | None:
    """The namespace URI of an element, or None (what etree.QName(el).namespace says)."""
    tag = el.tag
    return tag[1:tag.index("}")] if tag[:1] == "{" else None


def children(el: Any, *names: str) -> list[Any]:
    """Element children with one of the local names (all element children when none given)."""
    return [c for c in el if isinstance(c.tag, str) and (not names or local(c) in names)]


def child(el: Any, *names: str) -> Any | None:
    """The first element child with one of the local names, or None."""
    found = children(el, *names)
    return found[0] if found else None


def flat_text(el: Any) -> str:
    """The element's text with its descendants', whitespace collapsed (no checks)."""
    if not len(el):
        # No child nodes: the text is all there is (itertext costs ten times more).
        text = el.text
        return " ".join(text.split()) if text else ""
    return " ".join("".join(el.itertext()).split())


def text_of(el: Any, skip: tuple[str, ...] = ()) -> str:
    """The element's text, flattened and with whitespace collapsed; raise if over-long."""
    if skip:
        parts = [el.text or ""]
        for c in el:
            if isinstance(c.tag, str) and local(c) not in skip:
                parts.append(text_of(c))
            parts.append(c.tail or "")
        text = " ".join(" ".join(parts).split())
    else:
        text = flat_text(el)
    # Inline markup leaves "England , by"; punctuation belongs to the word before it. (The
    # whitespace is single spaces by now: look before running the expression.)
    if " ," in text or " ." in text or " )" in text or " ]" in text:
        text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    if len(text) > MAX_FIELD:
        raise RecordRejected(f"element <{local(el)}> holds {len(text):,} characters, over the "
                             f"limit of {MAX_FIELD:,}")
    return text


def lang_tag(value: str | None) -> str | None:
    """An ISO 639-1 (or valid BCP 47) tag for a language code or name, or None."""
    if not value:
        return None
    word = value.strip().lower().rstrip(".")
    if word in _NO_LANGUAGE:
        return None
    if word in _LANGS:
        return _LANGS[word]
    return word if _LANG_TAG.fullmatch(word) and len(word.split("-")[0]) == 2 else None


def xml_lang(el: Any, normalise: Callable[[str | None], str | None] = lang_tag) -> str | None:
    """The xml:lang in force on an element, as a usable tag, or None."""
    node = el
    while node is not None:
        value = node.get(XML_LANG)
        if value is not None:
            return normalise(value)
        node = node.getparent()
    return None


def is_url(value: str) -> bool:
    """Tell whether a value is one absolute http(s) URL."""
    return bool(_URL.fullmatch(value.strip()))


def looks_like_image(url: str) -> bool:
    """Tell whether a URL points at an image file or a IIIF image service."""
    return bool(_IMAGE_URL.search(url)) or "/iiif/" in url.lower() or url.endswith("info.json")


def add_image_or_page(b: RecordBuilder, url: str, shown_at: list[str]) -> None:
    """An image URL becomes a web resource; the first other URL becomes edm:isShownAt."""
    url = url.strip()
    if looks_like_image(url):
        if url.endswith("/info.json"):
            base = url[: -len("/info.json")]
            b.add_remote_image(f"{base}/full/max/0/default.jpg", service=base)
        else:
            b.add_remote_image(url)
    elif not shown_at:
        b.set_shown_at(url)
        shown_at.append(url)
    else:
        b.add_literal(DC.relation, url)


def rights_uri(texts: Iterable[str]) -> str | None:
    """The first statement that maps to a RightsStatements.org or Creative Commons URI."""
    for text in texts:
        for candidate in (text, re.sub(r"\s+(international|unported|license|licence)\.?$", "",
                                       text.strip(), flags=re.IGNORECASE)):
            if uri := normalise_rights(candidate):
                return uri
    return None


def set_rights(b: RecordBuilder, texts: list[str], fallback: str | None = None) -> None:
    """Set edm:rights from the statements; otherwise warn and use Copyright Not Evaluated."""
    uri = rights_uri(texts) or fallback
    if uri is None:
        if texts:
            b.warnings.append(f"rights {texts[0][:200]!r} is not a known statement; "
                              "recorded as Copyright Not Evaluated")
        else:
            b.warnings.append("no rights statement; recorded as Copyright Not Evaluated")
        uri = NOT_EVALUATED
    b.set_rights(uri)


def edm_type_of(words: Iterable[str]) -> str | None:
    """The edm:type named by the first type word that says image, text, sound, video or 3D."""
    for word in words:
        lowered = word.lower()
        for edm_type, keys in _EDM_TYPE_WORDS:
            if any(k in lowered for k in keys):
                return edm_type
    return None


def make_record_id(context: ReadContext, default_namespace: str, local_id: str) -> str:
    """The record id of a local id in the namespace the user chose (or the reader's default)."""
    namespace = context.options.get("namespace") or default_namespace
    try:
        return record_id(namespace, local_id)
    except IdentifierError as exc:
        raise RecordRejected(str(exc)) from None


def raw_xml(el: Any) -> bytes:
    """The element's own XML as received (with the namespaces it uses)."""
    return bytes(etree.tostring(el, with_tail=False, encoding="utf-8"))


def position_of(el: Any) -> str:
    """A readable XPath of an element by local names, e.g. /ead/archdesc/dsc/c01[3]."""
    steps = []
    node = el
    while node is not None:
        name = local(node)
        parent = node.getparent()
        if parent is None:
            steps.append(f"/{name}")
        else:
            # Counted by XPath in C: a record set of 100,000 siblings stays linear enough.
            before = int(node.xpath("count(preceding-sibling::*[local-name()=$n])", n=name))
            after = int(node.xpath("count(following-sibling::*[local-name()=$n])", n=name))
            steps.append(f"/{name}[{before + 1}]" if before or after else f"/{name}")
        node = parent
    return "".join(reversed(steps))


def parse_data(data: bytes, name: str) -> Any:
    """Parse untrusted XML bytes with the hardened parser (raises XmlRejected)."""
    return parse_xml_bytes(data, name)


# -- the reader --------------------------------------------------------------------------------

def _is_dc(el: Any) -> bool:
    return isinstance(el.tag, str) and namespace_of(el) in (DC_NS, DCTERMS_NS)


def dc_containers(root: Any) -> list[Any]:
    """The outermost elements whose children are DC / DCTerms elements: one per record."""
    found: list[Any] = []
    stack = [root]
    while stack:
        el = stack.pop()
        if any(_is_dc(c) for c in el):
            found.append(el)
            continue
        stack.extend(reversed(children(el)))
    return found


def settle_oai(item: SourceRecord, el: Any) -> SourceRecord:
    """A <record> cut from an OAI-PMH file, in the worker: as from_oai hands it on."""
    from ingest.oai_cut import settled

    return settled(item, el, DcReader().from_oai)


class DcReader:
    """Reads Dublin Core records: oai_dc, plain DC and qualified DC (dcterms)."""

    name = "dc"
    version = "1.0"
    # to_rdf maps a record from its raw bytes alone (data=None): how it reaches a worker.
    maps_from_raw = True

    def read(self, source: Path, context: ReadContext) -> Iterator[SourceRecord | Rejection]:
        """Yield one source record per DC record; a file that cannot be parsed is one rejection.

        OAI-PMH response files are read as a stream, a record at a time."""
        from ingest.oai import streamed_or_whole

        yield from streamed_or_whole(source, context, self.from_oai,
                                     lambda root, name: self._records_of(root, name, context),
                                     settle_oai)

    def _records_of(self, root: Any, source: str, context: ReadContext
                    ) -> Iterator[SourceRecord | Rejection]:
        from ingest.oai import oai_file_records

        if local(root) in ("OAI-PMH", "record") and etree.QName(root).namespace in (
                None, "http://www.openarchives.org/OAI/2.0/"):
            yield from oai_file_records(root, source, context, self.from_oai)
            return
        containers = dc_containers(root)
        if not containers:
            yield Rejection(source, "file", "no Dublin Core records found (no dc: or "
                            "dcterms: elements under any element)")
            return
        for el in containers:
            yield SourceRecord(source, position_of(el), None, raw_xml(el), MEDIA_TYPE, el)

    def from_oai(self, record: SourceRecord) -> Iterator[SourceRecord | Rejection]:
        """A harvested record whose payload must be Dublin Core."""
        payload = record.data
        if not dc_containers(payload):
            yield Rejection(record.source, record.position,
                            f"the metadata is <{local(payload)}>, not Dublin Core")
            return
        yield record

    def to_rdf(self, record: SourceRecord, context: ReadContext) -> RecordDraft:
        """Map one DC record to the record model."""
        payload = record.data
        if payload is None:
            try:
                payload = parse_data(record.raw, record.position)
            except XmlRejected as exc:
                raise RecordRejected(str(exc)) from None
        containers = dc_containers(payload)
        if not containers:
            raise RecordRejected("no Dublin Core elements in the record")
        dc = containers[0]
        fields = _fields(dc)
        local_id = record.local_id or next(
            (i for i in (text_of(c) for n, _, c in fields if n == "identifier") if i), None
        ) or record.position
        rid = make_record_id(context, "dc", local_id)
        b = RecordBuilder(context.minter, rid)
        try:
            return self._map(b, fields, xml_lang(dc), record, context)
        except ValueError as exc:
            raise RecordRejected(str(exc)) from None

    def _map(self, b: RecordBuilder, fields: list[tuple[str, str | None, Any]],
             inherited: str | None, record: SourceRecord, context: ReadContext) -> RecordDraft:
        # `inherited`: the xml:lang in force on the fields' parent (found once, not per field).
        shown_at: list[str] = []
        rights: list[str] = []
        types: list[str] = []
        data_provider = None
        unmapped: set[str] = set()
        seen: set[tuple[str, str]] = set()
        for name, namespace, el in fields:
            value = text_of(el)
            if not value or (name, value) in seen:
                continue
            seen.add((name, value))
            own = el.get(XML_LANG)
            lang = inherited if own is None else lang_tag(own)
            if namespace == EDM_NS:
                if name == "rights":
                    rights.insert(0, el.get("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
                                            "resource") or value)
                elif name == "isShownAt" and is_url(value):
                    b.set_shown_at(value)
                    shown_at.append(value)
                elif name in ("isShownBy", "object") and is_url(value):
                    b.add_remote_image(value)
                elif name == "dataProvider":
                    data_provider = value
                else:
                    unmapped.add(f"edm:{name}")
                continue
            if namespace not in (DC_NS, DCTERMS_NS):
                unmapped.add(name)
                continue
            if name in _LITERALS:
                b.add_literal(_LITERALS[name], value, lang)
            elif name in _AGENTS:
                b.add_agent(_AGENTS[name], value, lang)
            elif name == "subject":
                b.add_concept(value, lang)
            elif name in _DATES:
                for part in _date_parts(value):
                    b.add_date(part, _DATES[name])
            elif name == "type":
                types.append(value)
                b.add_literal(DC.type, value, lang)
            elif name == "identifier":
                b.add_literal(DC.identifier, value)
                if is_url(value):
                    add_image_or_page(b, value, shown_at)
            elif name == "language":
                for part in re.split(r"[;,]", value):
                    if part.strip():
                        b.add_literal(DC.language, lang_tag(part) or part.strip())
            elif name in ("coverage", "spatial"):
                if name == "coverage" and parse_years(value) is not None:
                    b.add_date(value, DCTERMS.temporal)
                else:
                    b.add_place(value, lang=lang)
            elif name in _RIGHTS:
                rights.append(value)
                b.add_literal(DCTERMS.accessRights if name == "accessRights" else DC.rights,
                              value, lang)
            else:
                unmapped.add(name)
        b.set_type(edm_type_of(types) or "TEXT")
        set_rights(b, rights, context.options.get("rights"))
        b.set_providers(data_provider or context.options.get("data_provider")
                        or context.provider, context.provider)
        if unmapped:
            b.warnings.append("elements not mapped (kept in the stored source): "
                              + ", ".join(sorted(unmapped)))
        return RecordDraft(b.record_id, b.graph, record.raw, record.media_type, [], b.warnings)


def _fields(dc: Any) -> list[tuple[str, str | None, Any]]:
    """(local name, namespace, element) of each element child, from one read of its tag."""
    out = []
    for c in dc:
        tag = c.tag
        if isinstance(tag, str):
            namespace = tag[1:tag.index("}")] if tag[:1] == "{" else None
            out.append((tag.rpartition("}")[2], namespace, c))
    return out


def _date_parts(value: str) -> list[str]:
    # "2008; 2016" is two dates; a range like "1890-1899" stays one.
    parts = [p.strip() for p in value.split(";") if p.strip()]
    return parts or [value]
