"""Undo an ingest batch: withdraw what it created, restore what it updated."""

from __future__ import annotations

from dataclasses import dataclass, field

from archive.service import Archive


class UndoError(ValueError):
    """A batch that cannot be undone (unknown, a dry run, or undone already)."""


@dataclass
class UndoReport:
    """What undoing a batch did, record by record."""

    batch_id: str
    withdrawn: list[str] = field(default_factory=list)
    restored: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        """A readable summary for the terminal."""
        lines = [f"undo batch {self.batch_id}: {len(self.withdrawn)} withdrawn, "
                 f"{len(self.restored)} restored, {len(self.skipped)} left as they are"]
        lines += [f"  restored {rid} to {version}" for rid, version in self.restored]
        lines += [f"  left {rid}: {why}" for rid, why in self.skipped]
        return "\n".join(lines)


def _previous(version: str) -> str:
    return f"v{int(version[1:]) - 1}"


def undo_batch(archive: Archive, batch_id: str) -> UndoReport:
    """Withdraw a batch completely: created records are withdrawn, updated ones restored."""
    batch = archive.state.batch(batch_id)
    if batch is None:
        raise UndoError(f"no batch {batch_id}; `memoria batches` lists them")
    if batch.dry_run:
        raise UndoError(f"batch {batch_id} was a dry run; it stored nothing")
    if batch.status == "undone":
        raise UndoError(f"batch {batch_id} has been undone already")
    report = UndoReport(batch_id)
    # Pyramids go after the loop: deleting between the storage writes would slow each write.
    with archive.removing_later():
        for rid, version, action in archive.state.batch_records(batch_id):
            if action == "unchanged":
                continue
            head = archive.storage.head(rid)
            if head != version:
                # A later batch or an archivist changed the record since; their work wins.
                report.skipped.append((rid, f"changed since this batch ({version} -> {head})"))
                continue
            if action == "created":
                archive.withdraw(rid, f"undo of batch {batch_id}", batch_id)
                report.withdrawn.append(rid)
            else:  # withdrawn or updated: the version before this batch's comes back
                restored_from = _previous(version)
                archive.restore(rid, restored_from, f"undo of batch {batch_id}")
                report.restored.append((rid, restored_from))
    archive.state.set_batch_status(batch_id, "undone")
    return report
