"""LIDO museum object records (lido:lidoWrap or a single lido:lido), mapped to EDM."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from pathlib import Path

from lxml import etree
from rdflib import URIRef

from archive.dates import parse_years
from archive.record import RecordBuilder, RecordDraft
from archive.rights import normalise_rights
from archive.vocab import DC, DCTERMS
from ingest.dc_reader import flat_text, make_record_id, set_rights, xml_lang
from ingest.languages import normalise_language
from ingest.marc_reader import add_agent_in_role, iiif_service_of, is_http
from ingest.reader import ReadContext, RecordRejected, Rejection, SourceRecord
from ingest.xmlrecords import file_records, local_name, record_element

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
RDF_ABOUT = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about"
MEDIA_TYPE = "application/xml"
# Event types whose actors, dates and places describe how the object came to be.
_MAKING_WORDS = re.compile(
    r"\b(?:production|creation|herstellung|entstehung|designing|design|manufactur|valmistus|"
    r"suunnittelu|vervaardiging|productie)|e12_|e65_|lido00007|lido00012", re.IGNORECASE)
_ALTERNATE = re.compile(r"alternate|lido00170$", re.IGNORECASE)
LIDO_NS = "http://www.lido-schema.org"
LIDO_PREF = "{http://www.lido-schema.org}pref"
_PREVIEW = re.compile(r"preview|thumb|lido00451", re.IGNORECASE)
_YEAR = re.compile(r"^\s*(-?\d{1,4})")
_IMAGE_TYPE = re.compile(r"image/[a-z0-9.+-]+")
_TYPE_WORDS = (
    (re.compile(r"\b(book|buch|manuscript|handschrift|document|dokument|letter|brief|text|"
                r"periodical|zeitschrift|newspaper|zeitung|kirja|asiakirja)", re.I), "TEXT"),
    (re.compile(r"\b(sound|audio|ton|recording|tonaufnahme)", re.I), "SOUND"),
    (re.compile(r"\b(video|film|movie)", re.I), "VIDEO"),
    (re.compile(r"\b(3d model|3d-modell)", re.I), "3D"),
)


_local = local_name


def _is_lido(el: etree._Element) -> bool:
    return local_name(el) == "lido"


class _AnyNamespace(dict[str, str]):
    """Local name -> lxml's tag filter for it in any namespace or none ("{*}name")."""

    def __missing__(self, name: str) -> str:
        tag = self[name] = f"{{*}}{name}"
        return tag


_ANY_NAMESPACE = _AnyNamespace()


class _Memo(threading.local):
    """What is known of the elements of the record being mapped (only while to_rdf runs)."""

    # The xml:lang in force on an element: LIDO declares it high up, and many values of one
    # record share their ancestors.
    langs: dict[etree._Element, str | None] | None = None


_memo = _Memo()


def _kids(el: etree._Element, name: str) -> Iterator[etree._Element]:
    """Element children with this local name, in any namespace or none (lxml filters in C:
    this is the reader's innermost loop)."""
    return el.iterchildren(_ANY_NAMESPACE[name])


# Pure, and asked again and again for the same few codes.
_language = lru_cache(maxsize=4096)(normalise_language)


class _Paths(dict[str, etree.XPath]):
    """A path of local names ("a/b/c") -> its compiled XPath, any namespace or none at each
    step (one evaluation in C instead of a filtered child walk per step and element)."""

    def __missing__(self, path: str) -> etree.XPath:
        steps = "/".join(f"*[local-name()='{step}']" for step in path.split("/"))
        compiled = self[path] = etree.XPath(steps)
        return compiled


_PATHS = _Paths()


def _path(el: etree._Element, path: str) -> list[etree._Element]:
    """Descend by local names ("a/b/c"), ignoring namespaces (some LIDO has none)."""
    if "/" not in path:
        return list(_kids(el, path))
    found: list[etree._Element] = _PATHS[path](el)
    return found


