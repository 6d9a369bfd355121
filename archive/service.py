"""The Archive: the one door the web and the CLI use to save, read, withdraw and rebuild records."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import shutil
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyoxigraph as ox
from rdflib import Graph

from archive import indexer
from archive.background import InBackground
from archive.ids import Minter, is_image_id, is_record_id
from archive.indexer import IndexFeed
from archive.pyramids import Pyramids, images_of
from archive.rdfio import STORED_HEADER, parse_stored, parse_stored_graph, serialize_stored
from archive.rdfstore import RdfStore, RdfStoreError
from archive.record import DerivedCopies, RecordDraft
from archive.recordgraph import RecordGraph
from archive.settings import Settings
from archive.state import StateDb, utc_now
from archive.storage import FixityReport, StagedObject, Storage, VersionInfo, WriteRequest
from archive.vocab import DCTERMS, MEM, PROV, RDF, XSD

if TYPE_CHECKING:
    from search.backend import SearchQuery, SearchResult

log = logging.getLogger(__name__)

RECORD_PATH = "metadata/record.ttl"
PROVENANCE_PATH = "metadata/provenance.ttl"
WITHDRAWN_PATH = "metadata/withdrawn.json"
SOURCE_PREFIX = "source/record"
SOURCE_EXTENSIONS = {
    "text/csv": "csv", "application/xml": "xml", "application/json": "json",
    "text/turtle": "ttl", "application/rdf+xml": "rdf", "application/ld+json": "jsonld",
}
# In a batch (Archive.deferring), RDF store updates wait for this many records, then go in as
# one transaction; search documents are made right after, from the updated store.
DERIVE_EVERY = 2000  # Oxigraph's bulk loader: ~0.36 ms a record in loads of 500, ~0.27 in 2,000
# A long batch derives in larger groups: a quarter of what it has derived so far, up to this
# many times DERIVE_EVERY. Into a large store, fewer and larger groups mean fewer RocksDB
# compactions and index merges (100,000 DC records: the parent's CPU -17 to -25 % with groups
# of 8,000-16,000), while a short batch keeps small groups, so its last one (derived after
# the workers are done) stays short.
DERIVE_GROWTH = 8
# In a batch, a full derive buffer goes to the RDF store and the index in a thread of its own
# (Oxigraph's bulk load and Tantivy's commit release the GIL), so the ingest keeps collecting
# and saving records meanwhile; one such thread at a time.
DERIVE_IN_THREAD = True
# From this many records, a group's RDF store load runs in a thread of its own beside the
# indexing of its documents: each takes about one core, so the last group of a batch, derived
# when the workers are done, takes half as long.
LOAD_BESIDE_INDEX_FROM = 500
CHILDREN_KEPT = 4096  # parents whose parts are kept for item pages' previous / next


@dataclass(frozen=True)
class Provenance:
    """Where a record came from and which batch brought it."""

    source: str
    position: str
    batch_id: str
    reader: str
    reader_version: str


@dataclass(frozen=True)
class SaveResult:
    """What saving a record did: created, updated or unchanged, and at which version."""

    record_id: str
    version: str
    action: str
    derived: bool


@dataclass
class Record:
    """A record as read back: its graph (with provenance) and its storage version."""

    record_id: str
    version: str
    graph: Graph
    withdrawn: bool = False
    versions: list[VersionInfo] = field(default_factory=list)


@dataclass
class RebuildReport:
    """What a rebuild re-derived."""

    records: int
    withdrawn: int
    graphs: int
    indexed: int = 0
    pyramids: int = 0
    pyramid_errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Ready:
    """A saved record's derived copies made ahead (by an ingest worker): N-Quads and document."""

    nquads: bytes
    copies: DerivedCopies


_RDF_TYPE, _WAS_GENERATED_BY, _SOURCE, _POSITION, _BATCH, _READER, _ENDED = (
    str(RDF.type), str(PROV.wasGeneratedBy), str(DCTERMS.source), str(MEM.position),
    str(MEM.batch), str(MEM.reader), str(PROV.endedAtTime))


@functools.lru_cache(maxsize=256)
def _nt_literal(text: str) -> str:
    """A plain literal's N-Triples form."""
    return str(ox.Literal(text))


@functools.lru_cache(maxsize=16)
def _nt_time(text: str) -> str:
    """An xsd:dateTime literal's N-Triples form."""
    return str(ox.Literal(text, datatype=ox.NamedNode(str(XSD.dateTime))))


