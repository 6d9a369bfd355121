"""MARCXML bibliographic records (with or without the MARC namespace), mapped to EDM."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from lxml import etree
from rdflib import Namespace, URIRef

from archive.dates import parse_years
from archive.record import RecordBuilder, RecordDraft
from archive.rights import normalise_rights
from archive.vocab import DC, DCTERMS
from ingest.dc_reader import make_record_id, set_rights
from ingest.languages import normalise_language as _normalise_language
from ingest.reader import ReadContext, RecordRejected, Rejection, SourceRecord
from ingest.xmlrecords import file_records, local_name, record_element

MEDIA_TYPE = "application/xml"
RELATORS = Namespace("http://id.loc.gov/vocabulary/relators/")
_HTTP = re.compile(r"^https?://[^\s<>\"{}|\\^`]+$")
_IIIF_IMAGE = re.compile(
    r"^(https?://\S+?)/(?:full|square|\d+,\d+,\d+,\d+|pct:[\d.,]+)/[^/]+/!?\d+(?:\.\d+)?/"
    r"(?:default|color|colour|gray|grey|bitonal|native)\.(?:jpg|jpeg|png|tif|tiff|gif|webp|jp2)$")
# MARC relator codes of those who make the work; every other role is a contribution.
CREATOR_CODES = frozenset({"aut", "art", "cre", "arc", "cmp", "ctg", "dsr", "egr", "ill", "pht",
                           "scl", "pnt", "drm", "etr", "ltg", "mfr", "inv", "lbt", "prg"})
# Role words of catalogues (several languages) -> MARC relator code.
ROLE_WORDS = {
    "author": "aut", "autor": "aut", "auteur": "aut", "verfasser": "aut", "writer": "aut",
    "artist": "art", "künstler": "art", "kunstenaar": "art", "painter": "art", "maler": "art",
    "painters (artists)": "art", "creator": "cre", "designer": "dsr", "suunnittelija": "dsr",
    "architect": "arc", "architekt": "arc", "composer": "cmp", "komponist": "cmp",
    "engraver": "egr", "stecher": "egr", "illustrator": "ill", "photographer": "pht",
    "fotograf": "pht", "kuvaaja": "pht", "sculptor": "scl", "bildhauer": "scl",
    "manufacturer": "mfr", "hersteller": "mfr", "valmistaja": "mfr", "inventor": "inv",
    "erfinder": "inv", "erfinder/in": "inv", "printer": "prt", "drucker": "prt",
    "publisher": "pbl", "verlag": "pbl", "verleger": "pbl", "editor": "edt",
    "herausgeber": "edt", "toimittaja": "edt", "translator": "trl", "übersetzer": "trl",
    "contributor": "ctb", "compiler": "com", "cartographer": "ctg", "lithographer": "ltg",
    "draftsman": "drm", "zeichner": "drm", "etcher": "etr", "owner": "own", "donor": "dnr",
}
_RELATOR_URI = re.compile(r"^https?://id\.loc\.gov/vocabulary/relators/([a-z]{3})$")
# MARC-8 script identification codes of subfield $6 -> ISO 15924 script subtag.
SCRIPTS = {"$1": "Hani", "(3": "Arab", "(4": "Arab", "(B": "Latn", "(N": "Cyrl", "(Q": "Cyrl",
           "(S": "Grek", "(2": "Hebr"}
TYPE_OF_RECORD = {"a": "TEXT", "t": "TEXT", "c": "TEXT", "d": "TEXT", "e": "IMAGE", "f": "IMAGE",
                  "i": "SOUND", "j": "SOUND", "g": "VIDEO", "k": "IMAGE", "r": "3D", "m": "TEXT",
                  "o": "3D", "p": "TEXT"}
# Pure, and asked again and again for the same few codes.
normalise_language = lru_cache(maxsize=4096)(_normalise_language)
_ISBD_TAIL = re.compile(r"[\s/:;=,]+$")
_DATE_NOISE = re.compile(r"[\[\]?]|^(?:c|©|p|℗)\s*(?=\d)", re.IGNORECASE)


def is_http(value: str | None) -> bool:
    """Tell whether a string is an absolute http(s) URL usable as an RDF IRI."""
    if not value:
        return False
    if len(value) > 300:
        return _HTTP.match(value.strip()) is not None
    return _is_short_http(value)


@lru_cache(maxsize=8192)  # pure; vocabulary and authority URIs repeat record after record
def _is_short_http(value: str) -> bool:
    return _HTTP.match(value.strip()) is not None


def iiif_service_of(url: str) -> str | None:
    """The IIIF Image service of an Image API URL (".../full/max/0/default.jpg"), else None."""
    m = _IIIF_IMAGE.match(url)
    return m.group(1) if m else None


# Compiled once: the mapping asks these for every agent and every linked field.
_THREE_LETTERS = re.compile(r"[a-z]{3}")
_CODE_IN_BRACKETS = re.compile(r"\(([a-z]{3})\)$")
_LINKAGE = re.compile(r"^(\d{3})-(\d{2})(?:/([^/]+))?")


def relator_code(roles: Sequence[str], role_uris: Sequence[str] = ()) -> str | None:
    """The MARC relator code of a role given as a relator URI, a code or a word."""
    for uri in role_uris:
        if m := _RELATOR_URI.match(uri.strip()):
            return m.group(1)
    for role in roles:
        word = role.strip().strip(".,;: ").lower()
        if _THREE_LETTERS.fullmatch(word) and word not in ROLE_WORDS:
            return word
        if word in ROLE_WORDS:
            return ROLE_WORDS[word]
        if m := _CODE_IN_BRACKETS.search(word):
            return m.group(1)
    return None


def add_agent_in_role(b: RecordBuilder, names: Sequence[tuple[str, str | None]],
                      roles: Sequence[str], role_uris: Sequence[str], uri: str | None, *,
                      default_creator: bool) -> URIRef | None:
    """Add an agent under dc:creator / dc:contributor / dc:publisher, its role as a relator."""
    code = relator_code(roles, role_uris)
    if code == "pbl":
        prop = DC.publisher
    elif code in CREATOR_CODES or (code is None and default_creator):
        prop = DC.creator
    else:
        prop = DC.contributor
    agent = None
    for name, lang in names:
        agent = b.add_agent(prop, name, lang, uri=str(agent) if agent else uri)
    if agent is not None and code:
        b.add_agent(RELATORS[code], names[0][0], names[0][1], uri=str(agent))
    elif agent is not None and roles:
        b.warnings.append(f"role {roles[0]!r} of {names[0][0]!r} kept only in the source")
    return agent


@dataclass
class MarcField:
    """One data field: tag, indicators and subfields in order."""

    tag: str
    ind1: str
    ind2: str
    subfields: list[tuple[str, str]] = field(default_factory=list)

    def get(self, *codes: str) -> list[str]:
        """Values of the subfields with these codes, in order."""
        return [v for c, v in self.subfields if c in codes]

    def link(self) -> tuple[str, str, str | None] | None:
        """The $6 linkage: (linked tag, occurrence, script code)."""
        six = next(iter(self.get("6")), "")
        m = _LINKAGE.match(six)
        return (m.group(1), m.group(2), m.group(3)) if m else None


@dataclass
class MarcRecord:
    """A MARC record read from MARCXML."""

    leader: str
    controls: dict[str, str]
    fields: list[MarcField]

    def all(self, *tags: str) -> list[MarcField]:
        """The data fields with these tags, in order (880s excluded unless asked)."""
        return [f for f in self.fields if f.tag in tags]


_local = local_name


def parse_record(el: etree._Element) -> MarcRecord:
    """Read a marc:record element (any namespace or none) into a MarcRecord."""
    leader = ""
    controls: dict[str, str] = {}
    fields: list[MarcField] = []
    for child in el:
        name = _local(child)
        if name == "leader":
            leader = child.text or ""
        elif name == "controlfield":
            controls.setdefault(child.get("tag", ""), child.text or "")
        elif name == "datafield":
            subs = [(s.get("code", ""), " ".join((s.text or "").split()))
                    for s in child.iterchildren("{*}subfield")]
            fields.append(MarcField(child.get("tag", ""), child.get("ind1", " "),
                                    child.get("ind2", " "), subs))
    return MarcRecord(leader, controls, fields)


@lru_cache(maxsize=16384)  # pure, and asked twice for most subfields
def _clean(text: str) -> str:
    """Strip ISBD punctuation at the end (" /", " :", ",", a final period after a word)."""
    text = _ISBD_TAIL.sub("", text.strip())
    if text.endswith(".") and re.search(r"[a-z0-9\)\]\u3000-\u9fff]{2}\.$", text):
        text = text[:-1]
    return text


def _joined(f: MarcField, codes: str, sep: str = " ") -> str:
    return _clean(sep.join(_clean(v) for v in f.get(*codes) if _clean(v)))


def _date_text(text: str) -> str:
    return _DATE_NOISE.sub("", text).strip().rstrip(".").strip()


def readable_date(text: str) -> str:
    """The date as written, or without cataloguers' brackets, "?" and "c" when only that reads."""
    if parse_years(text) is None and parse_years(_date_text(text)) is not None:
        return _date_text(text)
    return text


