"""JSON and JSON Lines exports, placed in the record model by a mapping file (as CSV is).

The mapping's [source] table may say where the records are: `records = "data"` (a dotted path
to an array), `records = "*"` (an object keyed by id; the key is the field `@key`), or
`records = "data.*"`. A [[column]] `name` is a path into each record: `place.lat`,
`contributors[0].name`, `titles[*]` (every item); a key step over an array takes that key from
every item. `{time_from}-{time_to}` joins several paths (when one is missing, only the first
present value is kept), and a name starting with `=` is a constant (`=CC BY-SA 3.0`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from archive.record import RecordDraft
from ingest.mapping import ColumnMap, Mapping, mapping_option
from ingest.reader import ReadContext, Rejection, SourceRecord
from ingest.tabular import apply_mapping

MEDIA_TYPE = "application/json"
MAX_BYTES = 512 * 1024 * 1024
KEY_FIELD = "@key"
_STEP = re.compile(r"([^.\[\]]+)|\[(\*|-?\d+)\]")
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_TEXT_KEYS = ("content", "@value", "value", "#text", "$")


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for m in _STEP.finditer(path):
        if m.group(1) is not None:
            steps.append(m.group(1))
        else:
            steps.append("*" if m.group(2) == "*" else int(m.group(2)))
    return steps


def select(data: Any, path: str) -> list[Any]:
    """Every value a path reaches in a JSON value (missing parts give nothing)."""
    current: list[Any] = [data]
    for step in _steps(path):
        following: list[Any] = []
        for value in current:
            if step == "*":
                following += value if isinstance(value, list) else [value]
            elif isinstance(step, int):
                if isinstance(value, list) and -len(value) <= step < len(value):
                    following.append(value[step])
            elif isinstance(value, dict):
                if step in value:
                    following.append(value[step])
            elif isinstance(value, list):
                following += [v[step] for v in value if isinstance(v, dict) and step in v]
        current = following
    out: list[Any] = []
    for value in current:
        out += value if isinstance(value, list) else [value]
    return out


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        text = str(value).strip()
        return text or None
    if isinstance(value, dict):
        # A value object such as {"content": "...", "xmlns_dc": ...} from converted XML.
        for key in _TEXT_KEYS:
            if key in value:
                return _text(value[key])
    return None


def cell(record: Any, name: str, separator: str | None) -> str:
    """The flat value of one column: a path, a template of paths, or a constant."""
    if name.startswith("="):
        return name[1:]
    if _PLACEHOLDER.search(name):
        parts = [(m, [t for v in select(record, m.group(1)) if (t := _text(v))])
                 for m in _PLACEHOLDER.finditer(name)]
        if all(values for _, values in parts):
            return _PLACEHOLDER.sub(lambda m: next(v for p, v in parts if p.group(0) ==
                                                   m.group(0))[0], name)
        return next((values[0] for _, values in parts if values), "")
    values = [t for v in select(record, name) if (t := _text(v))]
    return (separator or "; ").join(values)


def flatten(record: Any, mapping: Mapping) -> dict[str, str]:
    """The record as {column name: value string}, for ingest.tabular.apply_mapping."""
    columns: list[ColumnMap | str] = [mapping.id_column, *mapping.columns]
    row: dict[str, str] = {}
    for col in columns:
        if isinstance(col, str):
            row[col] = cell(record, col, None)
            continue
        row[col.name] = cell(record, col.name, col.separator)
        for extra in (col.lat, col.long):
            if extra:
                row[extra] = cell(record, extra, None)
    return row


def _records(doc: Any, where: str | None) -> list[tuple[str, Any]] | str:
    """(position, record) pairs at the mapping's `records` path, or the reason there are none."""
    if not where:
        if isinstance(doc, list):
            return [(f"record {i}", r) for i, r in enumerate(doc, start=1)]
        return "the file is not a JSON array; set `records` in the mapping's [source] table"
    keyed = where == "*" or where.endswith(".*")
    base = where[:-2] if where.endswith(".*") else ("" if where == "*" else where)
    found = select(doc, base) if base else [doc]
    if keyed:
        if len(found) != 1 or not isinstance(found[0], dict):
            return f"`records = {where!r}` does not lead to an object keyed by id"
        out = []
        for key, value in found[0].items():
            if isinstance(value, dict):
                value = {KEY_FIELD: key, **value}
            out.append((f"key {key}", value))
        return out
    if not found:
        return f"`records = {where!r}` leads nowhere in the file"
    return [(f"{base}[{i}]", r) for i, r in enumerate(found)]


