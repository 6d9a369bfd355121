"""Mapping records on both cores: the parent reads and saves, worker processes map and check.

A record's mapping (reader.to_rdf), its compiled checks and its serialisation for storage are
pure functions of the source record and the read options, so they run in a pool of spawned
worker processes, in chunks. Results come back in input order as the bytes of record.ttl, and
the parent does everything that touches the instance (image ownership, storage, RDF store,
index) one record after another, as before. Small batches, and readers whose records do not
travel between processes, are mapped in the parent.

With a `Staging` plan, a worker also stages each new record's storage object (its files,
inventory and provenance) into the batch's staging area (Storage.prestage): creating files is
most of what storing a new record costs, and the parent then only publishes each group.
"""

from __future__ import annotations

import multiprocessing
import pickle
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from archive.ids import Minter
from archive.rdfio import (
    StoredGraph,
    parse_stored,
    serialize_stored,
    stored_and_nquads,
    to_nquads,
)
from archive.record import DerivedCopies, ImageFile, RecordDraft
from archive.recordgraph import RecordGraph
from archive.service import Provenance, StagedRecord, prestage_record
from archive.storage import Storage
from archive.validate import record_errors
from archive.vocab import DCTERMS
from ingest.reader import ReadContext, Reader, RecordRejected, Rejection, SourceRecord
from ingest.xmlrecords import duplicate
from ingest.xmlsplit import RecordSlice, SliceFailed, resolve

# A batch maps in the parent until this many records have been read (a pool costs ~1 s of CPU
# to start, about what the parent spends on 200 records); then the rest goes to the pool.
PARALLEL_AFTER = 250
CHUNK = 32
# Chunks sent and not yet taken back, per worker. The parent works in bursts (a storage group
# every 200 records, the RDF store and index every 2,000: 1-5 s of CPU); the workers must
# have that much work queued or one core idles while the parent flushes. Not much more:
# what is queued when the reader ends is saved by the parent alone, one core idle (40 chunks
# made small batches slower). Bounded also by the bytes sent (LIDO records are ~42 KB).
CHUNKS_IN_FLIGHT_PER_WORKER = 16
BYTES_IN_FLIGHT = 24_000_000


@dataclass
class Mapped:
    """What became of one source record: a checked draft, or the reason it was refused."""

    item: SourceRecord
    draft: RecordDraft | None = None
    reason: str | None = None
    record_id: str | None = None
    ahead: StagedRecord | None = None  # its new storage object, staged by the worker
    # A record cut from its file unparsed (ingest/xmlsplit.py): the cut, its local id (for the
    # duplicate test the reader would have made), and whether it failed to resolve.
    cut: RecordSlice | None = None
    local: str | None = None
    failed: bool = False


@dataclass(frozen=True)
class Staging:
    """Where workers stage new records' storage objects, and the batch they belong to."""

    root: str
    work_dir: str
    digest: str
    area: str
    batch_id: str
    # Whether the index is Tantivy's: workers then make its field values too (index_fields).
    tantivy_fields: bool = False


def map_record(reader: Reader, item: SourceRecord, context: ReadContext) -> Mapped:
    """Map one record and run the compiled checks on it (a cut record is parsed first)."""
    cut = item.data if isinstance(item.data, RecordSlice) else None
    local = None
    if cut is not None:
        try:
            item, local = resolve(item)
        except SliceFailed:
            return Mapped(item, cut=cut, failed=True)
        except RecordRejected as exc:  # refused as the reader would have (an OAI deletion)
            return Mapped(item, reason=str(exc), cut=cut)
    try:
        draft = reader.to_rdf(item, context)
    except RecordRejected as exc:
        return Mapped(item, reason=str(exc), cut=cut, local=local)
    except ValueError as exc:
        # A value the record model cannot hold (an IRI with spaces, a malformed language tag)
        # that the reader did not catch: this record is refused, the batch goes on.
        return Mapped(item, reason=f"cannot be mapped: {exc}", cut=cut, local=local)
    errors = record_errors(draft.graph)
    if errors:
        return Mapped(item, reason="; ".join(errors), record_id=draft.record_id, cut=cut,
                      local=local)
    return Mapped(item, draft=draft, record_id=draft.record_id, cut=cut, local=local)


