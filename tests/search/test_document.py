"""record_document: the record graph -> search document mapping, and the schema files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from archive.ids import Minter
from archive.record import ImageFile, RecordBuilder
from archive.vocab import DC, DCTERMS
from search.backend import facet_defs
from search.document import geo_cell, lang_bucket, load_schema, record_document

MINTER = Minter("https://memoria.example.org")


def _validator() -> jsonschema.protocols.Validator:
    schema = load_schema("document.schema.json")
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_every_corpus_document_is_valid(documents: list[dict[str, Any]]) -> None:
    validator = _validator()
    for doc in documents:
        errors = sorted(validator.iter_errors(doc), key=str)
        assert not errors, (doc["id"], [e.message for e in errors[:3]])
    assert len({d["id"] for d in documents}) == len(documents)


def _record() -> RecordBuilder:
    b = RecordBuilder(MINTER, "city-ms.12")
    b.add_literal(DC.title, "Plano de la ciudad", "es")
    b.add_literal(DC.title, "Map of the city", "en")
    b.add_literal(DC.title, "城市地图", None)
    b.add_literal(DC.title, "Stadtplan", "de")
    b.add_literal(DC.description, "Dibujo a tinta", "es")
    b.add_agent(DC.creator, "Cartógrafo anónimo", "es")
    b.add_concept("Cartografía", "es")
    for n in range(1, 12):
        b.add_place(f"Barrio {n}", 19.0 + n / 100 if n == 2 else None,
                    -99.1 if n == 2 else None)
    b.add_date("1750-1760")
    b.add_literal(DC.language, "SPA")
    b.set_type("image")
    b.set_level("Item")
    b.set_rights("http://rightsstatements.org/vocab/NoC-US/1.0/")
    b.set_providers("Archivo Histórico", "Memoria")
    b.set_parent("city-fonds", 3)
    for i in (1, 2):
        b.add_image(ImageFile(f"ms12-{i}", Path("x.jpg"), f"{i}.jpg", "image/jpeg", 10, 20))
    return b


def test_record_document_fields() -> None:
    doc = record_document(_record().graph, "city-ms.12", MINTER)
    assert doc["title"] == {"en": ["Map of the city"], "es": ["Plano de la ciudad"],
                            "zh": ["城市地图"], "other": ["Stadtplan"]}
    assert doc["title_display"] == "Map of the city"
    assert doc["title_sort"] == "map of the city"
    assert doc["description"] == {"es": ["Dibujo a tinta"]}
    assert doc["creator"] == ["Cartógrafo anónimo"]
    assert doc["subject"] == ["Cartografía"]
    assert doc["place"][:3] == ["Barrio 1", "Barrio 2", "Barrio 3"]
    assert doc["place"][-1] == "Barrio 11"
    assert doc["location"] == {"lat": 19.02, "lon": -99.1}
    assert doc["geo_cell"] == "10,-100"
    assert (doc["year_begin"], doc["year_end"], doc["date_label"]) == (1750, 1760, "1750-1760")
    assert (doc["type"], doc["level"], doc["order"]) == ("IMAGE", "item", 3)
    assert (doc["parent_id"], doc["collection"]) == ("city-fonds", None)
    assert doc["language"] == ["spa"]
    assert doc["rights"] == "http://rightsstatements.org/vocab/NoC-US/1.0/"
    assert (doc["data_provider"], doc["provider"]) == ("Archivo Histórico", "Memoria")
    assert (doc["thumbnail"], doc["image_count"], doc["has_image"]) == ("ms12-1", 2, True)
    assert "plano" in doc["suggest"] and "城市地图" in doc["suggest"]
    # Titles and descriptions, in any language or none, are matched in their own fields only.
    for text in ("Cartografía", "Barrio 7", "1750-1760"):
        assert text in doc["other_text"]
    for text in ("Stadtplan", "Plano de la ciudad", "Dibujo a tinta"):
        assert text not in doc["other_text"]
    assert not list(_validator().iter_errors(doc))


def test_collection_passed_in_or_self_for_roots() -> None:
    doc = record_document(_record().graph, "city-ms.12", MINTER, collection="city-fonds")
    assert doc["collection"] == "city-fonds"
    root = RecordBuilder(MINTER, "city-fonds")
    root.add_literal(DCTERMS.alternative, "Fondo", "es")
    doc = record_document(root.graph, "city-fonds", MINTER)
    assert doc["collection"] == "city-fonds" and doc["parent_id"] is None
    assert doc["title"] == {"es": ["Fondo"]}
    assert doc["location"] is None and doc["year_begin"] is None
    assert not list(_validator().iter_errors(doc))


def test_a_graph_without_the_record_is_refused() -> None:
    with pytest.raises(ValueError, match="no edm:ProvidedCHO"):
        record_document(_record().graph, "city-other", MINTER)


def test_helpers() -> None:
    assert lang_bucket("zh-Hant", "x") == "zh"
    assert lang_bucket("es-MX", "x") == "es"
    assert lang_bucket(None, "乾隆") == "zh"
    assert lang_bucket(None, "Ameca") == "other"
    assert geo_cell(90.0, 180.0) == "80,170"
    assert geo_cell(-90.0, -180.0) == "-90,-180"
    assert geo_cell(-0.5, -0.5) == "-10,-10"


def test_facets_point_at_indexed_fields() -> None:
    doc_props = load_schema("document.schema.json")["properties"]
    es_props = load_schema("es-index.json")["mappings"]["properties"]
    kinds = {"terms", "year_histogram", "range", "geo"}
    for facet in facet_defs():
        assert facet.kind in kinds
        assert facet.field in doc_props and facet.field in es_props, facet.name
        assert set(facet.label) == {"en", "zh", "es"}
    es_only = set(es_props) - set(doc_props)
    assert not es_only
    assert set(doc_props) - set(es_props) == set()
