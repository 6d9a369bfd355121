"""Validation of Presentation 3.0 documents against the official JSON Schema (shared/iiif)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match


def schema_path() -> Path:
    """The official Presentation 3.0 schema, kept outside the repository in shared/iiif."""
    return Path(__file__).resolve().parents[2] / "shared" / "iiif" / "presentation" / \
        "iiif_3_0.json"


@functools.cache
def _validator() -> Draft7Validator:
    path = schema_path()
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FileNotFoundError(f"the IIIF Presentation 3 schema is missing: {path}") from exc
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


def _describe(error: ValidationError) -> str:
    # The schema's root is a oneOf over the document classes: report the deepest cause.
    deepest = best_match(error.context) if error.context else error
    while deepest.context:
        deepest = best_match(deepest.context)
    where = "/".join(str(p) for p in deepest.absolute_path) or "(root)"
    return f"{where}: {deepest.message[:300]}"


def validate_presentation(doc: Any) -> list[str]:
    """Errors of a manifest or collection against the official schema; empty when valid."""
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.path)))
    return [_describe(e) for e in errors]