def local_id_of(rec: MarcRecord) -> tuple[str | None, str | None]:
    """The local identifier (001, else 035 $a, else 090/099 $a) and a note when not 001."""
    if rec.controls.get("001", "").strip():
        return rec.controls["001"].strip(), None
    for tag in ("035", "099", "090"):
        for f in rec.all(tag):
            if value := next(iter(f.get("a")), "").strip():
                return value, f"no 001 control number; identified by {tag} $a {value!r}"
    return None, None


def quick_local_id(el: etree._Element) -> str | None:
    """local_id_of(parse_record(el))[0], without reading every field when 001 is there."""
    for kid in el:
        if _local(kid) == "controlfield" and kid.get("tag", "") == "001":
            if (kid.text or "").strip():
                return (kid.text or "").strip()
            break  # the first 001 counts, and it is empty: look further as local_id_of does
    return local_id_of(parse_record(el))[0]


class _MarcMapper:
    """Maps one MarcRecord onto a RecordBuilder."""

    def __init__(self, b: RecordBuilder, rec: MarcRecord) -> None:
        self.b = b
        self.rec = rec
        f008 = rec.controls.get("008", "")
        lang = normalise_language(f008[35:38]) if len(f008) == 40 else None
        if f008 and len(f008) != 40:
            # Runs of blanks get squeezed on the way through some systems; the language
            # (35-37) and the two positions after it are still the last five characters.
            b.warnings.append(f"008 has {len(f008)} characters, not 40; language read from "
                              "its end")
            lang = normalise_language(f008[-5:-2]) if len(f008) >= 18 else None
        for f in rec.all("041"):
            lang = lang or normalise_language(next(iter(f.get("a")), "")[:3])
        self.lang = lang
        self.agents_by_name: dict[str, tuple[str, str | None]] = {}
        self.alt: dict[tuple[str, str], MarcField] = {}
        for f in rec.all("880"):
            if (link := f.link()) and link[1] != "00":
                self.alt[(link[0], link[1])] = f

    def alternate(self, f: MarcField) -> tuple[MarcField | None, str | None, str | None]:
        """The linked 880 field, its language tag and the tag for the romanised original."""
        link = f.link()
        if not link or link[0] != "880":
            return None, self.lang, None
        alt = self.alt.get((f.tag, link[1]))
        if alt is None:
            return None, self.lang, None
        alt_link = alt.link()
        script = SCRIPTS.get(alt_link[2] or "") if alt_link else None
        alt_lang = self.lang or (f"und-{script}" if script else None)
        roman = f"{self.lang}-Latn" if self.lang and script != "Latn" else self.lang
        return alt, alt_lang, roman

    def unlinked_880(self, tag: str) -> list[MarcField]:
        """880 fields for a tag that have no linked original (occurrence 00)."""
        return [f for f in self.rec.all("880") if (link := f.link()) and link[0] == tag
                and link[1] == "00"]

    def titles(self) -> None:
        """Add 245 (with its 880) as dc:title, 240/246/130 as dcterms:alternative."""
        for f in self.rec.all("245"):
            alt, alt_lang, roman = self.alternate(f)
            self.b.add_literal(DC.title, _title(f), roman or self.lang)
            if alt is not None:
                self.b.add_literal(DC.title, _title(alt), alt_lang)
        for f in self.unlinked_880("245"):
            self.b.add_literal(DC.title, _title(f), self.lang)
        for f in self.rec.all("246", "240", "130"):
            alt, alt_lang, _ = self.alternate(f)
            self.b.add_literal(DCTERMS.alternative, _joined(f, "anp"))
            if alt is not None:
                self.b.add_literal(DCTERMS.alternative, _joined(alt, "anp"), alt_lang)

    def agents(self) -> None:
        """Add 1XX/7XX names as creators or contributors, with their 880 forms."""
        for f in self.rec.all("100", "110", "111", "700", "710", "711"):
            name = _name(f)
            if not name:
                continue
            alt, alt_lang, roman = self.alternate(f)
            names = [(name, roman if alt is not None else None)]
            if alt is not None and _name(alt):
                names.append((_name(alt), alt_lang))
            uri = next((v for v in f.get("0", "1") if is_http(v)), None)
            agent = add_agent_in_role(self.b, names, f.get("e", "j") or f.get("4"), [], uri,
                                      default_creator=f.tag.startswith("1"))
            if agent is not None:
                self.agents_by_name.setdefault(name, (str(agent), names[0][1]))

    def publication(self) -> bool:
        """Add 260/264 places, publishers and dates; tell whether a date was read."""
        dated = False
        for f in self.rec.all("260", "264"):
            if f.tag == "264" and f.ind2 not in ("1", " "):
                continue
            alt, alt_lang, roman = self.alternate(f)
            places = [_clean(v) for v in f.get("a") if _clean(v)]
            alt_places = [_clean(v) for v in alt.get("a")] if alt is not None else []
            for i, place in enumerate(places):
                node = self.b.add_place(place.strip("[]"), lang=roman if alt is not None else None)
                if i < len(alt_places) and alt_places[i]:
                    self.b.add_place(alt_places[i].strip("[]"), lang=alt_lang, uri=str(node))
            publishers = [_clean(v) for v in f.get("b") if _clean(v)]
            alt_publishers = [_clean(v) for v in alt.get("b")] if alt is not None else []
            for i, publisher in enumerate(publishers):
                names = [(publisher, roman if alt is not None else None)]
                if i < len(alt_publishers) and alt_publishers[i]:
                    names.append((alt_publishers[i], alt_lang))
                add_agent_in_role(self.b, names, ["publisher"], [], None, default_creator=False)
            for date in f.get("c"):
                text = _date_text(date)
                if text and parse_years(text) is not None:
                    self.b.add_date(text, DCTERMS.issued)
                    dated = True
                elif text:
                    self.b.add_literal(DC.date, date.strip())
        return dated

    def fixed_date(self) -> None:
        """Add the 008 date1/date2 span when 260/264 gave no date."""
        f008 = self.rec.controls.get("008", "")
        if len(f008) < 15:
            return
        kind, d1, d2 = f008[6], f008[7:11], f008[11:15]
        if not re.fullmatch(r"[0-9u]{4}", d1):
            return
        begin, end = int(d1.replace("u", "0")), int(d1.replace("u", "9"))
        if kind in "ikmq" and re.fullmatch(r"[0-9u]{4}", d2) and d2 != "9999":
            end = int(d2.replace("u", "9"))
        if end < begin:
            end = begin
        self.b.add_date(str(begin) if begin == end else f"{begin}-{end}", DCTERMS.issued)

    def subjects(self) -> None:
        """Add 6XX subjects as concepts, places and agents."""
        places: set[str] = set()
        for f in self.rec.all("650", "655", "651", "600", "610", "611", "630"):
            sources = f.get("2")
            lang = None
            if sources and "/" in sources[0]:
                lang = normalise_language(sources[0].rpartition("/")[2])
            elif f.ind2 == "0":
                lang = "en"  # second indicator 0: Library of Congress Subject Headings
            uri = next((v for v in f.get("0", "1") if is_http(v)), None)
            if f.tag == "651":
                # The place is $a; its subdivisions ($x, $y, $z) are topics, not places.
                label = _joined(f, "a")
                if label and label not in places:
                    places.add(label)
                    self.b.add_place(label, lang=lang, uri=uri)
            elif f.tag in ("600", "610", "611"):
                name = _name(f)
                known, known_lang = self.agents_by_name.get(name, (None, None))
                if name:
                    self.b.add_agent(DC.subject, name, known_lang, uri=uri or known)
            else:
                label = "--".join(_clean(v) for v in f.get("a", "x", "y", "z", "v") if _clean(v))
                if label:
                    prop = DC.type if f.tag == "655" else DC.subject
                    self.b.add_concept(label, lang, uri=uri, prop=prop)

    def notes(self) -> None:
        """Add 520 summaries, 300 extent and 020 ISBNs."""
        for f in self.rec.all("520"):
            alt, alt_lang, _ = self.alternate(f)
            self.b.add_literal(DC.description, " ".join(f.get("a", "b")), self.lang)
            if alt is not None:
                self.b.add_literal(DC.description, " ".join(alt.get("a", "b")), alt_lang)
        for f in self.rec.all("300"):
            self.b.add_literal(DCTERMS.extent, _joined(f, "abc"))
        for f in self.rec.all("020"):
            for isbn in f.get("a"):
                self.b.add_literal(DC.identifier, f"ISBN {isbn.split()[0]}")

    def links(self) -> int:
        """Add 856 links: images as web resources, the first page as edm:isShownAt."""
        images = 0
        shown = False
        for f in self.rec.all("856"):
            kind = " ".join(f.get("q", "3", "y", "z")).lower()
            for url in (u.strip() for u in f.get("u")):
                if not is_http(url):
                    self.b.warnings.append(f"856 $u {url!r} is not a web address; not kept")
                    continue
                looks_image = ("image" in kind or "iiif" in kind or "iiif" in url.lower()
                               or bool(re.search(r"\.(jpe?g|png|tiff?|jp2|gif)$", url, re.I)))
                if looks_image:
                    media = next((q for q in f.get("q") if q.startswith("image/")), None)
                    self.b.add_remote_image(url, iiif_service_of(url), media_type=media)
                    images += 1
                elif not shown:
                    self.b.set_shown_at(url)
                    shown = True
                else:
                    self.b.warnings.append(f"856 link {url} kept only in the source")
        return images

    def rights(self) -> None:
        """Set edm:rights from 540/506, else Copyright Not Evaluated with a note."""
        texts: list[str] = []
        for f in self.rec.all("540", "506"):
            for url in f.get("u"):
                if mapped := normalise_rights(url):
                    self.b.set_rights(mapped)
                    return
            text = " ".join(f.get("a", "f"))
            if text:
                self.b.add_literal(DC.rights, text, self.lang)
                if mapped := normalise_rights(text):
                    self.b.set_rights(mapped)
                    return
                texts.append(text)
        set_rights(self.b, texts)


