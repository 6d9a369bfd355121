"""How to cite an item: plain text (Chicago-like), BibTeX and CSL-JSON, at /item/<id>/cite.*."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from flask import Flask, Response, abort

from archive.service import Archive, Record
from archive.site.i18n import preferred_languages
from archive.site.pages import get_archive, published_record
from archive.views import record_view, search_document
from archive.vocab import DC, DCTERMS, EDM

# Citation formats by URL extension: (media type, builder name).
MEDIA_TYPES = {
    "txt": "text/plain",
    "bib": "application/x-bibtex",
    "json": "application/vnd.citationstyles.csl+json",
}
# EDM type -> CSL item type; archival material that is not an image is a manuscript.
CSL_TYPES = {"IMAGE": "graphic", "VIDEO": "motion_picture", "SOUND": "song"}
_DATE_FIELDS = (str(DCTERMS.created), str(DC.date), str(DCTERMS.temporal))
_BIBTEX_SPECIAL = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%", "$": r"\$",
    "#": r"\#", "_": r"\_", "^": r"\^{}", "~": r"\~{}",
}


@dataclass(frozen=True)
class Citable:
    """What a citation says about an item, in the reader's language."""

    id: str
    uri: str
    title: str
    creators: list[str] = field(default_factory=list)
    date: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    provider: str = ""
    path: list[str] = field(default_factory=list)
    identifier: str | None = None
    kind: str = ""


def _field_texts(view: dict[str, Any], prop: str) -> list[str]:
    return [v["text"] for f in view["fields"] if f["property"] == prop for v in f["values"]]


def citable(view: dict[str, Any], year_from: int | None, year_to: int | None) -> Citable:
    """The citation data of an item page's view (see archive/views.record_view)."""
    dates = [t for prop in _DATE_FIELDS for t in _field_texts(view, prop)]
    identifiers = _field_texts(view, str(DC.identifier))
    kinds = _field_texts(view, str(EDM.type))
    return Citable(
        id=view["id"], uri=view["uri"], title=view["title"],
        creators=_field_texts(view, str(DC.creator)),
        date=dates[0] if dates else None, year_from=year_from, year_to=year_to,
        provider=view.get("data_provider") or "",
        path=[b["title"] for b in view.get("breadcrumb", [])],
        identifier=identifiers[0] if identifiers else None,
        kind=kinds[0] if kinds else "",
    )


def item_citable(archive: Archive, record: Record, preferred: list[str],
                 view: dict[str, Any] | None = None) -> Citable:
    """The citation data of a stored record (its view is built unless given)."""
    view = view if view is not None else record_view(archive, record, preferred)
    try:
        doc = search_document(archive, record)
    except ValueError:  # a graph without its ProvidedCHO: cite without years
        doc = {}
    return citable(view, doc.get("year_begin"), doc.get("year_end"))


def _years(c: Citable) -> str | None:
    if c.year_from is None:
        return None
    if c.year_to is None or c.year_to == c.year_from:
        return str(c.year_from)
    return f"{c.year_from}–{c.year_to}"


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "?", "!", "。")) else text + "."


def plain_text(c: Citable, accessed: date) -> str:
    """A Chicago-style note for an archival item: creator, "title", date, where it is, URL."""
    parts = []
    if c.creators:
        parts.append(_sentence("; ".join(c.creators)))
    title = " ".join(c.title.split())
    parts.append(f"“{title}.”" if not title.endswith((".", "?", "!")) else f"“{title}”")
    if when := (c.date or _years(c)):
        parts.append(_sentence(when))
    where = [*reversed(c.path), c.provider] if c.path else [c.provider]
    if c.identifier:
        where.insert(0, c.identifier)
    if where := [w for w in where if w]:
        parts.append(_sentence(", ".join(where)))
    parts.append(f"{c.uri} (accessed {accessed.isoformat()}).")
    return " ".join(parts)


def bibtex_escape(text: str) -> str:
    """Text made safe inside a braced BibTeX field: specials escaped, spaces folded."""
    return "".join(_BIBTEX_SPECIAL.get(ch, ch) for ch in " ".join(text.split()))


def bibtex_key(c: Citable) -> str:
    """A stable key: the record id, which never changes, in BibTeX's key alphabet."""
    return "memoria:" + re.sub(r"[^A-Za-z0-9_.:-]", "_", c.id)


