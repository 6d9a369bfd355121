"""The Archive: the one door the web and the CLI use to save, read, withdraw and rebuild records."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rdflib import Graph, Literal, URIRef

from archive.ids import Minter, is_image_id, is_record_id
from archive.indexer import IndexFeed
from archive.pyramids import Pyramids, images_of
from archive.rdfio import ox_to_graph, parse_stored, parse_stored_graph, serialize_stored
from archive.rdfstore import RdfStore, RdfStoreError
from archive.record import RecordDraft
from archive.settings import Settings
from archive.state import StateDb, utc_now
from archive.storage import FixityReport, Storage, VersionInfo
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
        self.state = StateDb(settings.state_db)
        self.pyramids = Pyramids(settings.pyramid_dir, settings.max_image_pixels,
                                 settings.workers)
        self.index: IndexFeed | None = None
        self.derives = False

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

    def _indexed(self, ids: list[str]) -> None:
        for rid in ids:
            self.state.clear_pending(rid)

    def close(self) -> None:
        """Release everything this archive opened (after sending what the index still lacks)."""
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

    def _provenance_graph(self, rid: str, prov: Provenance) -> Graph:
        g = Graph(bind_namespaces="none")
        entity = URIRef(self.minter.graph(rid))
        activity = URIRef(f"{self.minter.graph(rid)}#ingest")
        g.add((entity, RDF.type, PROV.Entity))
        g.add((entity, PROV.wasGeneratedBy, activity))
        g.add((entity, DCTERMS.source, Literal(prov.source)))
        g.add((entity, MEM.position, Literal(prov.position)))
        g.add((activity, RDF.type, PROV.Activity))
        g.add((activity, MEM.batch, Literal(prov.batch_id)))
        g.add((activity, MEM.reader, Literal(f"{prov.reader} {prov.reader_version}")))
        g.add((activity, PROV.endedAtTime, Literal(utc_now(), datatype=XSD.dateTime)))
        return g

    def _files_for(self, draft: RecordDraft) -> dict[str, bytes | Path]:
        ext = SOURCE_EXTENSIONS.get(draft.source_media_type, "txt")
        files: dict[str, bytes | Path] = {
            f"{SOURCE_PREFIX}.{ext}": draft.source_bytes,
            RECORD_PATH: serialize_stored(draft.graph, self.settings.base_url),
        }
        for image in draft.images:
            files[f"files/{image.name}"] = image.source
        return files

    def _unchanged(self, rid: str, files: dict[str, bytes | Path]) -> str | None:
        head = self.storage.head(rid)
        if head is None:
            return None
        state = {k: v for k, v in self.storage.state(rid).items() if k != PROVENANCE_PATH}
        if set(state) != set(files):
            return None
        for path, data in files.items():
            if _digest(data, self.settings.digest) != state[path]:
                return None
        return head

    def save(self, draft: RecordDraft, provenance: Provenance,
             pyramids_built: bool = False) -> SaveResult:
        """Save a validated record: storage first (the commit point), then derived copies.

        The ingest pipeline builds pyramids in parallel before saving and says so; any other
        caller gets them built here.
        """
        rid = draft.record_id
        files = self._files_for(draft)
        same_version = self._unchanged(rid, files)
        if same_version is not None:
            return SaveResult(rid, same_version, "unchanged", derived=False)
        existed = self.storage.exists(rid)
        prov_graph = self._provenance_graph(rid, provenance)
        files[PROVENANCE_PATH] = serialize_stored(prov_graph, self.settings.base_url)
        self.state.mark_pending(rid)
        result = self.storage.write(
            rid, files, message=f"ingest batch {provenance.batch_id} ({provenance.position})",
            user_name=f"memoria {provenance.reader}",
        )
        derived = self._derive(rid)
        if not pyramids_built:
            for image in draft.images:
                self.pyramids.submit(image.image_id, image.source).result()
        return SaveResult(rid, result.version, "updated" if existed else "created", derived)

    def withdraw(self, rid: str, reason: str, batch_id: str | None = None) -> str | None:
        """Withdraw a record: a new version that keeps the history but publishes nothing."""
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
            self.pyramids.remove(image.image_id)
        return result.version

    def restore(self, rid: str, version: str, reason: str) -> str:
        """Make an earlier version current again, as a new version (history only grows)."""
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

    def _derive(self, rid: str) -> bool:
        """Bring the RDF store and the index in line with storage; False if it must wait.

        The record leaves the pending queue when its index document has been sent (the feed
        flushes in bulk), so a crash or an unreachable index leaves it queued, never lost.
        """
        if not self.derives or self.index is None:
            return False
        triples = self._stored_triples(rid)
        graph_name = self.minter.graph(rid)
        if triples is None:
            self.rdf.remove_graph(graph_name)
            if self.index.delete([rid]):
                self.state.clear_pending(rid)
            return True
        self.rdf.replace_graph(graph_name, triples)
        self.index.add(self.document(rid, ox_to_graph(triples)))
        return True

    def document(self, rid: str, graph: Graph) -> dict[str, Any]:
        """The search document of a record (the one function in search/ makes it)."""
        from search.document import record_document

        return record_document(graph, rid, self.minter, collection=self.collection_of(rid))

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
        """Send buffered index documents now (the pipeline calls this at the end of a batch)."""
        return self.index.flush() if self.index is not None else 0

    def sync(self) -> int:
        """Derive every queued record once (after a crash, an index outage, or another process)."""
        if not self.derives:
            return 0
        queued = self.state.pending(limit=10_000_000)
        for rid in queued:
            self._derive(rid)
        self.flush()
        return len(queued) - self.state.pending_count()

    def rebuild(self, pyramids: bool = True) -> RebuildReport:
        """Recreate the RDF store (and the image pyramids) from storage alone."""
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
            shutil.rmtree(self.settings.pyramid_dir, ignore_errors=True)
            jobs = [job for rid in self.ids() for job in self._image_jobs(rid)]
            report.pyramids, report.pyramid_errors = self.pyramids.build_all(jobs)
        return report

    def rebuild_index(self) -> int:
        """Build a fresh search index from the RDF store (itself derived from storage)."""
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

    def get(self, rid: str) -> Record | None:
        """A record by id from the RDF store (or storage, if the store lags), or None."""
        if not is_record_id(rid):
            return None
        head = self.storage.head(rid)
        if head is None:
            return None
        if self.is_withdrawn(rid):
            return Record(rid, head, Graph(), withdrawn=True)
        graph_name = self.minter.graph(rid)
        if self.derives and self.rdf.has_graph(graph_name) and not self._is_pending(rid):
            graph = self.rdf.graph(graph_name)
        else:
            stored = self.storage.read(rid, RECORD_PATH)
            graph = parse_stored_graph(stored, self.settings.base_url)
            if PROVENANCE_PATH in self.storage.state(rid):
                graph += parse_stored_graph(self.storage.read(rid, PROVENANCE_PATH),
                                            self.settings.base_url)
        return Record(rid, head, graph)

    def _is_pending(self, rid: str) -> bool:
        row = self.state.conn.execute("SELECT 1 FROM pending WHERE record_id = ?", (rid,))
        return row.fetchone() is not None

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
