"""IIIF Presentation 2 and 3 manifests (a file, or a URL through a `fetch` option), as EDM."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rdflib import URIRef

from archive.dates import parse_years
from archive.record import RecordBuilder, RecordDraft
from archive.rights import NOT_EVALUATED, normalise_rights
from archive.vocab import DC, DCTERMS
from ingest.dc_reader import make_record_id
from ingest.languages import normalise_language
from ingest.marc_reader import is_http, readable_date
from ingest.reader import ReadContext, RecordRejected, Rejection, SourceRecord

MEDIA_TYPE = "application/ld+json"
MAX_BYTES = 64 * 1024 * 1024
_TAG = re.compile(r"<[^>]+>")
_SUFFIX = re.compile(r"\s*\([^)]*\)\s*$")
Text = tuple[str, str | None]

# Metadata labels (lower case, in the languages met so far) -> where the value goes.
LABEL_WORDS = {
    "title": "title|titel|titre|título|書名|題名",
    "alternative": "other titles|alternative title|other title",
    "date": "date|datum|date of origin|date statement|dates|created|date created|century|年代|"
            "fecha|entstehung|datierung",
    "creator": "creator|author|author(s)|artist|作者|autor|verfasser|auteur|people|maker",
    "contributor": "contributor|contributors",
    "publisher": "publisher|verlag|éditeur|editorial",
    "subject": "subject|subjects|schlagwort|keywords|topic|sujet|materia",
    "type": "type|object type|objektkategorie|document type|classification|category|類別|"
            "genre|book type|版本類型|format",
    "description": "description|summary|anmerkung|note|notes|說明|beschreibung|descripción",
    "language": "language|sprache|語言|text language|langue|idioma",
    "identifier": "identifier|shelfmark|other identifier|object number|doi|call number|"
                  "signatur|cote|identificador",
    "place": "place|location|place of origin|ort|lieu|lugar|standort|位置",
    "extent": "extent|umfang|dimensions|number of pages|volumes|卷數|範疇|physical description",
    "medium": "material|medium|materials",
    "provenance": "provenance|herkunft|procedencia",
    "rights": "rights|license|licence|copyright|rechte|derechos",
}
LABELS = {word: kind for kind, words in LABEL_WORDS.items() for word in words.split("|")}


def _clean(text: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", text)).split())


class _Texts:
    """Reads IIIF language maps (v3) and value objects (v2) as (text, language) pairs."""

    def __init__(self, warnings: list[str]) -> None:
        self.warnings = warnings

    def lang(self, key: Any) -> str | None:
        """A BCP 47 tag for a language-map key, or None (with a note when invalid)."""
        if not isinstance(key, str) or key in ("none", "@none", ""):
            return None
        lang = normalise_language(key)
        if lang is None:
            message = f"language {key!r} is not a language tag; values kept without one"
            if message not in self.warnings:
                self.warnings.append(message)
        return lang

    def __call__(self, value: Any) -> list[Text]:
        out: list[Text] = []
        if isinstance(value, str):
            out.append((_clean(value), None))
        elif isinstance(value, list):
            for item in value:
                out += self(item)
        elif isinstance(value, dict):
            if "@value" in value:
                if isinstance(value["@value"], str):
                    out.append((_clean(value["@value"]), self.lang(value.get("@language"))))
            else:
                for key, items in value.items():
                    lang = self.lang(key)
                    for item in items if isinstance(items, list) else [items]:
                        if isinstance(item, str):
                            out.append((_clean(item), lang))
        return [(t, lang) for t, lang in dict.fromkeys(out) if t]


def _first_id(value: Any) -> str | None:
    """The id of a resource given as a string, an object or a list of them."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return next((i for v in value if (i := _first_id(v))), None)
    if isinstance(value, dict):
        found = value.get("id") or value.get("@id")
        return found if isinstance(found, str) else None
    return None


def _int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _bodies(canvas: dict[str, Any]) -> list[dict[str, Any]]:
    """The painted resources of a canvas (v2 images[].resource, v3 items[].items[].body)."""
    found: list[Any] = []
    for anno in canvas.get("images") or []:
        if isinstance(anno, dict):
            found.append(anno.get("resource"))
    for page in canvas.get("items") or []:
        for anno in (page.get("items") or []) if isinstance(page, dict) else []:
            if isinstance(anno, dict) and anno.get("motivation") in ("painting", "sc:painting",
                                                                      None):
                body = anno.get("body")
                found += body if isinstance(body, list) else [body]
    out = []
    for body in found:
        if isinstance(body, dict) and body.get("type", body.get("@type")) in ("Choice",
                                                                              "oa:Choice"):
            choice = body.get("default") or (body.get("items") or [None])[0]
            body = choice
        if isinstance(body, dict):
            out.append(body)
    return out


