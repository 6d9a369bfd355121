"""What every reader yields, and the protocol a reader implements."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from archive.ids import Minter
from archive.record import RecordDraft


@dataclass
class SourceRecord:
    """One record as found in a source, with where it was found and its bytes as received."""

    source: str
    position: str
    local_id: str | None
    raw: bytes
    media_type: str
    data: Any = None


@dataclass
class Rejection:
    """A record (or a whole file) refused, with file, position, record id if known and reason."""

    source: str
    position: str
    reason: str
    record_id: str | None = None


class RecordRejected(Exception):
    """Raised by a reader's to_rdf when a record cannot be mapped; the message is the reason."""


@dataclass
class ReadContext:
    """What a reader needs to map records: the minter, the provider, options from the user."""

    minter: Minter
    provider: str
    options: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # Records of a plain XML file may be cut from it unparsed, to be parsed where they are
    # mapped (ingest/xmlsplit.py): set by the pipeline, which resolves them.
    split: bool = False


class Reader(Protocol):
    """A source format: read() finds records, to_rdf() maps one to the record model."""

    name: str
    version: str

    def read(self, source: Path, context: ReadContext) -> Iterator[SourceRecord | Rejection]:
        """Yield every record in the source, or a rejection where one cannot be read."""
        ...

    def to_rdf(self, record: SourceRecord, context: ReadContext) -> RecordDraft:
        """Map one source record to an EDM record draft; raise RecordRejected if impossible."""
        ...
