"""Search documents built, through RecordBuilder, from the shared corpus at test time."""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from archive.ids import Minter, record_id
from archive.record import ImageFile, RecordBuilder
from archive.vocab import DC, DCTERMS
from search.document import record_document

CORPUS = Path(os.environ.get("MEMORIA_CORPUS", "/work/shared/corpus"))
PALACE_CSV = CORPUS / "csv" / "palace-museum-beijing_embroidery_zh.csv"
BENSON_CSV = CORPUS / "csv" / "ut-benson_relaciones-geograficas_es-en.csv"
MINTER = Minter("https://memoria.example.org")
PD = "http://creativecommons.org/publicdomain/mark/1.0/"
INC = "http://rightsstatements.org/vocab/InC/1.0/"
# Qing reign periods, so the Palace Museum rows get years (archive.dates reads no dynasties).
REIGNS = {"清康熙": "1662-1722", "清雍正": "1723-1735", "清乾隆": "1736-1795",
          "清嘉庆": "1796-1820", "清道光": "1821-1850", "清同治": "1862-1874",
          "清光绪": "1875-1908", "清宣统": "1909-1911", "明": "1368-1644"}
_LANG_VALUE = re.compile(r"^(.*?)@([a-z]{2})$")


def _image(n: int) -> ImageFile:
    return ImageFile(image_id=f"img-{n}", source=Path(f"img-{n}.jpg"), name=f"img-{n}.jpg",
                     media_type="image/jpeg", width=800, height=600)


def _collection(rid: str, title: str, lang: str, provider: str) -> dict[str, Any]:
    b = RecordBuilder(MINTER, rid)
    b.add_literal(DC.title, title, lang)
    b.set_type("TEXT")
    b.set_level("collection")
    b.set_rights(PD)
    b.set_providers(provider)
    return record_document(b.graph, rid, MINTER)


def palace_documents(limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Chinese embroidery records of the Palace Museum, each with its real title and text."""
    root = "dpm-embroidery"
    yield _collection(root, "故宫博物院织绣", "zh", "故宫博物院")
    with PALACE_CSV.open(encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if limit is not None and i >= limit:
                break
            rid = f"dpm-e{i:04d}"
            b = RecordBuilder(MINTER, rid)
            b.add_literal(DC.title, row["文物名称"], "zh")
            b.add_literal(DC.description, row["文物简介"], "zh")
            if row["时代"].strip():
                b.add_date(REIGNS.get(row["时代"].strip(), row["时代"]))
            for label in (row["分类"], row["种类"]):
                if label.strip() and label.strip() != "未知":
                    b.add_concept(label, "zh")
            b.add_place("北京", 39.916, 116.397, "zh")
            b.add_literal(DC.language, "zh")
            b.set_type("IMAGE")
            b.set_level("item")
            b.set_rights(PD if i % 3 else INC)
            b.set_providers("故宫博物院")
            b.set_parent(root, i + 1)
            if i % 2 == 0:
                b.add_image(_image(i))
            yield record_document(b.graph, rid, MINTER, collection=root)


def _split(value: str) -> list[tuple[str, str | None]]:
    """`a| b@en|c@es|` -> [(a, en), (b, en), (c, es)]."""
    out: list[tuple[str, str | None]] = []
    for chunk in filter(None, (c.strip() for c in value.split("|"))):
        m = _LANG_VALUE.match(chunk)
        out.append((m.group(1), m.group(2)) if m else (chunk, None))
    # A language tag at the end of a run applies to the values before it.
    tagged: list[tuple[str, str | None]] = []
    pending: list[str] = []
    for text, lang in out:
        pending.append(text)
        if lang:
            tagged += [(t, lang) for t in pending]
            pending = []
    tagged += [(t, None) for t in pending]
    return [(t.strip(), lang) for t, lang in tagged if t.strip()]


def benson_documents() -> Iterator[dict[str, Any]]:
    """Relaciones Geográficas maps (Spanish and English) of the Benson collection."""
    root = "benson-relaciones"
    yield _collection(root, "Relaciones Geográficas de México y Guatemala", "es",
                      "Benson Latin American Collection")
    with BENSON_CSV.open(encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            rid = record_id("benson", row["identifierLocal"].split("@")[0] or str(i))
            b = RecordBuilder(MINTER, rid)
            for text, lang in _split(row["primaryTitle"]):
                b.add_literal(DC.title, text, lang)
            for text, lang in _split(row["alternativeTitle"]):
                b.add_literal(DCTERMS.alternative, text, lang)
            b.add_literal(DC.description, row["description"].rsplit("@", 1)[0], "en")
            for text, _lang in _split(row["creatorContributor"]):
                name = re.sub(r"\s*\([^)]*\)$", "", text).strip(" ,\u200e\u200f")
                if name and name != "unknown":
                    b.add_agent(DC.creator, name)
            coords = row["cartographicInformation"].split("@")[0].split("|")[0]
            lat = lon = None
            m = re.fullmatch(r"\s*(-?[\d.]+),\s*(-?[\d.]+)\s*", coords)
            if m:
                lat, lon = float(m.group(1)), float(m.group(2))
            places = [t for t, _ in _split(row["placeName"])]
            located = next((t for t in places if "," in t), None)
            for text in places:
                if text == located:
                    b.add_place(text, lat, lon)
                else:
                    b.add_place(text)
            for text, lang in _split(row["topic"])[:6]:
                b.add_concept(text, lang)
            b.add_date(row["dateCreatedDateIssued"].split("@")[0])
            b.add_literal(DC.language, "spa")
            b.set_type("IMAGE")
            b.set_level("item")
            b.set_rights(row["license"].split("@")[0].replace("https://", "http://") or PD)
            b.set_providers("Benson Latin American Collection")
            b.set_parent(root, i + 1)
            b.add_image(_image(10_000 + i))
            yield record_document(b.graph, rid, MINTER, collection=root)


def authored_documents() -> Iterator[dict[str, Any]]:
    """A few records written for the tests, for words the corpus lacks (oaxaqueño...)."""
    rows = [
        ("memo-oax1", "Textiles oaxaqueños del siglo XVIII", "es", "1750", (17.06, -96.72)),
        ("memo-oax2", "Cerámica oaxaqueña de Atzompa", "es", "1910", (17.1, -96.79)),
        ("memo-oax3", "Mapa de Oaxaca", "es", "1580", (17.06, -96.72)),
        ("memo-en1", "Embroidered dragon robes, an exhibition catalogue", "en", "1985", None),
        ("memo-en2", "Maps of the running rivers", "en", "", None),
    ]
    for rid, title, lang, date, point in rows:
        b = RecordBuilder(MINTER, rid)
        b.add_literal(DC.title, title, lang)
        if date:
            b.add_date(date)
        if point:
            b.add_place("Oaxaca", point[0], point[1], "es")
        b.set_type("TEXT")
        b.set_level("item")
        b.set_rights(PD)
        b.set_providers("Memoria")
        yield record_document(b.graph, rid, MINTER)


def all_documents() -> list[dict[str, Any]]:
    """Every test document: corpus Chinese, corpus Spanish/English, and authored ones."""
    return [*palace_documents(), *benson_documents(), *authored_documents()]