# -- the worker side ------------------------------------------------------------------------

_worker: dict[str, Any] = {}

# (record id, record.ttl bytes, source bytes, source media type, images, warnings, derived
# copies, reason, staged object, local id, failed): a reason and no bytes for a refused record.
# Source bytes and media type are None when they are the record's own (`raw`, `media_type`),
# which the parent still holds: a LIDO record's 42 KB need not travel back. The local id and
# `failed` are for records cut unparsed (Mapped.cut).
_Result = tuple[str | None, bytes | None, bytes | None, str | None, list[ImageFile], list[str],
                DerivedCopies | None, str | None, StagedRecord | None, str | None, bool]


_PART_OF = ox.NamedNode(str(DCTERMS.isPartOf))


def derived_copies(draft: RecordDraft, stored: bytes, minter: Minter,
                   nquads: bytes | None = None, tantivy_fields: bool = False) -> DerivedCopies:
    """The search document (no hierarchy yet), N-Quads and parents of a mapped record.

    Made from the draft's own graph, whose statements are exactly those of `stored`; an
    rdflib draft is read back from `stored` instead. `nquads`, when given, are the N-Quads
    already written along with `stored` (stored_and_nquads). `tantivy_fields`: make the
    document's Tantivy field values too (the parent only completes them).
    """
    from search.document import record_document

    rid = draft.record_id
    graph = draft.graph if isinstance(draft.graph, RecordGraph) else RecordGraph(
        parse_stored(stored, minter.base_url))
    document = record_document(graph, rid, minter)  # type: ignore[arg-type]
    parents = graph.view(ox.NamedNode(minter.item(rid)), _PART_OF)
    if nquads is None:
        nquads = to_nquads(graph.ox_triples(), minter.graph(rid))
    fields = None
    if tantivy_fields:
        from search.tantivy_backend import index_fields

        fields = index_fields(document)
    return DerivedCopies(document, nquads, tuple(p.value for p in parents), fields)


def _init_worker(reader_name: str, base_url: str, provider: str,
                 staging: Staging | None = None) -> None:
    from ingest.registry import get_reader

    minter = Minter(base_url)
    storage = None
    if staging is not None:
        storage = Storage(Path(staging.root), Path(staging.work_dir), digest=staging.digest,
                          fsync=False)
        storage.open_for_staging()
    _worker.update(reader=get_reader(reader_name), base_url=base_url, minter=minter,
                   provider=provider, version=-1, options={}, staging=staging, storage=storage)


def _map_chunk(version: int, options: bytes, chunk: bytes
               ) -> tuple[list[_Result], list[str], float]:
    """Map a chunk in a worker: per-record results, the context's new warnings, idle seconds.

    Idle seconds: how long this worker waited for this chunk since its last one ended (the
    parent's measure of whether it keeps its workers fed).
    """
    started = time.monotonic()
    idle = started - _worker.get("done", started)
    items: list[SourceRecord] = pickle.loads(chunk)  # noqa: S301 - our own parent wrote it
    if _worker["version"] != version:
        _worker["options"] = pickle.loads(options)  # noqa: S301 - our own parent wrote it
        _worker["version"] = version
    context = ReadContext(_worker["minter"], _worker["provider"], _worker["options"])
    results: list[_Result] = []
    for item in items:
        mapped = map_record(_worker["reader"], item, context)
        draft = mapped.draft
        if draft is None:
            results.append((mapped.record_id, None, b"", "", [], [], None, mapped.reason, None,
                            mapped.local, mapped.failed))
        else:
            nquads = None
            if isinstance(draft.graph, RecordGraph):
                # record.ttl and the N-Quads written in one walk over the statements.
                stored, nquads = stored_and_nquads(draft.graph, _worker["base_url"],
                                                   _worker["minter"].graph(draft.record_id))
            else:
                stored = serialize_stored(draft.graph, _worker["base_url"])
            source = None if draft.source_bytes == item.raw else draft.source_bytes
            media = None if draft.source_media_type == item.media_type else (
                draft.source_media_type)
            staging = _worker["staging"]
            derived = derived_copies(draft, stored, _worker["minter"], nquads,
                                     staging is not None and staging.tantivy_fields)
            results.append((draft.record_id, stored, source, media, draft.images,
                            draft.warnings, derived, None,
                            _prestage(item, draft, stored), mapped.local, False))
    _worker["done"] = time.monotonic()
    return results, context.warnings, idle


