"""Citations: plain text, BibTeX (parsed by bibtexparser) and CSL-JSON (schema + citeproc-py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import bibtexparser
import citeproc
import jsonschema
import pytest
from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle
from citeproc import formatter as csl_formatter
from citeproc.source.json import CiteProcJSON
from flask import Flask

from archive.site.citation import Citable, bibtex, bibtex_escape, csl_json, plain_text
from tests.conftest import BASE_URL
from tests.site.item_fixtures import HOSTILE_TITLE, make_loaded_app

ACCESSED = date(2026, 11, 21)
HARVARD = Path(citeproc.__file__).parent / "data" / "styles" / "harvard-cite-them-right.csl"

# The part of the CSL-JSON schema (citation-style-language/schema, csl-data.json 1.0.2) that
# covers what Memoria writes: item types, name and date variables, and no unknown variables.
_NAME = {"type": "object", "additionalProperties": False, "properties": {
    k: {"type": "string"} for k in ("family", "given", "dropping-particle",
                                    "non-dropping-particle", "suffix", "literal")}}
_DATE = {"type": "object", "additionalProperties": False, "properties": {
    "date-parts": {"type": "array", "minItems": 1, "maxItems": 2, "items": {
        "type": "array", "minItems": 1, "maxItems": 3,
        "items": {"type": ["string", "number"]}}},
    "season": {"type": ["string", "number"]}, "circa": {"type": ["string", "number", "boolean"]},
    "literal": {"type": "string"}, "raw": {"type": "string"}}}
CSL_TYPES = ["article", "article-journal", "article-magazine", "article-newspaper", "bill",
             "book", "broadcast", "chapter", "classic", "collection", "dataset", "document",
             "entry", "entry-dictionary", "entry-encyclopedia", "event", "figure", "graphic",
             "hearing", "interview", "legal_case", "legislation", "manuscript", "map",
             "motion_picture", "musical_score", "pamphlet", "paper-conference", "patent",
             "performance", "periodical", "personal_communication", "post", "post-weblog",
             "regulation", "report", "review", "review-book", "software", "song", "speech",
             "standard", "thesis", "treaty", "webpage"]
CSL_DATA_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "array",
    "items": {
        "type": "object",
        "required": ["type", "id"],
        "additionalProperties": False,
        "properties": {
            "type": {"type": "string", "enum": CSL_TYPES},
            "id": {"type": ["string", "number"]},
            **{k: {"type": "array", "items": _NAME} for k in ("author", "editor", "recipient")},
            **{k: _DATE for k in ("issued", "accessed", "original-date")},
            **{k: {"type": "string"} for k in (
                "title", "URL", "publisher", "publisher-place", "archive", "archive_location",
                "archive-place", "medium", "genre", "language", "note", "source", "abstract")},
        },
    },
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    app = make_loaded_app(tmp_path_factory.mktemp("citation"), images=False)
    yield app
    app.extensions["memoria"].close()


HOSTILE = Citable(id="museo-I3", uri=f"{BASE_URL}/item/museo-I3", title=HOSTILE_TITLE,
                  creators=["Orden de Predicadores", "Pérez, Juana", "A} and {B"],
                  date="1700", year_from=1700, year_to=1700, provider="Museo & Co. 50%",
                  path=["Oaxaca fonds", "Temples_series"], identifier="I3#", kind="TEXT")


def _unescape(value: str) -> str:
    out = value.replace(r"\textbackslash{}", "\\").replace(r"\^{}", "^").replace(r"\~{}", "~")
    return re.sub(r"\\([{}&%$#_])", r"\1", out)


def _balanced(text: str) -> bool:
    depth = 0
    for m in re.finditer(r"\\.|[{}]", text):
        if m.group() == "{":
            depth += 1
        elif m.group() == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def test_bibtex_entry_parses_with_every_special_character_escaped() -> None:
    entry_text = bibtex(HOSTILE, ACCESSED)
    assert _balanced(entry_text)
    library = bibtexparser.parse_string(entry_text)
    assert library.failed_blocks == []
    entry, = library.entries
    assert entry.entry_type == "misc" and entry.key == "memoria:museo-I3"
    fields = entry.fields_dict
    title = fields["title"].value
    assert title.startswith("{") and title.endswith("}")  # capitals kept as written
    assert _unescape(title[1:-1]) == " ".join(HOSTILE_TITLE.split())
    assert "</script>" in title  # harmless in BibTeX; escaping is for TeX specials
    assert fields["year"].value == "1700"
    assert fields["url"].value == f"{BASE_URL}/item/museo-I3"
    assert fields["urldate"].value == "2026-11-21"
    assert _unescape(fields["publisher"].value) == "Museo & Co. 50%"
    # A person splits into family and given; anything else is one braced literal name.
    assert fields["author"].value == r"{Orden de Predicadores} and Pérez, Juana and {A\} and \{B}"
    for raw in ("&", "%", "$", "#", "_"):
        assert re.search(r"(?<!\\)" + re.escape(raw), title) is None, raw


def test_bibtex_key_is_stable_and_uses_the_key_alphabet() -> None:
    odd = Citable(id="museo-I 3{x}", uri="u", title="t")
    assert bibtex(odd, ACCESSED).startswith("@misc{memoria:museo-I_3_x_,")
    assert bibtex(HOSTILE, ACCESSED).splitlines()[0] == \
        bibtex(HOSTILE, date(2030, 1, 1)).splitlines()[0]
    assert bibtex_escape("a\\b") == r"a\textbackslash{}b"


def test_csl_json_is_valid_and_a_citation_processor_reads_it() -> None:
    items = csl_json(HOSTILE, ACCESSED)
    jsonschema.validate(items, CSL_DATA_SCHEMA)
    item = items[0]
    assert item["type"] == "manuscript"
    assert item["author"] == [{"literal": "Orden de Predicadores"},
                              {"family": "Pérez", "given": "Juana"},
                              {"literal": "A} and {B"}]
    assert item["issued"] == {"date-parts": [[1700]]}
    assert item["accessed"] == {"date-parts": [[2026, 11, 21]]}
    assert item["publisher"] == item["archive"] == "Museo & Co. 50%"
    assert item["archive_location"] == "Oaxaca fonds > Temples_series > I3#"
    bib = CitationStylesBibliography(CitationStylesStyle(str(HARVARD), validate=False),
                                     CiteProcJSON(items), csl_formatter.plain)
    bib.register(Citation([CitationItem("museo-I3")]))
    rendered = str(bib.bibliography()[0])
    assert "Pérez, J." in rendered and "(1700)" in rendered
    assert f"{BASE_URL}/item/museo-I3" in rendered


def test_year_spans_become_two_date_parts_and_literal_dates_stay_literal() -> None:
    span = Citable(id="a", uri="u", title="t", year_from=1570, year_to=1608, kind="IMAGE")
    item = csl_json(span, ACCESSED)[0]
    assert item["issued"] == {"date-parts": [[1570], [1608]]} and item["type"] == "graphic"
    assert "year = {1570--1608}" in bibtex(span, ACCESSED)
    vague = csl_json(Citable(id="b", uri="u", title="t", date="siglo XIX"), ACCESSED)[0]
    assert vague["issued"] == {"literal": "siglo XIX"}
    jsonschema.validate([item, vague], CSL_DATA_SCHEMA)


def test_plain_text_reads_like_a_chicago_note() -> None:
    text = plain_text(Citable(
        id="museo-I1", uri=f"{BASE_URL}/item/museo-I1", title="Church of Santo Domingo",
        creators=["Orden de Predicadores"], date="ca. 1575", year_from=1575,
        provider="Museo de prueba", path=["Oaxaca fonds", "Temples series"], identifier="I1",
    ), ACCESSED)
    assert text == ("Orden de Predicadores. “Church of Santo Domingo.” ca. 1575. "
                    "I1, Temples series, Oaxaca fonds, Museo de prueba. "
                    f"{BASE_URL}/item/museo-I1 (accessed 2026-11-21).")


def test_citation_endpoints_serve_the_three_formats(app: Flask) -> None:
    client = app.test_client()
    txt = client.get("/item/museo-I2/cite.txt")
    assert txt.status_code == 200 and txt.content_type == "text/plain; charset=utf-8"
    body = txt.get_data(as_text=True)
    assert "Pérez, Juana." in body and "“Basilica of La Soledad.”" in body
    assert "1682-1690" in body and f"{BASE_URL}/item/museo-I2" in body
    bib = client.get("/item/museo-I2/cite.bib")
    assert bib.content_type == "application/x-bibtex; charset=utf-8"
    entry, = bibtexparser.parse_string(bib.get_data(as_text=True)).entries
    assert entry.key == "memoria:museo-I2" and entry.fields_dict["year"].value == "1682--1690"
    assert entry.fields_dict["series"].value == "Oaxaca fonds > Temples series"
    csl = client.get("/item/museo-I2/cite.json")
    assert csl.content_type == "application/vnd.citationstyles.csl+json; charset=utf-8"
    items = json.loads(csl.get_data(as_text=True))
    jsonschema.validate(items, CSL_DATA_SCHEMA)
    assert items[0]["issued"] == {"date-parts": [[1682], [1690]]}
    assert items[0]["title"] == "Basilica of La Soledad"
    assert items[0]["archive_location"] == "Oaxaca fonds > Temples series > I2"


def test_citations_follow_the_reader_language(app: Flask) -> None:
    es = app.test_client().get("/item/museo-I1/cite.json?lang=es").get_json(force=True)
    assert es[0]["title"] == "Templo de Santo Domingo"
    zh = app.test_client().get("/item/museo-I1/cite.txt", headers={"Accept-Language": "zh-CN"})
    assert "圣多明各教堂" in zh.get_data(as_text=True)


def test_the_page_shows_the_same_citations(app: Flask) -> None:
    data = app.test_client().get("/item/museo-I3.json").get_json()
    served = app.test_client().get("/item/museo-I3/cite.bib").get_data(as_text=True)
    assert data["citation"]["bibtex"] == served
    assert bibtexparser.parse_string(served).failed_blocks == []
    html = app.test_client().get("/item/museo-I3").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html


def test_withdrawn_items_are_gone_from_citations_and_qr(app: Flask) -> None:
    archive = app.extensions["memoria"]
    archive.withdraw("museo-I4", "test")
    for path in ("/item/museo-I4/cite.txt", "/item/museo-I4/qr.png"):
        assert app.test_client().get(path).status_code == 410
    assert app.test_client().get("/item/museo-nope/cite.bib").status_code == 404
