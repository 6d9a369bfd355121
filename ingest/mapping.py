"""Mapping files: which column (or JSON path) goes to which property of the record model."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archive.ids import IdentifierError, check_namespace
from archive.vocab import expand_curie

KINDS = frozenset({
    "literal", "date", "place", "agent", "concept", "rights", "type", "image", "parent",
    "order", "level", "identifier",
})
# The property a kind goes to when the mapping does not say.
DEFAULT_PROPERTY = {
    "date": "dcterms:created", "place": "dcterms:spatial", "agent": "dc:creator",
    "concept": "dc:subject", "rights": "edm:rights", "type": "edm:type", "image": "edm:isShownBy",
    "parent": "dcterms:isPartOf", "order": "mem:order", "level": "mem:level",
    "identifier": "dc:identifier",
}


class MappingError(ValueError):
    """A mapping file that cannot be used, with the file and the reason."""


@dataclass(frozen=True)
class ColumnMap:
    """How one column is placed in the record."""

    name: str
    to: str
    kind: str = "literal"
    lang: str | None = None
    separator: str | None = None
    lat: str | None = None
    long: str | None = None

    def values(self, cell: str) -> list[str]:
        """The cell's values: split on the separator, stripped, empties dropped."""
        if not self.separator:
            value = cell.strip()
            return [value] if value else []
        return [value for part in cell.split(self.separator) if (value := part.strip())]


@dataclass(frozen=True)
class Mapping:
    """A whole mapping file."""

    path: Path | None
    namespace: str
    id_column: str
    columns: tuple[ColumnMap, ...]
    delimiter: str = ","
    encoding: str = "utf-8-sig"
    provider: str | None = None
    images_dir: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def used_columns(self) -> set[str]:
        """Every source column the mapping reads."""
        used = {self.id_column}
        for c in self.columns:
            used.add(c.name)
            used.update(x for x in (c.lat, c.long) if x)
        return used


def _column(entry: dict[str, Any], where: str) -> ColumnMap:
    if not isinstance(entry, dict) or "name" not in entry:
        raise MappingError(f"{where}: every [[column]] needs a name")
    kind = entry.get("kind", "literal")
    if kind not in KINDS:
        raise MappingError(f"{where}: column {entry['name']!r} has unknown kind {kind!r}; "
                           f"use one of {sorted(KINDS)}")
    to = entry.get("to") or DEFAULT_PROPERTY.get(kind)
    if not to:
        raise MappingError(
            f"{where}: column {entry['name']!r} needs `to` (a property like dc:title)"
        )
    try:
        expand_curie(to)
    except ValueError as exc:
        raise MappingError(f"{where}: column {entry['name']!r}: {exc}") from None
    known = {"name", "to", "kind", "lang", "separator", "lat", "long"}
    if unknown := set(entry) - known:
        raise MappingError(f"{where}: column {entry['name']!r} has unknown keys {sorted(unknown)}")
    return ColumnMap(name=str(entry["name"]), to=to, kind=kind, lang=entry.get("lang"),
                     separator=entry.get("separator"), lat=entry.get("lat"),
                     long=entry.get("long"))


def parse_mapping(data: dict[str, Any], where: str = "mapping",
                  path: Path | None = None) -> Mapping:
    """Build a Mapping from parsed TOML, checking every entry."""
    source = data.get("source")
    if not isinstance(source, dict):
        raise MappingError(f"{where}: missing [source] table")
    try:
        namespace = check_namespace(str(source.get("namespace", "")))
    except IdentifierError as exc:
        raise MappingError(f"{where}: {exc}") from None
    if "id" not in source:
        raise MappingError(f"{where}: [source] needs `id`, the column of the local identifier")
    columns = tuple(_column(c, where) for c in data.get("column", []))
    return Mapping(
        path=path, namespace=namespace, id_column=str(source["id"]), columns=columns,
        delimiter=str(source.get("delimiter", ",")),
        encoding=str(source.get("encoding", "utf-8-sig")),
        provider=source.get("provider"), images_dir=source.get("images_dir"),
        extra={k: v for k, v in source.items()
               if k not in {"namespace", "id", "delimiter", "encoding", "provider", "images_dir"}},
    )


def mapping_option(options: dict[str, Any], reader: str) -> Mapping:
    """The mapping a reader was given (a Mapping, or a path loaded once and kept)."""
    mapping = options.get("mapping")
    if isinstance(mapping, Path):
        mapping = load_mapping(mapping)
        options["mapping"] = mapping
    if not isinstance(mapping, Mapping):
        raise ValueError(f"the {reader} reader needs a mapping file (--mapping FILE.toml)")
    return mapping


def load_mapping(path: Path) -> Mapping:
    """Read and check a TOML mapping file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(f"{path}: {exc}") from None
    return parse_mapping(data, where=str(path), path=path)