class JsonReader:
    """Reads a JSON document or JSON Lines file with a mapping file."""

    name = "json"
    version = "1.0"

    def _mapping(self, context: ReadContext) -> Mapping:
        return mapping_option(context.options, self.name)

    def read(self, source: Path, context: ReadContext) -> Iterator[SourceRecord | Rejection]:
        """Yield one source record per JSON record; a file that cannot be read is one rejection."""
        mapping = self._mapping(context)
        try:
            if source.stat().st_size > MAX_BYTES:
                raise OSError(f"{source.stat().st_size:,} bytes is over the limit")
            text = source.read_bytes().decode(str(context.options.get("encoding")
                                                  or mapping.encoding))
        except (OSError, UnicodeDecodeError, LookupError) as exc:
            yield Rejection(str(source), "file", f"cannot read: {exc}")
            return
        lines = str(mapping.extra.get("format", "")).lower() in ("jsonl", "ndjson") or \
            source.suffix.lower() in (".jsonl", ".ndjson")
        items = self._lines(source, text) if lines else self._document(source, text, mapping)
        seen: dict[str, str] = {}
        keys: set[str] = set()
        for item in items:
            if isinstance(item, Rejection):
                yield item
                continue
            position, record, raw = item
            if not isinstance(record, dict):
                yield Rejection(str(source), position, "a record is a JSON object")
                continue
            if len(keys) < 1000:
                keys.update(record)
            row = flatten(record, mapping)
            local = row.get(mapping.id_column, "").strip()
            if local and local in seen:
                yield Rejection(str(source), position,
                                f"duplicate identifier {local!r}, first at {seen[local]}")
                continue
            if local:
                seen[local] = position
            yield SourceRecord(str(source), position, local or None, raw, MEDIA_TYPE, row)
        self._warn_fields(keys, mapping, context)

    @staticmethod
    def _lines(source: Path, text: str) -> Iterator[tuple[str, Any, bytes] | Rejection]:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                yield f"line {number}", json.loads(line), line.encode("utf-8")
            except ValueError as exc:
                yield Rejection(str(source), f"line {number}", f"not valid JSON: {exc}")

    @staticmethod
    def _document(source: Path, text: str, mapping: Mapping
                  ) -> Iterator[tuple[str, Any, bytes] | Rejection]:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Rejection(str(source), f"line {exc.lineno}, column {exc.colno}",
                            f"not valid JSON: {exc.msg}")
            return
        found = _records(doc, mapping.extra.get("records"))
        if isinstance(found, str):
            yield Rejection(str(source), "file", found)
            return
        for position, record in found:
            raw = json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8")
            yield position, record, raw

    @staticmethod
    def _warn_fields(keys: set[str], mapping: Mapping, context: ReadContext) -> None:
        used = {_steps(p)[0] for name in mapping.used_columns()
                for p in ([m.group(1) for m in _PLACEHOLDER.finditer(name)] or [name])
                if not p.startswith("=") and _steps(p)}
        unmapped = sorted(k for k in keys - used if k != KEY_FIELD)
        if unmapped:
            context.warnings.append("fields not in the mapping (kept in the stored source, not "
                                    "in the record): " + ", ".join(unmapped))

    def to_rdf(self, record: SourceRecord, context: ReadContext) -> RecordDraft:
        """Map one flattened record with the mapping file (the CSV semantics)."""
        mapping = self._mapping(context)
        row = record.data if isinstance(record.data, dict) else flatten(
            json.loads(record.raw), mapping)
        images_dir = context.options.get("images_dir")
        if images_dir is None and mapping.images_dir:
            images_dir = Path(record.source).parent / mapping.images_dir
        return apply_mapping(
            context.minter, mapping, row, provider=context.provider,
            images_dir=Path(images_dir) if images_dir else None,
            max_pixels=int(context.options.get("max_pixels", 500_000_000)),
            raw=record.raw, media_type=record.media_type,
        )