def _descend(found: list[etree._Element], path: str) -> list[etree._Element]:
    """Descend from several elements at once by local names ("b/c"), in document order."""
    if "/" not in path:
        return [k for f in found for k in _kids(f, path)]
    compiled = _PATHS[path]
    return [k for f in found for k in compiled(f)]


def _lang(el: etree._Element) -> str | None:
    value = el.get(XML_LANG)
    if value is not None:
        return _language(value)
    parent = el.getparent()
    if parent is None:
        return None
    memo = _memo.langs
    if memo is None:
        return xml_lang(parent, _language)
    if parent in memo:
        return memo[parent]
    # xml_lang(parent), remembered for every ancestor passed on the way up (siblings' and
    # cousins' values meet the same ancestors again).
    passed = []
    node: etree._Element | None = parent
    lang = None
    while node is not None:
        if node in memo:
            lang = memo[node]
            break
        passed.append(node)
        value = node.get(XML_LANG)
        if value is not None:
            lang = _language(value)
            break
        node = node.getparent()
    for node in passed:
        memo[node] = lang
    return lang


def _short_cached(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    """Whether a text matches `pattern`, remembered for short texts (records repeat the same
    few event types and pref values; a long one is not kept)."""
    cached = lru_cache(maxsize=1024)(lambda text: pattern.search(text) is not None)

    def matches(text: str) -> bool:
        return cached(text) if len(text) <= 200 else pattern.search(text) is not None
    return matches


# Whether an event type names how the object came to be; whether a lido:pref is an alternate.
_is_making = _short_cached(_MAKING_WORDS)
_is_alternate = _short_cached(_ALTERNATE)


def _values(els: Iterable[etree._Element], inherit: bool = True
            ) -> list[tuple[str, str | None]]:
    """Non-empty preferred texts with their languages; alternates only when nothing else."""
    preferred: list[tuple[str, str | None]] = []
    alternate: list[tuple[str, str | None]] = []
    for el in els:
        pref = el.get(LIDO_PREF) or el.get("pref")
        is_alternate = bool(pref) and _is_alternate(pref)
        if is_alternate and preferred:
            continue  # never used: a place may list dozens of alternate names
        text = flat_text(el)
        if text:
            lang = _lang(el) if inherit else _language(el.get(XML_LANG))
            (alternate if is_alternate else preferred).append((text, lang))
    return list(dict.fromkeys(preferred or alternate))


def _labels(values: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    """One label per language (SKOS allows one skos:prefLabel per language), first wins."""
    first: dict[str | None, tuple[str, str | None]] = {}
    for text, lang in values:
        first.setdefault(lang, (text, lang))
    return list(first.values())


def _name_values(els: Iterable[etree._Element]) -> list[tuple[str, str | None]]:
    """Names of people and bodies: a language only where the name itself declares one."""
    return _labels(_values(els, inherit=False))


def _parts(*names: str) -> tuple[int, dict[object, int]]:
    """How many names, and each name's slot by local name and by its tag in the LIDO
    namespace (the usual case, found without taking the tag apart)."""
    slots: dict[object, int] = {name: i for i, name in enumerate(names)}
    slots.update({f"{{{LIDO_NS}}}{name}": i for i, name in enumerate(names)})
    return len(names), slots


def _grouped(el: etree._Element, parts: tuple[int, dict[object, int]]
             ) -> list[list[etree._Element]]:
    """The element children with each of several local names (any namespace or none), in
    order: one pass over the children instead of a filter per name."""
    count, slots = parts
    found: list[list[etree._Element]] = [[] for _ in range(count)]
    for child in el:
        tag = child.tag
        slot = slots.get(tag)
        if slot is None:
            if tag.__class__ is not str:  # a comment or processing instruction
                continue
            slot = slots.get(tag.rpartition("}")[2])  # another namespace
            if slot is None:
                continue
        found[slot].append(child)
    return found


_CONCEPT = _parts("term", "Concept", "conceptID")
_EVENT = _parts("eventType", "eventActor", "eventDate", "eventPlace")
_PLACE = _parts("namePlaceSet", "placeID", "gml")
_DESCRIPTIVE = _parts("objectClassificationWrap", "objectIdentificationWrap", "eventWrap",
                      "objectRelationWrap")
_SUBJECT = _parts("subjectConcept", "subjectPlace", "subjectActor", "subjectDate")
_PLACE_OF = _parts("displayPlace", "place")
_DATE = _parts("displayDate", "date")
_SPAN = _parts("earliestDate", "latestDate")
_REPRESENTATION = _parts("resourceMeasurementsSet", "linkResource")
_MEASUREMENT = _parts("measurementType", "measurementUnit", "measurementValue")


def _concept(el: etree._Element
             ) -> tuple[list[tuple[str, str | None]], str | None, list[etree._Element]]:
    """Labels and authority URI of a LIDO concept (lido:term / conceptID, or skos:Concept),
    and its lido:conceptID elements (found in the same pass, for callers that read them)."""
    terms, concepts, ids = _grouped(el, _CONCEPT)
    labels = _values(terms) if terms else []
    uri = None
    for concept in concepts:
        labels += _values(_kids(concept, "prefLabel"))
        uri = uri or (concept.get(RDF_ABOUT) if is_http(concept.get(RDF_ABOUT)) else None)
    if not uri:
        for cid in ids:
            if is_http(text := flat_text(cid)):
                uri = text
                break
    # (_labels keeps the first label of each language: duplicates before it change nothing.)
    return _labels(labels), uri, ids


def _ids(el: etree._Element, name: str) -> str | None:
    return _first_http(_kids(el, name))


def _first_http(els: Iterable[etree._Element]) -> str | None:
    for child in els:
        if is_http(text := flat_text(child)):
            return text
    return None


def _year_span(date: etree._Element) -> str | None:
    earliest_els, latest_els = _grouped(date, _SPAN)
    earliest = [flat_text(e) for e in earliest_els]
    latest = [flat_text(e) for e in latest_els]
    begin = next((m.group(1) for t in earliest if (m := _YEAR.match(t))), None)
    end = next((m.group(1) for t in latest if (m := _YEAR.match(t))), None)
    begin, end = begin or end, end or begin
    if begin is None or end is None:
        return None
    return begin if int(begin) == int(end) else f"{int(begin)}-{int(end)}"


def _gml_point(gmls: list[etree._Element]) -> tuple[float, float] | None:
    for gml in gmls:
        for node in gml.iter():
            name, text = _local(node), (node.text or "").strip()
            try:
                if name == "pos":
                    lat, long = (float(v) for v in text.split()[:2])
                    return lat, long
                if name == "coordinates":
                    long, lat = (float(v) for v in text.replace(" ", "").split(",")[:2])
                    return lat, long
            except ValueError:
                return None
    return None


class _LidoMapper:
    """Maps one lido:lido element onto a RecordBuilder."""

    def __init__(self, b: RecordBuilder, lido: etree._Element) -> None:
        self.b = b
        self.lido = lido
        self.placed: set[str] = set()

    def concept(self, el: etree._Element, prop: URIRef) -> list[tuple[str, str | None]]:
        """Add a LIDO concept (one label per language) under a property; return its labels."""
        labels, uri, _ = _concept(el)
        node = None
        for label, lang in labels:
            node = self.b.add_concept(label, lang, uri=str(node) if node else uri, prop=prop)
        return labels

    def place(self, place: etree._Element, display: str = "") -> None:
        """Add a LIDO place with its authority URI and gml point, once per URI."""
        name_sets, ids, gmls = _grouped(place, _PLACE)
        names = _labels(_values(p for s in name_sets for p in _kids(s, "appellationValue")))
        names = names or ([(display, None)] if display else [])
        uri = _first_http(ids)
        point = _gml_point(gmls) if gmls else None
        if uri and uri in self.placed:
            point = None
        if not names and point is None:
            return
        node = None
        for i, (name, lang) in enumerate(names or [("", None)]):
            lat, long = (point if i == 0 and point else (None, None))
            try:
                node = self.b.add_place(name, lat, long, lang=lang,
                                        uri=str(node) if node else uri)
            except ValueError as exc:
                self.b.warnings.append(f"place {name!r}: {exc}; coordinates dropped")
                node = self.b.add_place(name, lang=lang, uri=str(node) if node else uri)
        if uri:
            self.placed.add(uri)

    def actor(self, actor_in_role: etree._Element, making: bool) -> None:
        """Add the actors of an actorInRole with their role."""
        for actor in _kids(actor_in_role, "actor"):
            names = _name_values(v for s in _kids(actor, "nameActorSet")
                                 for v in _kids(s, "appellationValue"))
            if not names:
                continue
            roles: list[str] = []
            role_uris: list[str] = []
            for role in _kids(actor_in_role, "roleActor"):
                labels, _, ids = _concept(role)
                roles += [label for label, _ in labels]
                role_uris += [t for c in ids if is_http(t := flat_text(c))]
            add_agent_in_role(self.b, names, roles, role_uris, _ids(actor, "actorID"),
                              default_creator=making)

    def event(self, event: etree._Element) -> None:
        """Map a creation/production event (actors, date, places); note other events."""
        types, actors, dates, places_of = _grouped(event, _EVENT)
        kinds: list[str] = []
        id_kinds: list[str] = []
        for t in types:
            labels, _, ids = _concept(t)
            kinds += [label for label, _ in labels]
            id_kinds += [flat_text(c) for c in ids]
        kinds += id_kinds
        making = any(_is_making(k) for k in kinds)
        if not making:
            if kinds:
                self.b.warnings.append(f"event {kinds[0]!r} kept only in the source")
            return
        for ea in actors:
            for air in _kids(ea, "actorInRole"):
                self.actor(air, making)
        for ed in dates:
            self.date(ed, DCTERMS.created)
        for ep in places_of:
            displays, places = _grouped(ep, _PLACE_OF)
            display = " ".join(flat_text(d) for d in displays)
            for place in places:
                self.place(place, display)
            if not places and display:
                self.b.add_place(display)

    def date(self, event_date: etree._Element, prop: URIRef) -> None:
        """Add an eventDate: the display date if it reads, else earliest-latest years."""
        displays, dates = _grouped(event_date, _DATE)
        display = " ".join(t for d in displays if (t := flat_text(d)))
        span = next((s for d in dates if (s := _year_span(d))), None)
        if display and (span is None or _parses(display)):
            self.b.add_date(display, prop)
        elif span:
            self.b.add_date(span, prop)
            if display:
                self.b.add_literal(DC.date, display)

    def subjects(self, wrap: etree._Element) -> None:
        """Map a subjectWrap: concepts, places, actors and dates the object is about."""
        for subject_set in _kids(wrap, "subjectSet"):
            subjects = list(_kids(subject_set, "subject"))
            if not subjects:
                for display in _kids(subject_set, "displaySubject"):
                    if text := flat_text(display):
                        self.b.add_concept(text, _lang(display))
            for subject in subjects:
                concepts, places_of, actors, dates = _grouped(subject, _SUBJECT)
                for concept in concepts:
                    self.concept(concept, DC.subject)
                for sp in places_of:
                    displays, places = _grouped(sp, _PLACE_OF)
                    display = " ".join(flat_text(d) for d in displays)
                    for place in places:
                        self.place(place, display)
                for sa in actors:
                    for actor in _kids(sa, "actor"):
                        names = _name_values(v for s in _kids(actor, "nameActorSet")
                                             for v in _kids(s, "appellationValue"))
                        node, uri = None, _ids(actor, "actorID")
                        for name, lang in names:
                            node = self.b.add_agent(DC.subject, name, lang,
                                                    uri=str(node) if node else uri)
                for sd in dates:
                    self.date(sd, DCTERMS.temporal)

    def descriptive(self, dm: etree._Element) -> str | None:
        """Map descriptiveMetadata; return the edm:type the object work type suggests."""
        b = self.b
        guess = None
        # The wraps found in one pass over descriptiveMetadata's children.
        classification, oiw, events, relations = _grouped(dm, _DESCRIPTIVE)
        for wt in _descend(classification, "objectWorkTypeWrap/objectWorkType"):
            text = " ".join(label for label, _ in self.concept(wt, DC.type))
            guess = guess or next((t for rx, t in _TYPE_WORDS if rx.search(text)), None)
        for cl in _descend(classification, "classificationWrap/classification"):
            self.concept(cl, DC.type)
        for ts in (t for w in oiw for t in _path(w, "titleWrap/titleSet")):
            values = list(_kids(ts, "appellationValue"))
            for text, lang in _values(values):
                prop = DC.title
                if all(_is_alternate(v.get(LIDO_PREF) or "")
                       for v in values):
                    prop = DCTERMS.alternative
                b.add_literal(prop, text, lang)
        for w in oiw:
            for note in _path(w, "objectDescriptionWrap/objectDescriptionSet/descriptiveNoteValue"):
                if text := flat_text(note):
                    b.add_literal(DC.description, text, _lang(note))
            for work_id in _path(w, "repositoryWrap/repositorySet/workID"):
                b.add_literal(DC.identifier, flat_text(work_id))
            for m in _path(w, "objectMeasurementsWrap/objectMeasurementsSet/"
                              "displayObjectMeasurements"):
                b.add_literal(DCTERMS.extent, flat_text(m), _lang(m))
            for m in _path(w, "objectMaterialsTechWrap/objectMaterialsTechSet/"
                              "displayMaterialsTech"):
                b.add_literal(DCTERMS.medium, flat_text(m), _lang(m))
        for event in _descend(events, "eventSet/event"):
            self.event(event)
        for wrap in _descend(relations, "subjectWrap"):
            self.subjects(wrap)
        return guess

    def rights(self, am: list[etree._Element]) -> None:
        """Set edm:rights from rightsResource, else rightsWorkWrap; else Not Evaluated."""
        types = [t for a in am for t in _path(a, "resourceWrap/resourceSet/rightsResource/"
                                                 "rightsType")]
        types += [t for a in am for t in _path(a, "rightsWorkWrap/rightsWorkSet/rightsType")]
        first_text = None
        for rights_type in types:
            labels, uri, ids = _concept(rights_type)
            candidates = [flat_text(c) for c in ids]
            candidates += [uri or ""] + [label for label, _ in labels]
            for text in filter(None, candidates):
                first_text = first_text or text
                if mapped := normalise_rights(text):
                    self.b.set_rights(mapped)
                    return
        set_rights(self.b, [first_text] if first_text else [])

    def resources(self, am: list[etree._Element]) -> int:
        """Add one image per resourceSet, in order; return how many."""
        count = 0
        for rs in (s for a in am for s in _path(a, "resourceWrap/resourceSet")):
            best: tuple[int, str, int | None, int | None, str | None] | None = None
            for rep in _kids(rs, "resourceRepresentation"):
                preview = bool(_PREVIEW.search(rep.get("{http://www.lido-schema.org}type") or ""))
                measurements, links = _grouped(rep, _REPRESENTATION)
                width, height = _pixels(measurements)
                for link in links:
                    url = flat_text(link)
                    if not is_http(url):
                        continue
                    fmt = link.get("{http://www.lido-schema.org}formatResource") or link.get(
                        "formatResource") or ""
                    real_type = _IMAGE_TYPE.fullmatch(fmt) and fmt != "image/iiif"
                    media = fmt if real_type else None
                    score = (0 if preview else 1_000_000) + (width or 0)
                    if best is None or score > best[0]:
                        best = (score, url, width, height, media)
            if best:
                _, url, width, height, media = best
                self.b.add_remote_image(url, iiif_service_of(url), width, height, media)
                count += 1
        return count

    def shown_at(self, am: list[etree._Element]) -> None:
        """Set edm:isShownAt: a record page, else the published object id."""
        links = [(flat_text(link), link.get("{http://www.lido-schema.org}formatResource") or "")
                 for a in am for link in _path(a, "recordWrap/recordInfoSet/recordInfoLink")]
        pages = [u for u, fmt in links if is_http(u) and "xml" not in fmt]
        published = [t for p in _kids(self.lido, "objectPublishedID")
                     if is_http(t := flat_text(p))]
        choice = next(iter(pages + published + [u for u, _ in links if is_http(u)]), None)
        if choice:
            self.b.set_shown_at(choice)

    def data_provider(self, am: list[etree._Element]) -> str | None:
        """The record source (or repository) that provides the record."""
        for a in am:
            names = _values(_path(a, "recordWrap/recordSource/legalBodyName/appellationValue"))
            if names:
                return names[0][0]
        for dm in _kids(self.lido, "descriptiveMetadata"):
            names = _values(_path(dm, "objectIdentificationWrap/repositoryWrap/repositorySet/"
                                      "repositoryName/legalBodyName/appellationValue"))
            if names:
                return names[0][0]
        return None


def _parses(text: str) -> bool:
    return parse_years(text) is not None


def _pixels(measurements: list[etree._Element]) -> tuple[int | None, int | None]:
    """Width and height in pixels from a resourceRepresentation's resourceMeasurementsSets."""
    width = height = None
    for ms in measurements:
        kinds, units, values = _grouped(ms, _MEASUREMENT)
        kind = " ".join(flat_text(t) for t in kinds).lower()
        unit = " ".join(flat_text(t) for t in units).lower()
        value = " ".join(flat_text(t) for t in values)
        if "pixel" not in unit and unit not in ("px", ""):
            continue
        try:
            number = int(float(value))
        except ValueError:
            continue
        if "width" in kind or "breite" in kind:
            width = number
        elif "height" in kind or "höhe" in kind:
            height = number
    return width, height


def local_id_of(lido: etree._Element) -> str | None:
    """The record's local identifier: lido:lidoRecID, else recordWrap/recordID."""
    for el in [*_kids(lido, "lidoRecID"),
               *(r for a in _kids(lido, "administrativeMetadata")
                 for r in _path(a, "recordWrap/recordID"))]:
        if text := flat_text(el):
            return text
    return None


class LidoReader:
    """Reads LIDO XML: one record per lido:lido element."""

    name = "lido"
    version = "1.0"

    def read(self, source: Path, context: ReadContext) -> Iterator[SourceRecord | Rejection]:
        """Yield one source record per lido:lido; an unparseable file is one rejection."""
        yield from file_records(source, tag="lido", is_record=_is_lido, local_id=local_id_of,
                                what="lido:lido element", id_name="lidoRecID",
                                split=context.split)

    def to_rdf(self, record: SourceRecord, context: ReadContext) -> RecordDraft:
        """Map one lido:lido element (record.data, or parsed from record.raw) to EDM."""
        lido = record_element(record, is_record=_is_lido, what="lido:lido element")
        _memo.langs = {}
        try:
            return self._map(lido, record, context)
        finally:
            _memo.langs = None

    def _map(self, lido: etree._Element, record: SourceRecord,
             context: ReadContext) -> RecordDraft:
        local = local_id_of(lido)
        if not local:
            raise RecordRejected("no lidoRecID (and no recordWrap/recordID)")
        rid = make_record_id(context, "lido", local)
        b = RecordBuilder(context.minter, rid)
        b.add_literal(DC.identifier, local)
        m = _LidoMapper(b, lido)
        guess = None
        try:
            for dm in _kids(lido, "descriptiveMetadata"):
                guess = m.descriptive(dm) or guess
            am = list(_kids(lido, "administrativeMetadata"))
            m.resources(am)
            m.rights(am)
            m.shown_at(am)
        except ValueError as exc:
            raise RecordRejected(str(exc)) from None
        # A museum object reaches users through its photographs: IMAGE unless the work type says
        # it is a text, a sound or a film.
        b.set_type(guess or "IMAGE")
        b.set_providers(m.data_provider(am) or context.provider, context.provider)
        return RecordDraft(rid, b.graph, record.raw, record.media_type, [], b.warnings)
