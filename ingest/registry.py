"""The registry of readers by name, imported on first use (the rdflib plugin idea)."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from ingest.reader import Reader

# name -> "module:Class"; third parties add readers through the `memoria.readers` entry point.
BUILTIN_READERS: dict[str, str] = {
    "csv": "ingest.csv_reader:CsvReader",
    "folder": "ingest.folder_reader:FolderReader",
    "json": "ingest.json_reader:JsonReader",
    "rdf": "ingest.rdf_reader:RdfReader",
    "dc": "ingest.dc_reader:DcReader",
    "ead": "ingest.ead_reader:EadReader",
    "lido": "ingest.lido_reader:LidoReader",
    "marcxml": "ingest.marc_reader:MarcXmlReader",
    "mets": "ingest.mets_reader:MetsReader",
    "iiif": "ingest.iiif_reader:IiifManifestReader",
}


class UnknownReaderError(LookupError):
    """No reader is registered under a name."""


def reader_names() -> list[str]:
    """Every reader name: built in and from entry points."""
    names = set(BUILTIN_READERS)
    names.update(ep.name for ep in entry_points(group="memoria.readers"))
    return sorted(names)


def get_reader(name: str) -> Reader:
    """A new reader instance for a registered name."""
    target = BUILTIN_READERS.get(name)
    if target is None:
        matches = [ep for ep in entry_points(group="memoria.readers") if ep.name == name]
        if not matches:
            raise UnknownReaderError(f"no reader {name!r}; known: {', '.join(reader_names())}")
        target = matches[0].value
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    reader: Reader = cls()
    return reader