def derive_group(derived: int) -> int:
    """How many records the next derive group of a batch takes, after `derived` so far."""
    return max(DERIVE_EVERY, min(DERIVE_EVERY * DERIVE_GROWTH, derived // 4))


def provenance_files(minter: Minter, base_url: str, rid: str, prov: Provenance
                 ) -> tuple[bytes, bytes]:
    """provenance.ttl and its N-Quads for the RDF store, as strings from a template.

    The same bytes as serialize_stored() of these statements as pyoxigraph terms, at a fifth
    of the cost; tests/archive/test_provenance_files.py holds them equal.
    """
    base = base_url.rstrip("/") + "/"
    entity = minter.graph(rid)
    # provenance.ttl writes IRIs under the base relative to it: the activity's is the
    # entity's with "#ingest", and the predicates and classes are the same for every record.
    near = _relative(entity, base)
    near_activity = f"{near[:-1]}#ingest>"
    (rdf_type, generated_by, source_p, position_p, batch_p, reader_p, ended_p, entity_class,
     activity_class) = _relative_terms(base)
    # pyoxigraph writes a literal's N-Triples form, escapes included; a batch's source,
    # batch id, reader and (to the second) time repeat record after record.
    source = _nt_literal(prov.source)
    position = str(ox.Literal(prov.position))
    batch = _nt_literal(prov.batch_id)
    reader = _nt_literal(f"{prov.reader} {prov.reader_version}")
    ended = _nt_time(utc_now())
    # Sorted as serialize_stored sorts its lines: the activity's (its IRI is the entity's and
    # "#", which sorts before ">") and then the entity's, each by predicate.
    lines = sorted([
        f"{near} {rdf_type} {entity_class} .",
        f"{near} {generated_by} {near_activity} .",
        f"{near} {source_p} {source} .",
        f"{near} {position_p} {position} .",
        f"{near_activity} {rdf_type} {activity_class} .",
        f"{near_activity} {batch_p} {batch} .",
        f"{near_activity} {reader_p} {reader} .",
        f"{near_activity} {ended_p} {ended} .",
    ])
    stored = (STORED_HEADER + "\n".join(lines) + "\n").encode("utf-8")
    e, a, g = f"<{entity}>", f"<{entity}#ingest>", f" <{entity}> .\n"
    nquads = (f"{e} <{_RDF_TYPE}> <{_ENTITY}>{g}"
              f"{e} <{_WAS_GENERATED_BY}> {a}{g}"
              f"{e} <{_SOURCE}> {source}{g}"
              f"{e} <{_POSITION}> {position}{g}"
              f"{a} <{_RDF_TYPE}> <{_ACTIVITY}>{g}"
              f"{a} <{_BATCH}> {batch}{g}"
              f"{a} <{_READER}> {reader}{g}"
              f"{a} <{_ENDED}> {ended}{g}")
    return stored, nquads.encode("utf-8")


_ENTITY, _ACTIVITY = str(PROV.Entity), str(PROV.Activity)


@functools.lru_cache(maxsize=16)
def _relative_terms(base: str) -> tuple[str, ...]:
    """The provenance's predicates and classes as provenance.ttl writes them under base."""
    return tuple(_relative(iri, base)
                 for iri in (_RDF_TYPE, _WAS_GENERATED_BY, _SOURCE, _POSITION, _BATCH,
                             _READER, _ENDED, _ENTITY, _ACTIVITY))


def _relative(iri: str, base: str) -> str:
    """An IRI as provenance.ttl writes it: relative to the base when under it."""
    return f"<{iri[len(base):]}>" if iri.startswith(base) else f"<{iri}>"




def record_files(draft: RecordDraft, base_url: str) -> dict[str, bytes | Path]:
    """The files of a record's stored object, but its provenance."""
    ext = SOURCE_EXTENSIONS.get(draft.source_media_type, "txt")
    files: dict[str, bytes | Path] = {
        f"{SOURCE_PREFIX}.{ext}": draft.source_bytes,
        RECORD_PATH: draft.stored if draft.stored is not None
        else serialize_stored(draft.graph, base_url),
    }
    for image in draft.images:
        files[f"files/{image.name}"] = image.source
    return files


def _write_request(rid: str, files: dict[str, bytes | Path], prov: Provenance,
                   digests: dict[str, str] | None = None,
                   staged: StagedObject | None = None) -> WriteRequest:
    return WriteRequest(rid, files, message=f"ingest batch {prov.batch_id} ({prov.position})",
                        user_name=f"memoria {prov.reader}", digests=digests or {},
                        staged=staged)


@dataclass(frozen=True)
class StagedRecord:
    """A record's new storage object staged ahead (by an ingest worker), with its provenance."""

    staged: StagedObject
    provenance: bytes
    provenance_nquads: bytes


def prestage_record(storage: Storage, minter: Minter, base_url: str, draft: RecordDraft,
                    prov: Provenance, area: str) -> StagedRecord | None:
    """Stage a mapped record's object as `save_many` would write it, if it is new.

    For ingest workers: the file creation (most of a new record's storage cost) happens in
    their process; None when the object exists or the record has images (saved as usual).
    """
    if draft.images:
        return None
    files = record_files(draft, base_url)
    prov_bytes, prov_nquads = provenance_files(minter, base_url, draft.record_id, prov)
    files[PROVENANCE_PATH] = prov_bytes
    staged = storage.prestage(_write_request(draft.record_id, files, prov), area)
    return StagedRecord(staged, prov_bytes, prov_nquads) if staged is not None else None


def _digest(data: bytes | Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    if isinstance(data, Path):
        with data.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    else:
        h.update(data)
    return h.hexdigest()


class Archive:
    """Storage (the truth) first, then the RDF store; derived copies catch up when they lag."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.minter = Minter(settings.base_url)
        self.storage = Storage(settings.storage_root, settings.work_dir,
                               digest=settings.digest, fsync=settings.fsync)
        self.rdf = RdfStore(settings.rdf_dir)
        self._children: OrderedDict[tuple[str, int, int], tuple[tuple[str, int | None], ...]]
        self._children = OrderedDict()
        self._children_lock = threading.Lock()
        self.state = StateDb(settings.state_db)
        self.pyramids = Pyramids(settings.pyramid_dir, settings.max_image_pixels,
                                 settings.workers, settings.digest)
        self.index: IndexFeed | None = None
        self.derives = False
        # Records saved in a batch whose RDF store graph and search document are still to be
        # made (they are on the pending queue until their document is in the index).
        self._derive_buffer: dict[str, list[ox.Triple] | _Ready] = {}
        self._deferring = 0
        self._derive_every = DERIVE_EVERY  # this batch's group size (see derive_group)
        self._derived_in_batch = 0
        # The thread deriving the previous full buffer (see DERIVE_IN_THREAD). Records are
        # marked pending, saved and buffered under _pending_lock, and the deriving thread takes
        # records off the pending queue under it too, sparing those buffered again meanwhile
        # (a newer version waits).
        self._deriver: InBackground | None = None
        self._pending_lock = threading.Lock()
        self._only_buffer = False  # see _buffering
        self._store_loading: InBackground | None = None  # see _derive_entries
        # Pyramids of withdrawn records, removed when `removing_later` ends (None: at once).
        self._removals: list[str] | None = None

    def open(self, derive: bool = True) -> Archive:
        """Open storage and state; open the RDF store too unless another process holds it."""
        self.settings.home.mkdir(parents=True, exist_ok=True)
        self.storage.open()
        self.state.open()
        if derive:
            try:
                self.rdf.open()
                self.derives = True
            except RdfStoreError as exc:
                log.warning("%s; records will be queued for it", exc)
        if self.derives:
            from search.factory import create_backend

            backend = create_backend(self.settings.search, self.settings.index_dir,
                                     self.settings.elasticsearch_url,
                                     alias=self.settings.elasticsearch_index)
            self.index = IndexFeed(backend, on_indexed=self._indexed)
        return self

    @property
    def takes_index_fields(self) -> bool:
        """Whether the index takes Tantivy's field values made ahead (by ingest workers)."""
        return self.index is not None and self.index.takes_prepared

    def _indexed(self, ids: list[str]) -> None:
        loading = self._store_loading
        if loading is not None:
            # Indexed while their graphs load (see _derive_entries): they leave the queue
            # once in the store too; if the load failed, they stay and this raises it.
            loading.wait()
        with self._pending_lock, self.state.transaction():
            for rid in ids:
                if rid not in self._derive_buffer:
                    self.state.clear_pending(rid)

    def _settle(self) -> None:
        """Wait for the deriving thread, if any; raise what it raised."""
        deriver, self._deriver = self._deriver, None
        if deriver is not None:
            deriver.wait()

    def close(self) -> None:
        """Release everything this archive opened (after sending what the index still lacks)."""
        self._flush_derived()
        if self.index is not None:
            self.index.flush()
            self.index.backend.close()
            self.index = None
        self.rdf.close()
        self.state.close()
        self.pyramids.close()
        self.derives = False

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------

    def _provenance_files(self, rid: str, prov: Provenance) -> tuple[bytes, bytes]:
        """provenance.ttl and its N-Quads for the RDF store (see provenance_files)."""
        return provenance_files(self.minter, self.settings.base_url, rid, prov)

    def _statements(self, record_bytes: bytes | Path, prov_nquads: bytes) -> list[ox.Triple]:
        """A saved record's statements for the RDF store: record.ttl's and provenance's."""
        assert isinstance(record_bytes, bytes)
        return (parse_stored(record_bytes, self.settings.base_url)
                + [q.triple for q in ox.parse(prov_nquads, format=ox.RdfFormat.N_QUADS)])

    def _files_for(self, draft: RecordDraft) -> dict[str, bytes | Path]:
        return record_files(draft, self.settings.base_url)

    @staticmethod
    def _known_digests(draft: RecordDraft) -> dict[str, str]:
        """Digests of the draft's images made already (by the pyramid build), by logical path."""
        return {f"files/{image.name}": image.digest for image in draft.images if image.digest}

    def _unchanged(self, rid: str, files: dict[str, bytes | Path],
                   known: dict[str, str] | None = None, head: str | None = None) -> str | None:
        head = head or self.storage.head(rid)
        if head is None:
            return None
        state = {k: v for k, v in self.storage.state(rid).items() if k != PROVENANCE_PATH}
        if set(state) != set(files):
            return None
        prefix = f"{self.settings.digest}:"
        for path, data in files.items():
            given = (known or {}).get(path, "")
            digest = (given[len(prefix):] if given.startswith(prefix)
                      else _digest(data, self.settings.digest))
            if digest != state[path]:
                return None
        return head

    def save(self, draft: RecordDraft, provenance: Provenance,
             pyramids_built: bool = False) -> SaveResult:
        """Save a validated record: storage first (the commit point), then derived copies.

        The ingest pipeline builds pyramids in parallel before saving and says so; any other
        caller gets them built here.
        """
        self._settle()
        rid = draft.record_id
        files = self._files_for(draft)
        same_version = self._unchanged(rid, files)
        if same_version is not None:
            return SaveResult(rid, same_version, "unchanged", derived=False)
        existed = self.storage.exists(rid)
        files[PROVENANCE_PATH], prov_nquads = self._provenance_files(rid, provenance)
        self.state.mark_pending(rid)
        request = _write_request(rid, files, provenance)  # the version's message and user
        result = self.storage.write(rid, files, message=request.message,
                                    user_name=request.user_name)
        # Derive from the very bytes just stored (no re-read of the files written above).
        derived = self._derive(rid, self._statements(files[RECORD_PATH], prov_nquads))
        if not pyramids_built:
            for image in draft.images:
                self.pyramids.submit(image.image_id, image.source).result()
        return SaveResult(rid, result.version, "updated" if existed else "created", derived)

    def save_many(self, items: list[tuple[RecordDraft, Provenance]],
                  pyramids_built: bool = False,
                  ahead: dict[str, StagedRecord] | None = None) -> list[SaveResult]:
        """Save validated records as one storage group: one durability point for all of them.

        Each record is what `save` would make of it; when this returns every created or updated
        record is durable in storage (and queued for its derived copies). Record ids must be
        distinct within one call. `ahead`: objects staged ahead by `prestage_record`, by id
        (used only for records still new).
        """
        results: list[SaveResult | None] = [None] * len(items)
        requests: list[WriteRequest] = []
        planned: list[tuple[int, bool, RecordDraft, bytes, bytes | Path]] = []
        for number, (draft, provenance) in enumerate(items):
            rid = draft.record_id
            files = self._files_for(draft)
            known = self._known_digests(draft)
            head = self.storage.head(rid)
            same_version = self._unchanged(rid, files, known, head) if head else None
            if same_version is not None:
                results[number] = SaveResult(rid, same_version, "unchanged", derived=False)
                continue
            existed = head is not None
            staged = (ahead or {}).get(rid) if head is None else None
            if staged is not None:
                prov_bytes, prov_nquads = staged.provenance, staged.provenance_nquads
            else:
                prov_bytes, prov_nquads = self._provenance_files(rid, provenance)
            files[PROVENANCE_PATH] = prov_bytes
            requests.append(_write_request(rid, files, provenance, known,
                                           staged.staged if staged is not None else None))
            planned.append((number, existed, draft, prov_nquads, files[RECORD_PATH]))
        if requests:
            with self._pending_lock, self._buffering():
                with self.state.transaction():
                    for request in requests:
                        self.state.mark_pending(request.record_id)
                written = self.storage.write_many(requests)
                for (number, existed, draft, prov_nquads, record_bytes), result in zip(
                    planned, written, strict=True
                ):
                    rid = result.record_id
                    copies = draft.derived
                    if copies is not None and copies.nquads is not None:
                        # Made by the worker that mapped the record: nothing is parsed here.
                        derived = self._derive(rid, ready=_Ready(copies.nquads + prov_nquads,
                                                                 copies))
                    else:
                        derived = self._derive(rid, self._statements(record_bytes, prov_nquads))
                    results[number] = SaveResult(rid, result.version,
                                                 "updated" if existed else "created", derived)
            self._flush_if_due()
        if not pyramids_built:
            for draft, _provenance in items:
                for image in draft.images:
                    self.pyramids.submit(image.image_id, image.source).result()
        return [result for result in results if result is not None]

    def withdraw(self, rid: str, reason: str, batch_id: str | None = None) -> str | None:
        """Withdraw a record: a new version that keeps the history but publishes nothing."""
        self._settle()  # a deriving thread must not take it off the pending queue meanwhile
        if self.storage.head(rid) is None or self.is_withdrawn(rid):
            return None
        note = {"withdrawn": utc_now(), "reason": reason, "batch": batch_id}
        images = images_of(self._stored_graph(rid))
        self.state.mark_pending(rid)
        result = self.storage.write(
            rid, {WITHDRAWN_PATH: json.dumps(note, ensure_ascii=False).encode()},
            message=f"withdrawn: {reason}", user_name="memoria",
        )
        self._derive(rid)
        for image in images:
            if self._removals is not None:
                self._removals.append(image.image_id)
            else:
                self.pyramids.remove(image.image_id)
        return result.version

    @contextmanager
    def removing_later(self) -> Iterator[None]:
        """Within the block, withdrawn records' pyramids are deleted at its end, not at once.

        On ext4 without a journal every file created in the minute after a deletion pays a
        kernel scan of the freed inodes; a loop of withdrawals (undo, harvested deletions)
        that deletes between its storage writes would pay it on every write.
        """
        outer = self._removals is not None
        if not outer:
            self._removals = []
        try:
            yield
        finally:
            if not outer:
                removals, self._removals = self._removals or [], None
                for image_id in removals:
                    self.pyramids.remove(image_id)

    def restore(self, rid: str, version: str, reason: str) -> str:
        """Make an earlier version current again, as a new version (history only grows)."""
        self._settle()
        old_state = self.storage.state(rid, version)
        files: dict[str, bytes | Path] = {
            path: self.storage.content_path(rid, path, version) for path in old_state
        }
        self.state.mark_pending(rid)
        result = self.storage.write(rid, files, message=f"restored {version}: {reason}",
                                    user_name="memoria")
        self._derive(rid)
        self._build_pyramids(rid)
        return result.version

    def _stored_graph(self, rid: str) -> Graph:
        if RECORD_PATH not in self.storage.state(rid):
            return Graph()
        return parse_stored_graph(self.storage.read(rid, RECORD_PATH), self.settings.base_url)

    def _image_jobs(self, rid: str) -> list[tuple[str, Path]]:
        state = self.storage.state(rid)
        return [(ref.image_id, self.storage.content_path(rid, ref.logical_path))
                for ref in images_of(self._stored_graph(rid)) if ref.logical_path in state]

    def _build_pyramids(self, rid: str) -> list[str]:
        _, errors = self.pyramids.build_all(self._image_jobs(rid))
        return errors

    # -- derived copies -----------------------------------------------------------------------

    def _stored_triples(self, rid: str) -> list | None:
        state = self.storage.state(rid)
        if RECORD_PATH not in state:
            return None
        triples = parse_stored(self.storage.read(rid, RECORD_PATH), self.settings.base_url)
        if PROVENANCE_PATH in state:
            triples += parse_stored(self.storage.read(rid, PROVENANCE_PATH), self.settings.base_url)
        return triples

    def _derive(self, rid: str, triples: list[ox.Triple] | None = None,
                ready: _Ready | None = None) -> bool:
        """Bring the RDF store and the index in line with storage; False if it must wait.

        `triples` are the record's stored statements when the caller has them at hand (read
        from storage otherwise). The record leaves the pending queue when its index document
        has been sent (the feed flushes in bulk), so a crash or an unreachable index leaves it
        queued, never lost. In a batch (see `deferring`) the RDF store update waits in a buffer
        and goes in with DERIVE_EVERY others as one transaction. `ready` instead of `triples`:
        the N-Quads and search document an ingest worker made. Within `_buffering` it only
        buffers (the caller holds _pending_lock and calls _flush_if_due after releasing it).
        """
        if not self.derives or self.index is None:
            return False
        if ready is None and triples is None:
            self._settle()
            triples = self._stored_triples(rid)
            if triples is None:
                self._derive_buffer.pop(rid, None)
                self.rdf.remove_graph(self.minter.graph(rid))
                if self.index.delete([rid]):
                    self.state.clear_pending(rid)
                return True
        entry = ready if ready is not None else triples
        assert entry is not None
        self._derive_buffer[rid] = entry
        if not self._only_buffer:
            self._flush_if_due()
        return True

    @contextmanager
    def _buffering(self) -> Iterator[None]:
        """Within the block, `_derive` only buffers (no flush, no wait for a deriving thread)."""
        self._only_buffer = True
        try:
            yield
        finally:
            self._only_buffer = False

    def _flush_if_due(self) -> None:
        """Derive the buffer when it is full (in a thread, in a batch), or at once outside one."""
        if not self._deferring:
            self._flush_derived()
        elif len(self._derive_buffer) >= self._derive_every:
            if DERIVE_IN_THREAD:
                self._flush_derived_in_thread()
            else:
                self._flush_derived()

    def _take_buffer(self) -> list[tuple[str, list[ox.Triple] | _Ready]]:
        """The buffered records (after the deriving thread, if any, is done), buffer emptied."""
        self._settle()
        if not self._derive_buffer or not self.derives or self.index is None:
            return []
        with self._pending_lock:
            buffered = list(self._derive_buffer.items())
            self._derive_buffer.clear()
        return buffered

    def _flush_derived(self) -> int:
        """Apply buffered graph replacements, then queue their documents."""
        buffered = self._take_buffer()
        return self._derive_entries(buffered) if buffered else 0

    def _flush_derived_in_thread(self) -> None:
        """Start a thread doing `_flush_derived`; the next flush, or _settle, waits for it."""
        buffered = self._take_buffer()
        if buffered:
            self._derived_in_batch += len(buffered)
            self._derive_every = derive_group(self._derived_in_batch)
            assert self.index is not None
            # One index commit for the group, as for a group of DERIVE_EVERY (the previous
            # thread is done: _take_buffer waited for it).
            self.index.flush_every = max(indexer.FLUSH_EVERY, len(buffered))
            self._deriver = InBackground(self._derive_entries, buffered, name="memoria-derive")

    def _derive_entries(self, buffered: list[tuple[str, list[ox.Triple] | _Ready]]) -> int:
        """Replace the records' graphs (the bulk loader for new ones), then queue documents.

        In a large group, documents that need nothing of the store (made by a worker, for a
        record with no parent) go to the index while the store loads.
        """
        assert self.index is not None
        graphs = [(self.minter.graph(rid), entry.nquads if isinstance(entry, _Ready) else entry)
                  for rid, entry in buffered]
        if len(buffered) < LOAD_BESIDE_INDEX_FROM:
            # If this raises, the records stay on the pending queue; sync() derives them again.
            self.rdf.replace_graphs(graphs)
            self._index_entries(buffered)
            return len(buffered)
        alone = [(rid, entry) for rid, entry in buffered
                 if isinstance(entry, _Ready) and not entry.copies.parents]
        rest = [(rid, entry) for rid, entry in buffered
                if not isinstance(entry, _Ready) or entry.copies.parents]
        loading = InBackground(self.rdf.replace_graphs, graphs, name="memoria-store-load")
        self._store_loading = loading  # _indexed waits for it (see there)
        try:
            self._index_entries(alone)  # no parent: nothing is asked of the store
        finally:
            loading.join()
            self._store_loading = None
        loading.wait()  # what the load raised
        self._index_entries(rest)
        return len(buffered)

    def _index_entries(self, entries: Sequence[tuple[str, list[ox.Triple] | _Ready]]) -> None:
        """Queue the entries' documents, placed in their hierarchies (asked of the store)."""
        assert self.index is not None
        # Made after the store update, so hierarchies see every graph of this flush. Siblings
        # share their ancestors: the store is asked once per parent, not once per record.
        above: dict[str, tuple[list[str], str | None]] = {}
        is_part_of = ox.NamedNode(str(DCTERMS.isPartOf))
        for rid, entry in entries:
            graph: RecordGraph | None = None
            if isinstance(entry, _Ready):
                parents: list[str] = list(entry.copies.parents)
            else:
                # The light graph answers the document's rdflib-style calls at a fraction of
                # the cost of filling an rdflib Graph.
                graph = RecordGraph(entry)
                parents = [p.value for p in
                           graph.values(ox.NamedNode(self.minter.item(rid)), is_part_of)]
            parent = self.minter.record_id_of(parents[0]) if len(parents) == 1 else None
            hierarchy: tuple[list[str], str | None] | None = None
            if not parents:
                hierarchy = ([], rid)  # what ancestors_of answers for a record with no parent
            elif parent is not None:
                if parent not in above:
                    above[parent] = self.ancestors_of(parent)
                ancestors, top = above[parent]
                if rid not in ancestors and parent != rid:  # a cycle is asked about directly
                    hierarchy = ([parent, *ancestors], top)
            if graph is None:
                assert isinstance(entry, _Ready)
                self.index.add(self._placed(rid, entry.copies.document, hierarchy),
                               entry.copies.fields)
            else:
                self.index.add(self.document(rid, graph, hierarchy))

    @contextmanager
    def deferring(self) -> Iterator[None]:
        """Within the block, derive saved records in groups (RDF store and index in bulk).

        Queries of the RDF store (children, collection_of, ids) may lag behind storage until
        the block ends or `flush()` is called; `get` reads storage for pending records.
        """
        if not self._deferring:
            self._derive_every, self._derived_in_batch = DERIVE_EVERY, 0
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
            if not self._deferring:
                self._flush_derived()
                if self.index is not None:
                    self.index.flush_every = indexer.FLUSH_EVERY

    def document(self, rid: str, graph: Graph | RecordGraph,
                 hierarchy: tuple[list[str], str | None] | None = None) -> dict[str, Any]:
        """The search document of a record (the one function in search/ makes it).

        `hierarchy` is what `ancestors_of(rid)` would answer, when the caller knows it already.
        """
        from search.document import record_document

        ancestors, top = hierarchy if hierarchy is not None else self.ancestors_of(rid)
        # A RecordGraph answers every rdflib Graph call record_document makes.
        return record_document(graph, rid, self.minter,  # type: ignore[arg-type]
                               collection=top, ancestors=ancestors)

    def _placed(self, rid: str, document: dict[str, Any],
                hierarchy: tuple[list[str], str | None] | None) -> dict[str, Any]:
        """A document made without its hierarchy, given it: what `document` would make."""
        from search.document import place_in_hierarchy

        ancestors, top = hierarchy if hierarchy is not None else self.ancestors_of(rid)
        placed = dict(document)
        place_in_hierarchy(placed, top, ancestors)
        return placed

    def ancestors_of(self, rid: str) -> tuple[list[str], str | None]:
        """The ids of every record above one (any order) and the top of its hierarchy."""
        if not self.derives:
            return [], None
        rows = self.rdf.query(  # one query for both: documents are made in bulk at ingest
            "PREFIX dcterms: <http://purl.org/dc/terms/> SELECT ?up ?top WHERE { "
            f"<{self.minter.item(rid)}> dcterms:isPartOf+ ?up . "
            "BIND(NOT EXISTS { ?up dcterms:isPartOf ?higher } AS ?top) }"
        )
        ancestors: list[str] = []
        top = rid
        for row in rows:  # type: ignore[union-attr]
            up = self.minter.record_id_of(row["up"].value)
            if up:
                ancestors.append(up)
                if row["top"].value == "true":
                    top = up
        return ancestors, top

    def collection_of(self, rid: str) -> str | None:
        """The top of a record's archival hierarchy (itself when it has no parent)."""
        if not self.derives:
            return None
        rows = list(self.rdf.query(  # type: ignore[arg-type]
            "PREFIX dcterms: <http://purl.org/dc/terms/> SELECT ?top WHERE { "
            f"<{self.minter.item(rid)}> dcterms:isPartOf* ?top . "
            "FILTER NOT EXISTS { ?top dcterms:isPartOf ?up } } LIMIT 1"
        ))
        return self.minter.record_id_of(rows[0]["top"].value) if rows else rid

    def flush(self) -> int:
        """Derive buffered records and send buffered index documents now.

        The pipeline calls this at the end of a batch.
        """
        self._flush_derived()
        return self.index.flush() if self.index is not None else 0

    def sync(self) -> int:
        """Derive every queued record once (after a crash, an index outage, or another process)."""
        if not self.derives:
            return 0
        queued = self.state.pending(limit=10_000_000)
        with self.deferring():
            for rid in queued:
                self._derive(rid)
        self.flush()
        return len(queued) - self.state.pending_count()

    def rebuild(self, pyramids: bool = True) -> RebuildReport:
        """Recreate the RDF store (and the image pyramids) from storage alone."""
        self._settle()
        if not self.derives:
            raise RdfStoreError("the RDF store is in use by another process; stop it first")
        self.rdf.destroy()
        self.rdf.open()
        counts = {"records": 0, "withdrawn": 0}

        def graphs() -> Iterator[tuple[str, list]]:
            for rid in sorted(self.storage.ids()):
                triples = self._stored_triples(rid)
                if triples is None:
                    counts["withdrawn"] += 1
                    continue
                counts["records"] += 1
                yield self.minter.graph(rid), triples

        loaded = self.rdf.bulk_load(graphs())
        for rid in self.state.pending(limit=1_000_000):
            self.state.clear_pending(rid)
        report = RebuildReport(counts["records"], counts["withdrawn"], loaded)
        report.indexed = self.rebuild_index()
        if pyramids:
            # The old pyramids are moved aside and deleted after the build: deleting first
            # would make every file the build creates pay ext4's scan of freed inodes.
            old = self.settings.pyramid_dir.with_name(
                f"{self.settings.pyramid_dir.name}.old-{uuid.uuid4().hex}")
            with contextlib.suppress(FileNotFoundError):
                os.rename(self.settings.pyramid_dir, old)
            jobs = [job for rid in self.ids() for job in self._image_jobs(rid)]
            report.pyramids, report.pyramid_errors = self.pyramids.build_all(jobs)
            # With any tree an interrupted rebuild left aside.
            for stale in old.parent.glob(f"{self.settings.pyramid_dir.name}.old-*"):
                shutil.rmtree(stale, ignore_errors=True)
        return report

    def rebuild_index(self) -> int:
        """Build a fresh search index from the RDF store (itself derived from storage)."""
        self._settle()
        if not self.derives or self.index is None:
            raise RdfStoreError("the RDF store is in use by another process; stop it first")
        backend = self.index.backend
        documents = (self.document(rid, self.rdf.graph(self.minter.graph(rid)))
                     for rid in self.ids())
        rebuild = getattr(backend, "rebuild", None)
        if rebuild is not None:
            # Elasticsearch: a new index behind the alias, swapped in when complete.
            count = int(rebuild(documents))
        else:
            backend.reset()
            count = backend.index(documents)
        backend.refresh()
        for rid in self.state.pending(limit=10_000_000):
            if not self.is_withdrawn(rid) and self.rdf.has_graph(self.minter.graph(rid)):
                self.state.clear_pending(rid)
        return count

    def search(self, query: SearchQuery) -> SearchResult:
        """Run a search on the index."""
        if self.index is None:
            raise RdfStoreError("search is not available in this process")
        return self.index.backend.search(query)

    def suggest(self, prefix: str, size: int = 10) -> list[tuple[str, int]]:
        """Autocomplete suggestions for a prefix."""
        if self.index is None:
            return []
        return self.index.backend.suggest(prefix, size)

    # -- reading -----------------------------------------------------------------------------

    def is_withdrawn(self, rid: str) -> bool:
        """Tell whether a record's head version is a withdrawal."""
        return WITHDRAWN_PATH in self.storage.state(rid)

    def get(self, rid: str, from_store: Callable[[str], Graph] | None = None) -> Record | None:
        """A record by id from the RDF store (or storage, if the store lags), or None.

        `from_store` reads a named graph from the RDF store in another form than an rdflib
        graph (the item pages take a RecordGraph); storage is read as always.
        """
        if not is_record_id(rid):
            return None
        head = self.storage.head(rid)
        if head is None:
            return None
        if self.is_withdrawn(rid):
            return Record(rid, head, Graph(), withdrawn=True)
        if self.store_holds(rid):
            graph = (from_store or self.rdf.graph)(self.minter.graph(rid))
        else:
            stored = self.storage.read(rid, RECORD_PATH)
            graph = parse_stored_graph(stored, self.settings.base_url)
            if PROVENANCE_PATH in self.storage.state(rid):
                graph += parse_stored_graph(self.storage.read(rid, PROVENANCE_PATH),
                                            self.settings.base_url)
        return Record(rid, head, graph)

    def store_holds(self, rid: str) -> bool:
        """Whether the RDF store holds the record's current version (derived, not pending)."""
        if not (self.derives and self.rdf.has_graph(self.minter.graph(rid))):
            return False
        row = self.state.conn.execute("SELECT 1 FROM pending WHERE record_id = ?", (rid,))
        return row.fetchone() is None

    def history(self, rid: str) -> list[VersionInfo]:
        """Every stored version of a record, oldest first."""
        return self.storage.versions(rid) if self.storage.exists(rid) else []

    def ids(self) -> list[str]:
        """Ids of every published (not withdrawn) record, sorted."""
        prefix = self.minter.graph("")
        names = self.rdf.graph_names() if self.derives else set()
        if not self.derives:
            return sorted(r for r in self.storage.ids() if not self.is_withdrawn(r))
        return sorted(n[len(prefix):] for n in names if n.startswith(prefix))

    def children(self, rid: str) -> list[tuple[str, int | None]]:
        """(id, order) of the records directly below a record in the archival hierarchy."""
        if not self.derives:
            return []
        # Every item page asks for its parent's parts (previous / next), a series can hold
        # thousands, and the store changes seldom: keep answers until the store's next write.
        key = (rid, id(self.rdf), self.rdf.version)
        with self._children_lock:
            kept = self._children.get(key)
            if kept is not None:
                self._children.move_to_end(key)
                return list(kept)
        out = self._query_children(rid)
        with self._children_lock:
            self._children[key] = tuple(out)
            while len(self._children) > CHILDREN_KEPT:
                self._children.popitem(last=False)
        return out

    def _query_children(self, rid: str) -> list[tuple[str, int | None]]:
        parent = self.minter.item(rid)
        rows = self.rdf.query(
            "PREFIX dcterms: <http://purl.org/dc/terms/> "
            "PREFIX mem: <https://w3id.org/memoria/ns#> "
            f"SELECT ?child ?order WHERE {{ ?child dcterms:isPartOf <{parent}> . "
            "OPTIONAL { ?child mem:order ?order } } ORDER BY ?order ?child"
        )
        out: list[tuple[str, int | None]] = []
        for row in rows:  # type: ignore[union-attr]
            child_id = self.minter.record_id_of(row["child"].value)
            order = row["order"]
            if child_id:
                out.append((child_id, int(order.value) if order is not None else None))
        return out

    def image_owner(self, image_id: str) -> str | None:
        """The record that holds an image id, or None."""
        if not self.derives or not is_image_id(image_id):
            return None
        self._flush_derived()  # the answer must see records saved earlier in this batch
        literal = json.dumps(image_id)
        rows = list(self.rdf.query(  # type: ignore[arg-type]
            "PREFIX mem: <https://w3id.org/memoria/ns#> "
            f"SELECT ?g WHERE {{ GRAPH ?g {{ ?r mem:imageId {literal} }} }} LIMIT 1"
        ))
        if not rows:
            return None
        prefix = self.minter.graph("")
        return rows[0]["g"].value[len(prefix):]

    def fixity(self) -> FixityReport:
        """Re-check every digest in storage."""
        return self.storage.fixity()