def _kind(body: dict[str, Any]) -> str:
    kind = str(body.get("type") or body.get("@type") or "")
    fmt = str(body.get("format") or "")
    if "Image" in kind or fmt.startswith("image/"):
        return "IMAGE"
    if "Video" in kind or fmt.startswith("video/"):
        return "VIDEO"
    if "Sound" in kind or "Audio" in kind or fmt.startswith("audio/"):
        return "SOUND"
    return kind or "unknown"


def _service(body: dict[str, Any]) -> str | None:
    service = _first_id(body.get("service"))
    return service.rstrip("/") if service and is_http(service) else None


class _ManifestMapper:
    """Maps one manifest (a dict) onto a RecordBuilder."""

    def __init__(self, b: RecordBuilder, manifest: dict[str, Any]) -> None:
        self.b = b
        self.m = manifest
        self.texts = _Texts(b.warnings)
        self.rights: list[str] = []
        self.dated = False
        self.other: set[str] = set()

    def literal(self, prop: URIRef, value: Any) -> None:
        """Add every text of a IIIF value as a literal."""
        for text, lang in self.texts(value):
            self.b.add_literal(prop, text, lang)

    def metadata(self) -> None:
        """Map the metadata pairs whose labels are known; note the others."""
        for pair in self.m.get("metadata") or []:
            if not isinstance(pair, dict):
                continue
            labels = self.texts(pair.get("label"))
            kinds = [LABELS.get(_SUFFIX.sub("", t).lower()) or LABELS.get(t.lower())
                     for t, _ in labels]
            kind = next((k for k in kinds if k), None)
            values = self.texts(pair.get("value"))
            if not values:
                continue
            name = labels[0][0] if labels else "(no label)"
            if kind is None:
                self.b.warnings.append(f"metadata {name!r} kept only in the source")
            else:
                self.pair(kind, name, values)

    def pair(self, kind: str, name: str, values: list[Text]) -> None:
        """Place the values of one known metadata pair."""
        b = self.b
        props = {"title": DC.title, "alternative": DCTERMS.alternative,
                 "description": DC.description, "identifier": DC.identifier,
                 "extent": DCTERMS.extent, "medium": DCTERMS.medium,
                 "provenance": DCTERMS.provenance}
        if kind in props:
            for text, lang in values:
                b.add_literal(props[kind], text, lang)
        elif kind == "date":
            text = readable_date(values[0][0])
            b.add_date(text, DCTERMS.created if not self.dated else DC.date)
            # A date that cannot be read leaves room for navDate.
            self.dated = self.dated or parse_years(text) is not None
        elif kind in ("creator", "contributor", "publisher"):
            prop = {"creator": DC.creator, "contributor": DC.contributor,
                    "publisher": DC.publisher}[kind]
            for text, lang in values:
                b.add_agent(prop, text, lang)
        elif kind in ("subject", "type"):
            for text, lang in values:
                b.add_concept(text, lang, prop=DC.subject if kind == "subject" else DC.type)
        elif kind == "place":
            for text, lang in values:
                b.add_place(text, lang=lang)
        elif kind == "language":
            codes = {normalise_language(t) for t, _ in values} - {None}
            for code in sorted(c for c in codes if c):
                b.add_literal(DC.language, code)
            if not codes:
                b.warnings.append(f"metadata {name!r}: language {values[0][0]!r} not known")
        elif kind == "rights":
            self.rights += [t for t, _ in values]

    def canvases(self) -> int:
        """Add each canvas's image in order; note canvases without one."""
        canvases = self.m.get("items")
        if not isinstance(canvases, list):
            sequences = self.m.get("sequences") or [{}]
            canvases = sequences[0].get("canvases") if isinstance(sequences[0], dict) else []
        empty: list[str] = []
        seen: set[str] = set()
        images = 0
        other = self.other
        for n, canvas in enumerate(c for c in canvases or [] if isinstance(c, dict)):
            label = next(iter(self.texts(canvas.get("label"))), (f"#{n + 1}", None))[0]
            bodies = _bodies(canvas)
            body = next((x for x in bodies if _kind(x) == "IMAGE"), None)
            if body is None:
                other.update(_kind(x) for x in bodies)
                empty.append(label)
                continue
            url = _first_id(body)
            if not url or not is_http(url):
                empty.append(label)
                continue
            if url in seen:
                self.b.warnings.append(f"canvas {label!r} repeats image {url}; shown once")
                continue
            seen.add(url)
            width = _int(body.get("width")) or _int(canvas.get("width"))
            height = _int(body.get("height")) or _int(canvas.get("height"))
            fmt = body.get("format") if isinstance(body.get("format"), str) else None
            media = fmt if fmt and re.fullmatch(r"image/[a-z0-9.+-]+", fmt) else None
            self.b.add_remote_image(url, _service(body), width, height, media)
            images += 1
        if empty:
            kinds = f" (they hold: {', '.join(sorted(other))})" if other else ""
            shown = ", ".join(repr(x) for x in empty[:5]) + (" …" if len(empty) > 5 else "")
            self.b.warnings.append(f"{len(empty)} of {len(canvases or [])} canvases have no "
                                   f"image{kinds}: {shown}")
        return images

    def shown_at(self) -> None:
        """Set edm:isShownAt from homepage, related or an HTML rendering."""
        candidates = [self.m.get("homepage"), self.m.get("related")]
        rendering = self.m.get("rendering")
        for r in rendering if isinstance(rendering, list) else [rendering]:
            if isinstance(r, dict) and "html" in str(r.get("format", "")):
                candidates.append(r)
        for candidate in candidates:
            url = _first_id(candidate)
            if url and is_http(url):
                self.b.set_shown_at(url)
                return

    def place(self) -> None:
        """Add navPlace points as places."""
        nav = self.m.get("navPlace")
        features = nav.get("features") if isinstance(nav, dict) else None
        for feature in features if isinstance(features, list) else []:
            geometry = feature.get("geometry") if isinstance(feature, dict) else None
            coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
            if not (isinstance(geometry, dict) and geometry.get("type") == "Point"
                    and isinstance(coords, list) and len(coords) >= 2):
                self.b.warnings.append("navPlace feature that is not a point kept only in the "
                                       "source")
                continue
            names = self.texts((feature.get("properties") or {}).get("label"))
            name, lang = names[0] if names else ("", None)
            try:
                self.b.add_place(name, float(coords[1]), float(coords[0]), lang=lang)
            except (TypeError, ValueError) as exc:
                self.b.warnings.append(f"navPlace {coords!r}: {exc}; not kept")

    def rights_and_provider(self, provider: str) -> str:
        """Set edm:rights; return the data provider from the attribution."""
        candidates = self.rights + [t for t, _ in self.texts(self.m.get("rights"))]
        candidates += [t for t, _ in self.texts(self.m.get("license"))]
        statement = self.m.get("requiredStatement")
        attribution = self.texts(statement.get("value") if isinstance(statement, dict)
                                 else self.m.get("attribution"))
        # Some providers put the licence URL in the attribution.
        candidates += [t.rstrip(".") for t, _ in attribution if is_http(t.rstrip("."))]
        for text in candidates:
            if mapped := normalise_rights(text.rstrip(".")):
                self.b.set_rights(mapped)
                break
        else:
            if candidates:
                self.b.warnings.append(f"rights {candidates[0]!r} is not a known statement; "
                                       "recorded as Copyright Not Evaluated")
            else:
                self.b.warnings.append("no rights statement; recorded as Copyright Not "
                                       "Evaluated")
            self.b.set_rights(NOT_EVALUATED)
        for text, _ in attribution:
            self.b.add_literal(DC.rights, text)
        names = [t for t, _ in attribution if not is_http(t.rstrip("."))]
        en = [t for t, lang in attribution if lang == "en" and not is_http(t)]
        return (en or names or [provider])[0][:500]


