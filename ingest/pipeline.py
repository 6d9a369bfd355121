"""The shared ingest pipeline: read -> map to RDF -> validate -> save -> report, as one batch."""

from __future__ import annotations

import json
import secrets
from collections import deque
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Future
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archive.record import ImageFile, RecordDraft
from archive.service import Archive, Provenance, StagedRecord
from archive.state import utc_now
from ingest.gcpause import full_collections_held
from ingest.parallel import Mapped, RecordMapper, Staging
from ingest.reader import ReadContext, Reader, Rejection, SourceRecord


@dataclass
class Accepted:
    """A record that went in, with what saving it did."""

    record_id: str
    position: str
    action: str
    version: str | None
    warnings: list[str] = field(default_factory=list)


@dataclass
class BatchReport:
    """What one ingest did: accepted + rejected = input, with every rejection explained."""

    batch_id: str
    source: str
    reader: str
    dry_run: bool
    started: str
    finished: str = ""
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def input(self) -> int:
        """How many records the source held (every one is accepted or rejected)."""
        return len(self.accepted) + len(self.rejected)

    def counts(self) -> dict[str, int]:
        """Accepted records by action, plus the totals."""
        out = {"input": self.input, "accepted": len(self.accepted), "rejected": len(self.rejected)}
        for a in self.accepted:
            out[a.action] = out.get(a.action, 0) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "batch": self.batch_id, "source": self.source, "reader": self.reader,
            "dry_run": self.dry_run, "started": self.started, "finished": self.finished,
            "counts": self.counts(), "warnings": self.warnings,
            # vars(), not asdict(): the same dict, without asdict's deep copy (~0.1 ms each).
            "accepted": [vars(a) for a in self.accepted],
            "rejected": [asdict(r) for r in self.rejected],
        }

    def summary(self) -> str:
        """A readable summary for the terminal."""
        c = self.counts()
        actions = ", ".join(f"{c[k]} {k}" for k in ("created", "updated", "unchanged",
                                                     "withdrawn", "valid") if c.get(k))
        lines = [
            f"batch {self.batch_id}{' (dry run)' if self.dry_run else ''}: {self.source}",
            f"  {c['input']} read = {c['accepted']} accepted"
            + (f" ({actions})" if actions else "") + f" + {c['rejected']} rejected",
        ]
        lines += [f"  warning: {w}" for w in self.warnings]
        lines += [f"  rejected {r.source} {r.position}"
                  + (f" [{r.record_id}]" if r.record_id else "") + f": {r.reason}"
                  for r in self.rejected]
        warned = [a for a in self.accepted if a.warnings]
        for a in warned[:20]:
            lines += [f"  note {a.record_id} ({a.position}): {w}" for w in a.warnings]
        if len(warned) > 20:
            lines.append(f"  … and notes on {len(warned) - 20} more records (see the JSON report)")
        return "\n".join(lines)


# Records written to storage as one group: one durability point (filesystem sync) per group.
GROUP_SIZE = 200


