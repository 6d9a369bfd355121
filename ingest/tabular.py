"""Apply a mapping file to one flat record (a CSV row, a JSON object flattened by paths)."""

from __future__ import annotations

from collections.abc import Mapping as MappingType
from functools import lru_cache
from pathlib import Path

from rdflib import URIRef

from archive.ids import IdentifierError, Minter, is_image_id, record_id
from archive.images import ImageRejected, probe_image
from archive.record import ImageFile, RecordBuilder, RecordDraft
from archive.rights import NOT_EVALUATED, normalise_rights
from archive.vocab import ARCHIVAL_LEVELS, EDM_TYPES, expand_curie
from ingest.mapping import ColumnMap, Mapping
from ingest.reader import RecordRejected


@lru_cache(maxsize=1024)
def _property(curie: str) -> URIRef:
    # Asked once per column per row: made once.
    return URIRef(expand_curie(curie))


def _float(value: str | None, what: str) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        return float(value.replace(",", ".").strip())
    except ValueError:
        raise RecordRejected(f"{what} {value!r} is not a number") from None


def _place(b: RecordBuilder, col: ColumnMap, row: MappingType[str, str], prop: URIRef) -> None:
    lat = _float(row.get(col.lat), col.lat or "latitude") if col.lat else None
    long = _float(row.get(col.long), col.long or "longitude") if col.long else None
    names = col.values(row.get(col.name, "")) or ([""] if lat is not None else [])
    for i, name in enumerate(names):
        # Coordinates belong to the first place named in the cell.
        has_coords = i == 0 and lat is not None and long is not None
        try:
            b.add_place(name, lat if has_coords else None, long if has_coords else None,
                        col.lang, prop=prop)
        except ValueError as exc:
            raise RecordRejected(str(exc)) from None


def _images(b: RecordBuilder, values: list[str], images_dir: Path | None,
            max_pixels: int) -> list[ImageFile]:
    if images_dir is None:
        raise RecordRejected("the record names images but no images folder was given")
    found = []
    for name in values:
        candidate = Path(name)
        if candidate.is_absolute() or ".." in candidate.parts or len(candidate.parts) != 1:
            raise RecordRejected(f"image {name!r} must be a plain file name in the images folder")
        path = images_dir / name
        try:
            probe = probe_image(path, max_pixels)
        except ImageRejected as exc:
            raise RecordRejected(str(exc)) from None
        image_id = candidate.stem
        if not is_image_id(image_id):
            raise RecordRejected(f"image file name {name!r} does not make a usable image id")
        image = ImageFile(image_id, path, name, probe.media_type, probe.width, probe.height)
        b.add_image(image)
        found.append(image)
    return found


def apply_mapping(minter: Minter, mapping: Mapping, row: MappingType[str, str], *,
                  provider: str, images_dir: Path | None, max_pixels: int,
                  raw: bytes, media_type: str) -> RecordDraft:
    """Map one flat record to a draft; raise RecordRejected with the reason when it cannot."""
    local = (row.get(mapping.id_column) or "").strip()
    if not local:
        raise RecordRejected(f"empty identifier in column {mapping.id_column!r}")
    try:
        rid = record_id(mapping.namespace, local)
    except IdentifierError as exc:
        raise RecordRejected(str(exc)) from None
    b = RecordBuilder(minter, rid)
    images: list[ImageFile] = []
    rights_set = type_set = has_remote = False
    for col in mapping.columns:
        cell = row.get(col.name, "") or ""
        values = col.values(cell)
        if not values and col.kind != "place":
            continue
        prop = _property(col.to)
        try:
            if col.kind == "literal":
                for v in values:
                    b.add_literal(prop, v, col.lang)
            elif col.kind == "identifier":
                for v in values:
                    b.add_literal(prop, v)
            elif col.kind == "date":
                for v in values:
                    b.add_date(v, prop)
            elif col.kind == "place":
                _place(b, col, row, prop)
            elif col.kind == "agent":
                for v in values:
                    b.add_agent(prop, v, col.lang)
            elif col.kind == "concept":
                for v in values:
                    b.add_concept(v, col.lang, prop=prop)
            elif col.kind == "rights":
                uri = normalise_rights(values[0])
                if uri is None:
                    b.warnings.append(f"rights {values[0]!r} is not a known statement; "
                                      "recorded as Copyright Not Evaluated")
                    uri = NOT_EVALUATED
                b.set_rights(uri)
                rights_set = True
            elif col.kind == "type":
                if values[0].upper() in EDM_TYPES:
                    b.set_type(values[0])
                    type_set = True
                else:
                    b.warnings.append(f"type {values[0]!r} is not an edm:type; kept as dc:type")
                    b.add_literal(URIRef(expand_curie("dc:type")), values[0], col.lang)
            elif col.kind == "image":
                remote = [v for v in values if v.startswith(("http://", "https://"))]
                for url in remote:
                    b.add_remote_image(url)
                has_remote = has_remote or bool(remote)
                on_disk = [v for v in values if v not in remote]
                if on_disk:
                    images += _images(b, on_disk, images_dir, max_pixels)
            elif col.kind == "parent":
                b.set_parent(record_id(mapping.namespace, values[0]))
            elif col.kind == "order":
                try:
                    b.set_order(int(values[0]))
                except ValueError:
                    raise RecordRejected(f"order {values[0]!r} is not a whole number") from None
            elif col.kind == "level":
                if values[0].lower() not in ARCHIVAL_LEVELS:
                    raise RecordRejected(f"level {values[0]!r} is not one of {ARCHIVAL_LEVELS}")
                b.set_level(values[0])
        except ValueError as exc:
            raise RecordRejected(f"column {col.name!r}: {exc}") from None
    if not type_set:
        b.set_type("IMAGE" if images or has_remote else "TEXT")
    if not rights_set:
        b.warnings.append("no rights statement; recorded as Copyright Not Evaluated")
        b.set_rights(NOT_EVALUATED)
    b.set_providers(mapping.provider or provider, provider)
    return RecordDraft(rid, b.graph, raw, media_type, images, b.warnings)
