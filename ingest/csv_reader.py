"""CSV and TSV exports, placed in the record model by a mapping file."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from archive.record import RecordDraft
from ingest.mapping import Mapping, mapping_option
from ingest.reader import ReadContext, Rejection, SourceRecord
from ingest.tabular import apply_mapping

MAX_FIELD = 1_000_000
_BAD_BYTES = re.compile("[\udc80-\udcff]")


def _bad_byte(raw: str) -> str:
    match = _BAD_BYTES.search(raw)
    return f"0x{ord(match.group()) - 0xDC00:02x}" if match else "?"


class _LineTap:
    """Feeds lines to the csv module and keeps them, so each record's raw text is known."""

    def __init__(self, text: str) -> None:
        self._lines = iter(io.StringIO(text, newline=""))
        self.taken: list[str] = []
        self.line = 0

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.line += 1
        self.taken.append(line)
        return line


def read_rows(path: Path, mapping: Mapping, encoding: str | None = None
              ) -> Iterator[tuple[int, list[str], str] | Rejection]:
    """Yield (first line number, header, raw text) per row, or rejections; header first."""
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield Rejection(source, "file", f"cannot read: {exc.strerror or exc}")
        return
    enc = encoding or mapping.encoding
    try:
        # Undecodable bytes become lone surrogates, so one bad byte costs its own row only.
        text = data.decode(enc, errors="surrogateescape")
    except LookupError:
        yield Rejection(source, "file", f"unknown encoding {enc!r}")
        return
    tap = _LineTap(text)
    csv.field_size_limit(MAX_FIELD)
    reader = csv.reader(tap, delimiter=mapping.delimiter)
    while True:
        start = tap.line + 1
        tap.taken.clear()
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Rejection(source, f"line {start}", f"malformed CSV: {exc}")
            continue
        raw = "".join(tap.taken)
        if _BAD_BYTES.search(raw):
            yield Rejection(source, f"line {start}",
                            f"not valid {enc} (byte {_bad_byte(raw)}); name the encoding "
                            "with --encoding")
            continue
        yield (start, row, raw)


class CsvReader:
    """Reads a CSV (or TSV) file with a mapping file."""

    name = "csv"
    version = "1.0"

    def _mapping(self, context: ReadContext) -> Mapping:
        return mapping_option(context.options, self.name)

    def read(self, source: Path, context: ReadContext) -> Iterator[SourceRecord | Rejection]:
        """Yield one source record per data row; header problems reject the file."""
        mapping = self._mapping(context)
        header: list[str] | None = None
        header_raw = ""
        seen: dict[str, int] = {}
        for item in read_rows(source, mapping, context.options.get("encoding")):
            if isinstance(item, Rejection):
                yield item
                continue
            line, row, raw = item
            if header is None:
                header, header_raw = [h.strip() for h in row], raw
                if mapping.id_column not in header:
                    yield Rejection(str(source), "line 1",
                                    f"identifier column {mapping.id_column!r} is not in the header")
                    return
                self._warn_columns(header, mapping, context)
                continue
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                yield Rejection(str(source), f"line {line}",
                                f"row has {len(row)} fields, the header has {len(header)}")
                continue
            values = dict(zip(header, row, strict=True))
            local = values[mapping.id_column].strip()
            if local in seen:
                yield Rejection(str(source), f"line {line}",
                                f"duplicate identifier {local!r}, first at line {seen[local]}",)
                continue
            if local:
                seen[local] = line
            yield SourceRecord(str(source), f"line {line}", local or None,
                               (header_raw + raw).encode("utf-8"), "text/csv", values)

    @staticmethod
    def _warn_columns(header: list[str], mapping: Mapping, context: ReadContext) -> None:
        missing = sorted(mapping.used_columns() - set(header))
        if missing:
            context.warnings.append(f"mapped columns not in the file: {', '.join(missing)}")
        unmapped = [h for h in header if h not in mapping.used_columns()]
        if unmapped:
            context.warnings.append(
                "columns not in the mapping (kept in the stored source, not in the record): "
                + ", ".join(unmapped)
            )

    def to_rdf(self, record: SourceRecord, context: ReadContext) -> RecordDraft:
        """Map one row with the mapping file."""
        mapping = self._mapping(context)
        images_dir = context.options.get("images_dir")
        if images_dir is None:
            # Archivists keep scans beside the spreadsheet unless the mapping says otherwise.
            images_dir = _beside(record.source, mapping.images_dir or ".")
        elif images_dir and not isinstance(images_dir, Path):
            images_dir = Path(images_dir)
        return apply_mapping(
            context.minter, mapping, record.data, provider=context.provider,
            images_dir=images_dir or None,
            max_pixels=int(context.options.get("max_pixels", 500_000_000)),
            raw=record.raw, media_type=record.media_type,
        )


@lru_cache(maxsize=64)
def _beside(source: str, folder: str) -> Path:
    """The folder named relative to the source file's (every row of a file asks: made once)."""
    return Path(source).parent / folder
