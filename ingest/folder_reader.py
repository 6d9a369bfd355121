"""A folder of images with a sidecar CSV: one record per row, and one per image no row names."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from archive.record import RecordDraft
from ingest.csv_reader import CsvReader
from ingest.mapping import Mapping, load_mapping
from ingest.reader import ReadContext, Rejection, SourceRecord

SIDECAR_MAPPING = Path(__file__).resolve().parent.parent / "schemas" / "mappings" / "sidecar.toml"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".jp2", ".gif", ".webp"}
BARE_MEDIA_TYPE = "application/json"


class FolderReader:
    """Reads a folder: its sidecar CSV through a mapping, its images as the records' files."""

    name = "folder"
    version = "1.0"

    def __init__(self) -> None:
        self._csv = CsvReader()

    def _mapping(self, context: ReadContext) -> Mapping:
        mapping = context.options.get("mapping") or SIDECAR_MAPPING
        if isinstance(mapping, Path):
            mapping = load_mapping(mapping)
        if context.options.get("namespace"):
            mapping = replace(mapping, namespace=str(context.options["namespace"]))
        context.options["mapping"] = mapping
        return mapping

    @staticmethod
    def _sidecar(folder: Path, context: ReadContext) -> Path | None:
        if context.options.get("sidecar"):
            return Path(context.options["sidecar"])
        csvs = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".csv", ".tsv"})
        return csvs[0] if len(csvs) == 1 else None

    def read(self, source: Path, context: ReadContext) -> Iterator[SourceRecord | Rejection]:
        """Yield the sidecar's rows, then a bare record for every image no row names."""
        if not source.is_dir():
            yield Rejection(str(source), "folder", "not a folder")
            return
        mapping = self._mapping(context)
        context.options["images_dir"] = source
        image_columns = [c.name for c in mapping.columns if c.kind == "image"]
        named: set[str] = set()
        sidecar = self._sidecar(source, context)
        if sidecar is None and any(p.suffix.lower() in {".csv", ".tsv"} for p in source.iterdir()):
            context.warnings.append("several CSV files in the folder; name the sidecar with "
                                    "--sidecar; images were taken without metadata")
        if sidecar is not None:
            for item in self._csv.read(sidecar, context):
                if isinstance(item, SourceRecord):
                    for col in image_columns:
                        cell = item.data.get(col, "")
                        named.update(v.strip() for v in cell.split("|") if v.strip())
                yield item
        for path in sorted(source.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES or path.name in named:
                continue
            if not path.is_file() or path.is_symlink():
                yield Rejection(str(path), "file", "not a regular file (symlinks are not followed)")
                continue
            raw = json.dumps({"file": path.name}, ensure_ascii=False).encode()
            row = {mapping.id_column: path.stem, "title": path.stem, "file": path.name}
            yield SourceRecord(str(path), f"file {path.name}", path.stem, raw, BARE_MEDIA_TYPE, row)

    def to_rdf(self, record: SourceRecord, context: ReadContext) -> RecordDraft:
        """Map a sidecar row, or a bare image with its file name as title."""
        if record.media_type == BARE_MEDIA_TYPE:
            mapping = self._mapping(context)
            bare = replace(mapping, columns=tuple(
                c for c in load_mapping(SIDECAR_MAPPING).columns if c.name in {"file", "title"}
            ))
            context.options["mapping"] = bare
            try:
                draft = self._csv.to_rdf(record, context)
            finally:
                context.options["mapping"] = mapping
            draft.warnings.append(f"image {Path(record.source).name} has no metadata row")
            return draft
        return self._csv.to_rdf(record, context)
