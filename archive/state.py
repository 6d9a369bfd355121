"""Operational state in SQLite: ingest batches and the queue of records whose derived copies lag.

Nothing here is the truth: batch membership is also written into each record's provenance in
storage, and the pending queue only says what to re-derive early; `memoria rebuild` needs neither.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    started TEXT NOT NULL,
    finished TEXT,
    source TEXT NOT NULL,
    reader TEXT NOT NULL,
    status TEXT NOT NULL,
    dry_run INTEGER NOT NULL DEFAULT 0,
    input INTEGER NOT NULL DEFAULT 0,
    accepted INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS batch_records (
    batch_id TEXT NOT NULL REFERENCES batches(id),
    record_id TEXT NOT NULL,
    version TEXT NOT NULL,
    action TEXT NOT NULL,
    PRIMARY KEY (batch_id, record_id)
);
CREATE TABLE IF NOT EXISTS pending (
    record_id TEXT PRIMARY KEY,
    since TEXT NOT NULL
);
"""


def utc_now() -> str:
    """The current UTC time as ISO 8601 with seconds (the text made once a second)."""
    # Ingest stamps every record's version and provenance with it: thousands a second.
    second = int(time.time())
    cached = _NOW[0]
    if cached[0] != second:
        # As datetime.now(UTC) to the second: the same clock, truncated.
        text = datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds")
        cached = (second, text.replace("+00:00", "Z"))
        _NOW[0] = cached
    return cached[1]


_NOW: list[tuple[int, str]] = [(-1, "")]  # the last second's text (one tuple: atomic)


@dataclass(frozen=True)
class BatchRow:
    """One ingest batch as recorded."""

    id: str
    started: str
    finished: str | None
    source: str
    reader: str
    status: str
    dry_run: bool
    input: int
    accepted: int
    rejected: int


def _batch_row(row: tuple[Any, ...]) -> BatchRow:
    return BatchRow(id=row[0], started=row[1], finished=row[2], source=row[3], reader=row[4],
                    status=row[5], dry_run=bool(row[6]), input=row[7], accepted=row[8],
                    rejected=row[9])


class StateDb:
    """A small SQLite database shared safely by the server and CLI processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        # One connection, used by an ingest's main thread and its deriving thread: a
        # transaction and any single statement run one at a time, never inside another's.
        self._lock = threading.RLock()

    def open(self) -> None:
        """Open the database (WAL mode, so a server and an ingest can share it)."""
        if self._conn is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False,
                               isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(SCHEMA)
        self._conn = conn

    def close(self) -> None:
        """Close the database."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def conn(self) -> sqlite3.Connection:
        """The open connection."""
        if self._conn is None:
            raise RuntimeError("state database is not open")
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run statements in one immediate transaction (other threads wait for its end)."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self.conn.execute(sql, params)

    def start_batch(self, batch_id: str, source: str, reader: str, dry_run: bool) -> None:
        """Record that a batch has started."""
        self._run(
            "INSERT INTO batches (id, started, source, reader, status, dry_run) "
            "VALUES (?, ?, ?, ?, 'running', ?)",
            (batch_id, utc_now(), source, reader, int(dry_run)),
        )

    def finish_batch(self, batch_id: str, status: str, counts: tuple[int, int, int]) -> None:
        """Record a batch's end and its counts (input, accepted, rejected)."""
        self._run(
            "UPDATE batches SET finished = ?, status = ?, input = ?, accepted = ?, rejected = ? "
            "WHERE id = ?",
            (utc_now(), status, *counts, batch_id),
        )

    def add_batch_record(self, batch_id: str, record_id: str, version: str, action: str) -> None:
        """Remember that a batch wrote (or confirmed) a version of a record."""
        self._run(
            "INSERT OR REPLACE INTO batch_records VALUES (?, ?, ?, ?)",
            (batch_id, record_id, version, action),
        )

    def batch(self, batch_id: str) -> BatchRow | None:
        """One batch by id."""
        row = self._run("SELECT * FROM batches WHERE id = ?", (batch_id,)).fetchone()
        return None if row is None else _batch_row(row)

    def batches(self) -> list[BatchRow]:
        """Every batch, newest first."""
        rows = self._run("SELECT * FROM batches ORDER BY started DESC, id DESC")
        return [_batch_row(r) for r in rows]

    def batch_records(self, batch_id: str) -> list[tuple[str, str, str]]:
        """(record id, version, action) of every record a batch touched."""
        rows = self._run(
            "SELECT record_id, version, action FROM batch_records WHERE batch_id = ? "
            "ORDER BY record_id", (batch_id,),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def set_batch_status(self, batch_id: str, status: str) -> None:
        """Change a batch's status (for example to undone)."""
        self._run("UPDATE batches SET status = ? WHERE id = ?", (status, batch_id))

    def mark_pending(self, record_id: str) -> None:
        """Queue a record whose RDF store / index copy must be (re)derived."""
        self._run(
            "INSERT OR IGNORE INTO pending VALUES (?, ?)", (record_id, utc_now())
        )

    def clear_pending(self, record_id: str) -> None:
        """Take a record off the pending queue."""
        self._run("DELETE FROM pending WHERE record_id = ?", (record_id,))

    def pending(self, limit: int = 1000) -> list[str]:
        """Record ids waiting to be derived, oldest first."""
        rows = self._run(
            "SELECT record_id FROM pending ORDER BY since, record_id LIMIT ?", (limit,)
        )
        return [r[0] for r in rows]

    def pending_count(self) -> int:
        """How many records wait to be derived."""
        return int(self._run("SELECT count(*) FROM pending").fetchone()[0])