def _bibtex_name(name: str) -> str:
    # "Family, Given" is a person BibTeX can split; anything else is one literal name.
    if re.fullmatch(r"[^,{}]+, [^,{}]+", name.strip()):
        return bibtex_escape(name)
    return "{" + bibtex_escape(name) + "}"


def bibtex(c: Citable, accessed: date) -> str:
    """A @misc entry: author, title, year, the archive and place in it, url and urldate."""
    fields: list[tuple[str, str]] = []
    if c.creators:
        fields.append(("author", " and ".join(_bibtex_name(n) for n in c.creators)))
    fields.append(("title", "{" + bibtex_escape(c.title) + "}"))
    if c.year_from is not None:
        years = str(c.year_from) if c.year_to in (None, c.year_from) else \
            f"{c.year_from}--{c.year_to}"
        fields.append(("year", years))
    if c.date:
        fields.append(("note", bibtex_escape(c.date)))
    if c.provider:
        fields.append(("publisher", bibtex_escape(c.provider)))
        fields.append(("organization", bibtex_escape(c.provider)))
    if c.path:
        fields.append(("series", bibtex_escape(" > ".join(c.path))))
    if c.identifier:
        fields.append(("number", bibtex_escape(c.identifier)))
    fields.append(("howpublished", r"\url{" + _url_safe(c.uri) + "}"))
    fields.append(("url", _url_safe(c.uri)))
    fields.append(("urldate", accessed.isoformat()))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@misc{{{bibtex_key(c)},\n{body}\n}}\n"


def _url_safe(uri: str) -> str:
    # Minted URIs never hold these, but a misconfigured base URL must not break the entry.
    return re.sub(r"[{}\\\s]", lambda m: f"%{ord(m.group()):02X}", uri)


def _csl_name(name: str) -> dict[str, str]:
    if m := re.fullmatch(r"\s*([^,]+),\s*([^,]+?)\s*", name):
        return {"family": m.group(1).strip(), "given": m.group(2)}
    return {"literal": " ".join(name.split())}


def csl_json(c: Citable, accessed: date) -> list[dict[str, Any]]:
    """The item as CSL-JSON (an array of one item, as citation processors read it)."""
    item: dict[str, Any] = {
        "id": c.id,
        "type": CSL_TYPES.get(c.kind, "manuscript"),
        "title": " ".join(c.title.split()),
        "URL": c.uri,
        "accessed": {"date-parts": [[accessed.year, accessed.month, accessed.day]]},
    }
    if c.creators:
        item["author"] = [_csl_name(n) for n in c.creators]
    if c.year_from is not None:
        parts = [[c.year_from]]
        if c.year_to is not None and c.year_to != c.year_from:
            parts.append([c.year_to])
        item["issued"] = {"date-parts": parts}
    elif c.date:
        item["issued"] = {"literal": c.date}
    if c.provider:
        item["publisher"] = c.provider
        item["archive"] = c.provider
    location = [*c.path, *([c.identifier] if c.identifier else [])]
    if location:
        item["archive_location"] = " > ".join(location)
    return [item]


def citations(c: Citable, accessed: date | None = None) -> dict[str, Any]:
    """All three formats of one item, for the page and its JSON twin."""
    day = accessed or datetime.now(UTC).date()
    return {"text": plain_text(c, day), "bibtex": bibtex(c, day), "csl": csl_json(c, day)}


def register(app: Flask) -> None:
    """Attach /item/<id>/cite.txt, cite.bib and cite.json."""

    @app.get("/item/<name>/cite.<fmt>", endpoint="item_citation")
    def item_citation(name: str, fmt: str) -> Response:
        if fmt not in MEDIA_TYPES:
            abort(404)
        archive = get_archive()
        record = published_record(archive, name)
        cited = citations(item_citable(archive, record, preferred_languages()))
        if fmt == "json":
            body = json.dumps(cited["csl"], ensure_ascii=False, indent=2)
        else:
            body = cited["text"] + "\n" if fmt == "txt" else cited["bibtex"]
        resp = Response(body, content_type=f"{MEDIA_TYPES[fmt]}; charset=utf-8")
        resp.headers["Content-Disposition"] = f'inline; filename="{name}.{fmt}"'
        return resp
