"""A progress bar for long ingests on a terminal: records, rate, rejections, share read, ETA."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import click

from archive.record import RecordDraft
from ingest.reader import ReadContext, Reader, RecordRejected, Rejection, SourceRecord

REDRAW_SECONDS = 0.2


class CountingReader:
    """A reader passed through unchanged, counting what it read and what it refused."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.name = reader.name
        self.version = reader.version
        self.read_count = 0
        self.rejected = 0

    def read(self, source: Path, context: ReadContext) -> Iterator[SourceRecord | Rejection]:
        """The wrapped reader's records, counted as they pass."""
        for item in self.reader.read(source, context):
            self.read_count += 1
            self.rejected += isinstance(item, Rejection)
            yield item

    def to_rdf(self, record: SourceRecord, context: ReadContext) -> RecordDraft:
        """The wrapped reader's mapping; a record it refuses is counted."""
        try:
            return self.reader.to_rdf(record, context)
        except (RecordRejected, ValueError):
            self.rejected += 1
            raise

    def __getattr__(self, name: str) -> Any:
        if name == "reader":  # not set yet (while unpickling): no endless lookup
            raise AttributeError(name)
        return getattr(self.reader, name)


def read_position(path: Path) -> int | None:
    """How far this process has read into `path` (Linux /proc), or None if it is not open."""
    target = os.path.realpath(path)
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for fd in fds:
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != target:
                continue
            with open(f"/proc/self/fdinfo/{fd}", encoding="ascii") as info:
                for line in info:
                    if line.startswith("pos:"):
                        return int(line.split()[1])
        except (OSError, ValueError):
            continue
    return None


class IngestProgress:
    """The run_batch progress callback that draws a bar on a terminal stream.

    The share done is the share of the source file read so far, where the file is read as a
    stream (its position is known); otherwise the bar shows records and rate without an ETA.
    """

    def __init__(self, source: Path, reader: CountingReader, stream: TextIO) -> None:
        self.source = source
        self.reader = reader
        self.stream = stream
        self.total = source.stat().st_size if source.is_file() else 0
        self.started = time.monotonic()
        self.last = 0.0
        self.bar: Any = None
        self.rejected = 0  # the batch's rejections so far, set by run_batch before each call

    def info(self) -> str:
        """Records read, their rate and the rejections so far."""
        elapsed = max(time.monotonic() - self.started, 1e-6)
        count = self.reader.read_count
        return (f"{count:,} records  {count / elapsed:,.0f} records/s  "
                f"{max(self.rejected, self.reader.rejected):,} rejected")

    def __call__(self, _processed: int) -> None:
        """Redraw at most every REDRAW_SECONDS."""
        now = time.monotonic()
        if now - self.last < REDRAW_SECONDS:
            return
        self.last = now
        position = read_position(self.source) if self.total else None
        if self.bar is None:
            streamed = position is not None
            self.bar = click.progressbar(
                (None for _ in itertools.count()) if not streamed else None,
                length=self.total if streamed else None, label="ingest", file=self.stream,
                item_show_func=lambda text: text, show_eta=streamed, width=24)
            self.bar.__enter__()
        if self.bar.length is not None:
            step = (position if position is not None else self.bar.pos) - self.bar.pos
        else:
            step = self.reader.read_count - self.bar.pos
        self.bar.update(max(step, 0), self.info())

    def close(self) -> None:
        """Draw the final state and end the bar's line."""
        if self.bar is None:
            return
        if self.bar.length is not None:
            self.bar.update(max(self.bar.length - self.bar.pos, 0), self.info())
        else:
            self.bar.finished = True
            self.bar.update(0, self.info())
        # update() draws nothing when no step is left (a reader that reads ahead in blocks
        # is at the end of the file before its last records are counted): draw it here.
        self.bar.current_item = self.info()
        self.bar.render_progress()
        self.bar.__exit__(None, None, None)