def _name(f: MarcField) -> str:
    """A heading's name: $a $b $c $q (or $n for meetings), then its dates $d after a comma."""
    name = _joined(f, "abcq" if f.tag.endswith("00") else "abcn")
    dates = _joined(f, "d")
    return f"{name}, {dates}" if name and dates else name


def _title(f: MarcField) -> str:
    parts = [_clean(v) for v in f.get("a", "b", "n", "p") if _clean(v)]
    if not parts:
        return ""
    subtitle = [_clean(v) for v in f.get("b") if _clean(v)]
    main = [_clean(v) for v in f.get("a") if _clean(v)]
    rest = [_clean(v) for v in f.get("n", "p") if _clean(v)]
    title = " ".join(main)
    if subtitle:
        title = f"{title}: {' '.join(subtitle)}" if title else " ".join(subtitle)
    if rest:
        title = f"{title}. {'. '.join(rest)}" if title else ". ".join(rest)
    return title


class MarcXmlReader:
    """Reads MARCXML: one record per record element."""

    name = "marcxml"
    version = "1.0"

    def read(self, source: Path, context: ReadContext) -> Iterator[SourceRecord | Rejection]:
        """Yield one source record per MARC record; an unparseable file is one rejection."""
        yield from file_records(source, tag="record", is_record=_is_marc_record,
                                local_id=quick_local_id,
                                what="MARC record element", id_name="control number",
                                split=context.split)

    def to_rdf(self, record: SourceRecord, context: ReadContext) -> RecordDraft:
        """Map one MARC record element (record.data, or parsed from record.raw) to EDM."""
        el = record_element(record, is_record=_is_marc_record, what="MARC record element")
        rec = parse_record(el)
        local, note = local_id_of(rec)
        if not local:
            raise RecordRejected("no 001 control number (nor 035, 090 or 099 $a) to identify "
                                 "the record")
        rid = make_record_id(context, "marc", local)
        b = RecordBuilder(context.minter, rid)
        if note:
            b.warnings.append(note)
        b.add_literal(DC.identifier, local)
        m = _MarcMapper(b, rec)
        try:
            m.titles()
            m.agents()
            if not m.publication():
                m.fixed_date()
            m.subjects()
            m.notes()
            m.links()
            m.rights()
        except ValueError as exc:
            raise RecordRejected(str(exc)) from None
        if m.lang:
            b.add_literal(DC.language, m.lang)
        kind = TYPE_OF_RECORD.get(rec.leader[6:7])
        if kind is None:
            b.warnings.append(f"leader/06 {rec.leader[6:7]!r} is not a known type of record; "
                              "recorded as TEXT")
        b.set_type(kind or "TEXT")
        b.set_providers(context.provider)
        return RecordDraft(rid, b.graph, record.raw, record.media_type, [], b.warnings)


def _is_marc(el: etree._Element) -> bool:
    """A record element is MARC when it holds a leader or control/data fields."""
    return any(_local(k) in ("leader", "controlfield", "datafield") for k in el)


def _is_marc_record(el: etree._Element) -> bool:
    return _local(el) == "record" and _is_marc(el)