def manifest_id(manifest: dict[str, Any]) -> str | None:
    """The manifest's own id (v3 `id`, v2 `@id`)."""
    value = manifest.get("id") or manifest.get("@id")
    return value if isinstance(value, str) and value.strip() else None


def _is_manifest(doc: Any) -> bool:
    return isinstance(doc, dict) and str(doc.get("type") or doc.get("@type")) in (
        "Manifest", "sc:Manifest")


class IiifManifestReader:
    """Reads IIIF Presentation manifests (or a collection of them): one record per manifest."""

    name = "iiif"
    version = "1.0"

    def _load(self, source: Path, context: ReadContext) -> tuple[str, bytes]:
        fetch: Callable[[str], bytes] | None = context.options.get("fetch")
        url = context.options.get("url")
        text = str(source)
        if not url and re.match(r"^https?:/", text):
            url = re.sub(r"^(https?):/+", r"\1://", text)
        if url:
            if fetch is None:
                raise ValueError(f"{url} is a URL; the iiif reader needs a `fetch` option")
            return url, fetch(url)
        if source.stat().st_size > MAX_BYTES:
            raise ValueError(f"{source.stat().st_size:,} bytes is over the limit of "
                             f"{MAX_BYTES:,}")
        return text, source.read_bytes()

    def read(self, source: Path, context: ReadContext) -> Iterator[SourceRecord | Rejection]:
        """Yield one source record per manifest; a file that is not one is one rejection."""
        try:
            where, data = self._load(source, context)
            doc = json.loads(data)
        except (OSError, ValueError) as exc:
            yield Rejection(str(source), "file", f"cannot read a IIIF manifest: {exc}")
            return
        if _is_manifest(doc):
            yield SourceRecord(where, "manifest", manifest_id(doc), data, MEDIA_TYPE, doc)
            return
        kind = str(doc.get("type") or doc.get("@type")) if isinstance(doc, dict) else "not JSON"
        if kind not in ("Collection", "sc:Collection"):
            yield Rejection(where, "file", f"not a IIIF Presentation manifest (type {kind})")
            return
        yield from self._collection(where, doc, context)

    def _collection(self, where: str, doc: dict[str, Any], context: ReadContext
                    ) -> Iterator[SourceRecord | Rejection]:
        members = doc.get("items") or doc.get("manifests") or []
        fetch: Callable[[str], bytes] | None = context.options.get("fetch")
        for n, member in enumerate(members, start=1):
            position = f"collection item {n}"
            if _is_manifest(member) and (member.get("items") or member.get("sequences")):
                data = json.dumps(member, ensure_ascii=False).encode()
                yield SourceRecord(where, position, manifest_id(member), data, MEDIA_TYPE, member)
                continue
            url = _first_id(member)
            if not url or fetch is None:
                yield Rejection(where, position, f"manifest {url!r} is only referenced; "
                                "give a fetch option to read it")
                continue
            try:
                data = fetch(url)
                loaded = json.loads(data)
            except (OSError, ValueError) as exc:
                yield Rejection(where, position, f"cannot read manifest {url}: {exc}")
                continue
            if not _is_manifest(loaded):
                yield Rejection(url, position, "not a IIIF Presentation manifest")
                continue
            yield SourceRecord(url, position, manifest_id(loaded), data, MEDIA_TYPE, loaded)

    def to_rdf(self, record: SourceRecord, context: ReadContext) -> RecordDraft:
        """Map one manifest (record.data, or parsed from record.raw) to EDM."""
        manifest = record.data if isinstance(record.data, dict) else None
        if manifest is None:
            try:
                manifest = json.loads(record.raw)
            except ValueError as exc:
                raise RecordRejected(f"not JSON: {exc}") from None
        if not isinstance(manifest, dict):
            raise RecordRejected("a manifest is a JSON object")
        local = manifest_id(manifest)
        if not local:
            raise RecordRejected("the manifest has no id")
        rid = make_record_id(context, "iiif", local)
        b = RecordBuilder(context.minter, rid)
        m = _ManifestMapper(b, manifest)
        try:
            titles = m.texts(manifest.get("label"))
            for text, lang in titles:
                b.add_literal(DC.title, text, lang)
            m.literal(DC.description, manifest.get("summary") or manifest.get("description"))
            b.add_literal(DC.identifier, local)
            m.metadata()
            if isinstance(manifest.get("navDate"), str) and not m.dated:
                b.add_date(manifest["navDate"])
            m.place()
            images = m.canvases()
            m.shown_at()
            data_provider = m.rights_and_provider(context.provider)
        except ValueError as exc:
            raise RecordRejected(str(exc)) from None
        if not b.objects(DC.title) and not b.objects(DC.description):
            raise RecordRejected("the manifest has no label, title or description")
        b.set_type("IMAGE" if images else next(
            (k for k in ("VIDEO", "SOUND") if k in m.other), "IMAGE"))
        b.set_providers(data_provider, context.provider)
        return RecordDraft(rid, b.graph, record.raw, record.media_type, [], b.warnings)