def new_batch_id() -> str:
    """A batch id that sorts by time and is unique."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def run_batch(archive: Archive, reader: Reader, source: Path | str, *,
              options: dict[str, Any] | None = None, dry_run: bool = False,
              progress: Callable[[int], None] | None = None,
              stalls: dict[str, float] | None = None) -> BatchReport:
    """Ingest one source as one batch and write its report under home/batches/.

    `stalls`, if given, receives the seconds the parent waited on its workers and the
    workers waited for work (summed over workers), for benchmarks.
    """
    # With workers, a plain XML file's records are cut, not parsed, here (ingest/xmlsplit.py):
    # each is parsed where it is mapped.
    context = ReadContext(archive.minter, archive.settings.provider, dict(options or {}),
                          split=archive.settings.workers > 1)
    context.options.setdefault("max_pixels", archive.settings.max_image_pixels)
    report = BatchReport(new_batch_id(), str(source), reader.name, dry_run, utc_now())
    archive.state.start_batch(report.batch_id, str(source), reader.name, dry_run)
    claimed_images: dict[str, str] = {}
    # Records whose pyramids are being built in worker processes, saved oldest first.
    window: deque[_Prepared] = deque()
    window_size = 2 * archive.settings.workers
    # Records ready to save, by id, written to storage as one group (one durability point).
    group: dict[str, _Prepared] = {}
    status = "failed"
    stack = ExitStack()
    stack.enter_context(full_collections_held())
    staging = None
    if not dry_run:
        # Workers stage new records' storage objects here; the area goes with the batch.
        area = stack.enter_context(archive.storage.open_staging_area())
        storage = archive.storage
        staging = Staging(str(storage.root), str(storage.work_dir), storage.digest, area,
                          report.batch_id, archive.takes_index_fields)
    # Mapping, checks and serialisation run in worker processes for large batches.
    mapper = RecordMapper(reader, context, archive.settings.base_url, archive.settings.workers,
                          staging)

    def take(done: Mapped | Rejection) -> None:
        if isinstance(done, Rejection):
            report.rejected.append(done)
        else:
            prepared = _prepare(archive, done, report, claimed_images)
            if prepared is not None:
                window.append(prepared)
            while len(window) > window_size:
                _finish(archive, reader, window.popleft(), report, group)
        if progress:
            if hasattr(progress, "rejected"):
                # Records refused in a worker process never pass the parent's reader: a bar
                # that shows rejections is told the batch's own count.
                progress.rejected = len(report.rejected)
            progress(report.input)

    try:
        # Derived copies (RDF store graphs, search documents) are made in groups; every saved
        # record stays on the pending queue until its document is in the index.
        with archive.deferring():
            # The harvester reads from an endpoint URL; every file reader gets a Path.
            for item in reader.read(source, context):  # type: ignore[arg-type]
                for done in mapper.feed(item):
                    take(done)
            for done in mapper.finish():
                take(done)
            while window:
                _finish(archive, reader, window.popleft(), report, group)
            _save_group(archive, reader, group, report)
        status = "done"
    finally:
        mapper.close()
        if stalls is not None:
            stalls.update(parent_waited=mapper.waited, workers_idle=mapper.workers_idle,
                          in_workers=mapper.in_workers)
        stack.close()
        archive.flush()
        report.warnings = list(dict.fromkeys(context.warnings))
        report.finished = utc_now()
        archive.state.finish_batch(report.batch_id, status,
                                   (report.input, len(report.accepted), len(report.rejected)))
        write_report(archive, report)
    return report


@dataclass
class _Prepared:
    """A mapped, valid record waiting for its pyramids before it is saved."""

    item: SourceRecord
    draft: RecordDraft
    builds: list[tuple[ImageFile, Future[str]]]
    ahead: StagedRecord | None = None


def _reject(report: BatchReport, item: SourceRecord, reason: str, rid: str | None = None) -> None:
    report.rejected.append(Rejection(item.source, item.position, reason, rid))


def _prepare(archive: Archive, mapped: Mapped, report: BatchReport,
             claimed_images: dict[str, str]) -> _Prepared | None:
    """Admit a mapped record and start building its pyramids; None if it was rejected."""
    item, draft = mapped.item, mapped.draft
    if draft is None:
        _reject(report, item, mapped.reason or "rejected", mapped.record_id)
        return None
    for image in draft.images:
        owner = claimed_images.get(image.image_id) or archive.image_owner(image.image_id)
        if owner and owner != draft.record_id:
            _reject(report, item, f"image id {image.image_id!r} (file {image.name}) is already "
                    f"used by record {owner}; rename the file", draft.record_id)
            return None
    for image in draft.images:
        claimed_images[image.image_id] = draft.record_id
    if report.dry_run:
        report.accepted.append(Accepted(draft.record_id, item.position, "valid", None,
                                        draft.warnings))
        return None
    # The build reads and hashes each new image once; storage reuses that digest.
    builds = [(image, archive.pyramids.submit_digest(image.image_id, image.source))
              for image in draft.images]
    return _Prepared(item, draft, builds, mapped.ahead)


def _finish(archive: Archive, reader: Reader, prepared: _Prepared, report: BatchReport,
            group: dict[str, _Prepared]) -> None:
    """Wait for a record's pyramids, then add it to the save group; a bad image rejects it."""
    item, draft = prepared.item, prepared.draft
    for image, future in prepared.builds:
        try:
            image.digest = future.result()
        except BrokenExecutor:
            raise  # the machinery failed, not the record: the batch stops and says so
        except Exception as exc:  # noqa: BLE001 - any decoder failure rejects this record only
            _reject(report, item, f"image {image.name} cannot be made into a pyramid: {exc}",
                    draft.record_id)
            return
    if draft.record_id in group:
        _save_group(archive, reader, group, report)  # one id once per storage group
    group[draft.record_id] = prepared
    if len(group) >= GROUP_SIZE:
        _save_group(archive, reader, group, report)


def _save_group(archive: Archive, reader: Reader, group: dict[str, _Prepared],
                report: BatchReport) -> None:
    """Save the group in storage (durable together), then count its records as accepted."""
    if not group:
        return
    items = [(p.draft, Provenance(p.item.source, p.item.position, report.batch_id, reader.name,
                                  reader.version)) for p in group.values()]
    ahead = {rid: p.ahead for rid, p in group.items() if p.ahead is not None}
    results = archive.save_many(items, pyramids_built=True, ahead=ahead)
    with archive.state.transaction():
        for result in results:
            archive.state.add_batch_record(report.batch_id, result.record_id, result.version,
                                           result.action)
    for prepared, result in zip(group.values(), results, strict=True):
        report.accepted.append(Accepted(result.record_id, prepared.item.position, result.action,
                                        result.version, prepared.draft.warnings))
    group.clear()


def write_report(archive: Archive, report: BatchReport) -> Path:
    """Write (or rewrite) a batch's JSON report under home/batches/."""
    folder = archive.settings.home / "batches"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{report.batch_id}.json"
    path.write_text(json.dumps(report.to_json(), ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def report_path(archive: Archive, batch_id: str) -> Path:
    """Where a batch's JSON report is kept."""
    return archive.settings.home / "batches" / f"{batch_id}.json"