def _prestage(item: SourceRecord, draft: RecordDraft, stored: bytes) -> StagedRecord | None:
    """Stage the record's storage object if the batch stages ahead and the record is new."""
    staging: Staging | None = _worker["staging"]
    if staging is None:
        return None
    # The worker's own draft, done with: given its record.ttl in place (no dataclass copy).
    draft.stored = stored
    reader = _worker["reader"]
    provenance = Provenance(item.source, item.position, staging.batch_id, reader.name,
                            reader.version)
    return prestage_record(_worker["storage"], _worker["minter"], _worker["base_url"], draft,
                           provenance, staging.area)


# -- the parent side ------------------------------------------------------------------------


class RecordMapper:
    """Maps a batch's records in order, in the parent or (for large batches) in a pool."""

    def __init__(self, reader: Reader, context: ReadContext, base_url: str, workers: int,
                 staging: Staging | None = None) -> None:
        self.reader = reader
        self.staging = staging
        self.context = context
        self.base_url = base_url
        self.workers = workers
        self._seen = 0
        self._pool: ProcessPoolExecutor | None = None
        self._usable: bool | None = None if workers > 1 else False
        self._pending: list[SourceRecord | Rejection] = []
        self._in_flight: deque[tuple[list[SourceRecord | Rejection],
                                     Future[tuple[list[_Result], list[str], float]]]] = deque()
        self._version = 0
        self._bytes_in_flight = 0
        self._sizes: deque[int] = deque()  # payload bytes of each chunk in flight
        self._options_sent: bytes = b""
        self._strip = False  # records go without their parsed data (see _travels)
        self.in_workers = 0  # records mapped in the pool (for reports and tests)
        self._locals: dict[str, str] = {}  # cut records' local ids -> first position
        # Stalls, in seconds (for the benchmark): the parent waiting on a worker's chunk, and
        # the workers' summed waits for their next chunk.
        self.waited = 0.0
        self.workers_idle = 0.0

    def feed(self, item: SourceRecord | Rejection) -> Iterator[Mapped | Rejection]:
        """Take the next item the reader yielded; yield whatever is now done, in order."""
        self._seen += 1
        if self._pool is None and (self._seen <= PARALLEL_AFTER or not self._start(item)):
            yield from self._drain_pool()
            if isinstance(item, Rejection):
                yield item
            else:
                yield from self._settled(map_record(self.reader, item, self.context))
            return
        self._pending.append(item)
        if len(self._pending) >= CHUNK:
            self._submit()
        while (len(self._in_flight) > self.workers * CHUNKS_IN_FLIGHT_PER_WORKER
               or self._bytes_in_flight > BYTES_IN_FLIGHT):
            yield from self._collect()

    def finish(self) -> Iterator[Mapped | Rejection]:
        """Yield the rest once the reader is done."""
        if self._pending:
            self._submit()
        yield from self._drain_pool()

    def close(self) -> None:
        """Stop the worker processes."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _settled(self, done: Mapped) -> Iterator[Mapped | Rejection]:
        """A mapped record as the reader would have handed it on, in input order.

        A cut record is refused as a duplicate here (the reader could not see its local id),
        and one that did not resolve means the cut was wrong from there on: what was sent
        after it is dropped and the rest of the file is read the exact way.
        """
        cut = done.cut
        if cut is None:
            yield done
            return
        if done.failed:
            yield from self._read_exactly(cut)
            return
        local = done.local
        if local and local in self._locals:
            yield duplicate(done.item.source, done.item.position, cut.id_name, local,
                            self._locals[local])
            return
        if local:
            self._locals[local] = done.item.position
        yield done

    def _read_exactly(self, cut: RecordSlice) -> Iterator[Mapped | Rejection]:
        """Drop every record sent after `cut` and go on with the exact read of its file."""
        assert cut.resume is not None
        self._pending = []
        self._in_flight.clear()
        self._sizes.clear()
        self._bytes_in_flight = 0
        for item in cut.resume(cut.number - 1):
            yield from self.feed(item)
        if self._pending:
            self._submit()

    def _drain_pool(self) -> Iterator[Mapped | Rejection]:
        while self._in_flight:
            yield from self._collect()

    def _travels(self, item: SourceRecord) -> SourceRecord | None:
        """The record as sent to a worker, or None if it cannot be sent."""
        try:
            pickle.dumps(item)
            return item
        except (TypeError, AttributeError, pickle.PicklingError):
            pass
        if getattr(self.reader, "maps_from_raw", False):
            # The reader maps from the raw bytes when it has no parsed element (lxml elements
            # cannot be pickled).
            return replace(item, data=None)
        return None

    def _start(self, item: SourceRecord | Rejection) -> bool:
        """Start the pool if this batch can use it; False means map in the parent."""
        if self._usable is None:
            from ingest.registry import BUILTIN_READERS

            self._usable = (
                self.reader.name in BUILTIN_READERS
                and isinstance(item, SourceRecord) and self._travels(item) is not None
                and self._options() is not None
            )
            if self._usable:
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=context, initializer=_init_worker,
                    initargs=(self.reader.name, self.base_url, self.context.provider,
                              self.staging))
        return bool(self._usable)

    @staticmethod
    def _pickled(records: list[SourceRecord]) -> bytes | None:
        try:
            return pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)
        except (TypeError, AttributeError, pickle.PicklingError):
            return None

    def _options(self) -> bytes | None:
        try:
            return pickle.dumps(self.context.options)
        except (TypeError, AttributeError, pickle.PicklingError):
            return None

    def _submit(self) -> None:
        assert self._pool is not None
        chunk, self._pending = self._pending, []
        records = [entry for entry in chunk if isinstance(entry, SourceRecord)]
        # Pickled here, once: the whole chunk as it is, or (once a record needed it) every
        # record without its parsed data; record by record only when that fails.
        payload = self._pickled([replace(r, data=None) for r in records] if self._strip
                                else records)
        if payload is None:
            sent: list[SourceRecord] = []
            for entry in records:
                travelling = self._travels(entry)
                if travelling is None:
                    raise RuntimeError(f"{entry.position}: this record cannot go to a worker")
                self._strip = self._strip or travelling is not entry
                sent.append(travelling)
            payload = self._pickled(sent)
            if payload is None:
                raise RuntimeError("a chunk of records cannot go to a worker")
        # Readers may change their options while reading (a folder names its mapping).
        options = self._options()
        if options is None:
            raise RuntimeError("the read options can no longer be sent to a worker")
        if options != self._options_sent:
            self._version += 1
            self._options_sent = options
        future = self._pool.submit(_map_chunk, self._version, options, payload)
        self._in_flight.append((chunk, future))
        self._bytes_in_flight += len(payload)
        self._sizes.append(len(payload))

    def _collect(self) -> Iterator[Mapped | Rejection]:
        chunk, future = self._in_flight.popleft()
        self._bytes_in_flight -= self._sizes.popleft()
        waiting = None if future.done() else time.monotonic()
        results, warnings, idle = future.result()
        if waiting is not None:
            self.waited += time.monotonic() - waiting
        self.workers_idle += idle
        self.context.warnings.extend(warnings)
        self.in_workers += len(results)
        answers = iter(results)
        for entry in chunk:
            if isinstance(entry, Rejection):
                yield entry
                continue
            (rid, stored, source_bytes, media_type, images, notes, derived, reason,
             ahead, local, failed) = next(answers)
            cut = entry.data if isinstance(entry.data, RecordSlice) else None
            if stored is None or rid is None:
                yield from self._settled(Mapped(entry, reason=reason, record_id=rid, cut=cut,
                                                local=local, failed=failed))
                if failed:
                    return  # everything sent after it is dropped
                continue
            # The parent needs no graph: storage takes `stored`, the RDF store and the index
            # take the derived copies. The graph is read back only if something asks for it.
            draft = RecordDraft(rid, StoredGraph(stored, self.base_url),
                                entry.raw if source_bytes is None else source_bytes,
                                entry.media_type if media_type is None else media_type,
                                images, notes, stored=stored, derived=derived)
            yield from self._settled(Mapped(entry, draft=draft, record_id=rid, ahead=ahead,
                                            cut=cut, local=local))
