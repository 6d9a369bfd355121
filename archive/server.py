"""The production server: gunicorn with one primary worker that writes and reader workers.

Oxigraph allows one process per store directory (pyoxigraph 0.5 has no secondary mode, and
`Store.read_only` on a directory another process writes is undefined behaviour). So one worker,
the primary (whoever takes the lock file first), owns the RDF store and the search-index writer
and derives what other processes queue; after every change it publishes a snapshot of the
store (`Store.backup`: a RocksDB checkpoint of hard links, a few ms). The other workers open the
newest snapshot read-only — immutable, so reading it is well defined — and reopen it, and reload
the Tantivy reader, on the same sync interval. Workers for every core, not one GIL for all.
"""

from __future__ import annotations

import dataclasses
import fcntl
import gc
import mmap
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import IO, Any

import pyoxigraph as ox
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger
from gunicorn.workers.gthread import ThreadWorker

from archive.indexer import IndexFeed
from archive.rdfstore import RdfStore, RdfStoreError
from archive.service import Archive
from archive.settings import Settings
from archive.site.page_cache import forget_pages, page_cache_folder

SYNC_INTERVAL_SECONDS = 2.0
THREADS_PER_WORKER = 4
# Gunicorn's default: a client's connection stays with the worker that accepted it this long.
KEEPALIVE_SECONDS = 2
# A superseded snapshot is kept this long, so a reader still holding it finishes its requests.
SNAPSHOT_GRACE_SECONDS = 60.0
KEEP_SNAPSHOTS = 2
# Like Apache's MaxKeepAliveRequests (100) and nginx's keepalive_requests: a client's
# connection is closed after this many answers, so it reconnects to the least busy worker.
MAX_REQUESTS_PER_CONNECTION = 100
# Worker slots in the shared load table (more than any server runs).
LOAD_SLOTS = 64
# A worker that is not the least busy looks again this often for a sibling gone quiet.
ACCEPT_RECHECK_SECONDS = 0.05
# A reader lists the snapshot folder again after this long even if its stat looks unchanged
# (a directory's mtime moves in coarse ticks; a rename in the same tick would not show).
SNAPSHOT_RELIST_SECONDS = 0.1
# How long a reader worker waits at start for the primary's first snapshot of this run.
FIRST_SNAPSHOT_WAIT_SECONDS = 60.0
# Gunicorn's default line, plus the worker's pid and whether the page came from the cache.
ACCESS_LOG_FORMAT = ('%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" '
                     '%(p)s page-cache=%({x-page-cache}o)s')


class Snapshots:
    """Published read-only copies of the RDF store, named by creation time (newest last)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # (folder stat, when listed, newest snapshot) of the last listing (see latest_seen).
        self._seen: tuple[tuple[int, int, int], float, Path | None] | None = None

    def all(self) -> list[Path]:
        """Every complete snapshot, oldest first."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if p.is_dir() and p.name.isdigit())

    def latest(self) -> Path | None:
        """The newest complete snapshot, or None."""
        snaps = self.all()
        return snaps[-1] if snaps else None

    def latest_seen(self) -> Path | None:
        """latest(), listed again only when the folder changed or SNAPSHOT_RELIST_SECONDS
        passed: every request asks (the page cache's data token), and a listing costs ~35 us
        of CPU against ~3 for a stat."""
        try:
            st = os.stat(self.root)
        except OSError:
            return None
        stamp = (st.st_mtime_ns, st.st_nlink, st.st_ino)
        now = time.monotonic()
        seen = self._seen
        if seen is not None and seen[0] == stamp and now - seen[1] < SNAPSHOT_RELIST_SECONDS:
            return seen[2]
        latest = self.latest()
        self._seen = (stamp, now, latest)
        return latest

    def publish(self, store: ox.Store) -> Path:
        """Checkpoint the store into a new snapshot (renamed into place when complete)."""
        self.root.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}"
        tmp = self.root / f".tmp-{name}-{os.getpid()}"
        store.backup(str(tmp))
        final = self.root / name
        tmp.rename(final)
        self.prune()
        return final

    def prune(self) -> None:
        """Remove snapshots superseded for longer than the grace period (and stale temps)."""
        if not self.root.is_dir():
            return
        now = time.time_ns()
        for stale in self.root.glob(".tmp-*"):
            if now - stale.stat().st_mtime_ns > SNAPSHOT_GRACE_SECONDS * 1e9:
                shutil.rmtree(stale, ignore_errors=True)
        snaps = self.all()
        for i, older in enumerate(snaps[:-KEEP_SNAPSHOTS]):
            if now - int(snaps[i + 1].name) > SNAPSHOT_GRACE_SECONDS * 1e9:
                shutil.rmtree(older, ignore_errors=True)


def snapshots_for(settings: Settings) -> Snapshots:
    """The snapshot folder beside the RDF store (same filesystem, so hard links work)."""
    return Snapshots(settings.rdf_dir.parent / "rdf-snapshots")


def index_stamp(archive: Archive) -> tuple[int, int, int] | None:
    """The search index's committed state as every process sees it (None: not knowable).

    Tantivy's commit stamp names a state in any process; Elasticsearch has no such stamp
    (and no cheap equivalent).
    """
    backend = archive.index.backend if archive.index is not None else None
    commit_stamp = getattr(backend, "commit_stamp", None)
    return None if commit_stamp is None else commit_stamp()


class PrimaryArchive(Archive):
    """The writing worker: derives queued records, then publishes a store snapshot."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.snapshots = snapshots_for(settings)
        self._published = False
        # (snapshot name, RDF store version, index stamp) when the last snapshot was taken.
        self._view: tuple[str, int, tuple[int, int, int] | None] | None = None

    def sync(self) -> int:
        """Derive queued records; publish a snapshot at start and whenever anything changed."""
        derived = super().sync()
        # Also after a write made in this process outside the queue (readers must see it).
        written = self._view is not None and self.rdf.version != self._view[1]
        if self.derives and (derived or not self._published or written):
            # Read before the snapshot: a write after them makes the view look changed.
            version, stamp = self.rdf.version, index_stamp(self)
            # The store may have changed while no server ran (an ingest that held it).
            published = self.snapshots.publish(self.rdf.store)
            self._published = True
            self._view = (published.name, version, stamp)
        return derived

    def shared_view(self) -> tuple[str, tuple[int, int, int]] | None:
        """The data this worker reads, named as every worker names it; None while it moves."""
        view = self._view
        if view is None:
            return None
        name, version, stamp = view
        # Unchanged since the snapshot: the store is what the snapshot holds.
        if stamp is None or self.rdf.version != version or index_stamp(self) != stamp:
            return None
        return (name, stamp)


class SnapshotRdfStore(RdfStore):
    """A read-only RDF store opened on the newest published snapshot."""

    def __init__(self, path: Path, snapshots: Snapshots) -> None:
        super().__init__(path)
        self.snapshots = snapshots
        self.current: Path | None = None

    def open(self) -> None:
        """Open (or move to) the newest snapshot; raise if none is published yet."""
        latest = self.snapshots.latest()
        if latest is None:
            raise RdfStoreError("no RDF store snapshot is published yet")
        if latest != self.current:
            # Requests still running keep the old store object alive until they finish.
            self._store = ox.Store.read_only(str(latest))
            self.current = latest
            self.version += 1

    def close(self) -> None:
        """Forget the snapshot (nothing to flush: it is read-only)."""
        self._store = None
        self.current = None


class ReaderArchive(Archive):
    """A reading worker: searches the shared index, reads the newest RDF store snapshot."""

    def __init__(self, settings: Settings, not_before_ns: int = 0) -> None:
        super().__init__(settings)
        self.snapshots = snapshots_for(settings)
        self.snapshot_rdf = SnapshotRdfStore(settings.rdf_dir, self.snapshots)
        self.rdf = self.snapshot_rdf
        self.not_before_ns = not_before_ns
        self._index_view: tuple[int, int, int] | None = None

    def _wait_for_first_snapshot(self) -> None:
        # A snapshot left by an earlier run may be stale, and without one the hierarchy is
        # unknown: wait (not accepting requests yet) until this run's primary has published.
        deadline = time.monotonic() + FIRST_SNAPSHOT_WAIT_SECONDS
        while time.monotonic() < deadline:
            latest = self.snapshots.latest()
            if latest is not None and int(latest.name) >= self.not_before_ns:
                return
            time.sleep(0.1)

    def open(self, derive: bool = True) -> Archive:
        """Open storage, state, a search reader and this run's RDF snapshot."""
        from search.factory import create_backend

        self.settings.home.mkdir(parents=True, exist_ok=True)
        self.storage.open()
        self.state.open()
        backend = create_backend(self.settings.search, self.settings.index_dir,
                                 self.settings.elasticsearch_url,
                                 alias=self.settings.elasticsearch_index)
        self.index = IndexFeed(backend, on_indexed=lambda ids: None)
        self._wait_for_first_snapshot()
        return self

    def sync(self) -> int:
        """Move to the newest snapshot and reload the index reader; derives nothing itself."""
        try:
            self.rdf.open()
            # "derives" here means "reads the RDF store"; writes never reach this process.
            self.derives = True
        except RdfStoreError:
            self.derives = False  # records are read from storage until a snapshot exists
        if self.index is not None:
            # Taken before the reload: a commit in between makes the view look out of date
            # (see shared_view), never newer than it is.
            stamp = index_stamp(self)
            self.index.backend.refresh()
            self._index_view = stamp
        return 0

    def shared_view(self) -> tuple[str, tuple[int, int, int]] | None:
        """The data this worker reads, named as every worker names it; None if not the newest."""
        current, stamp = self.snapshot_rdf.current, self._index_view
        if current is None or stamp is None or current != self.snapshots.latest_seen():
            return None
        if index_stamp(self) != stamp:
            return None
        return (current.name, stamp)

    def _derive(self, rid: str, triples: list[ox.Triple] | None = None,
                ready: object = None) -> bool:
        return False  # the primary derives; the record stays queued for it

    def _flush_derived(self) -> int:
        return 0


class PrimaryLock:
    """An exclusive lock file: the worker that holds it is the primary."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[bytes] | None = None

    def acquire(self) -> bool:
        """Take the lock without waiting; True if this process is now the primary."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("ab")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        self._fh = fh  # held for the life of the process; released when it exits
        return True


_PRIMARY_LOCK: PrimaryLock | None = None


def open_worker_archive(settings: Settings, started_ns: int = 0) -> Archive:
    """The primary's archive if this worker takes the lock, otherwise a reader's."""
    global _PRIMARY_LOCK
    lock = PrimaryLock(settings.home / "server-primary.lock")
    if lock.acquire():
        _PRIMARY_LOCK = lock
        return PrimaryArchive(settings).open()
    return ReaderArchive(settings, not_before_ns=started_ns).open()


class AccessLogger(Logger):
    """Gunicorn's logger, with only the access-log atoms ACCESS_LOG_FORMAT uses.

    Gunicorn makes an atom of every request header, response header and WSGI environ key
    (about a hundred, each escaped) for every line: ~7 % of a busy worker's CPU here.
    The line is the same.
    """

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any
              ) -> dict[str, Any]:
        """The atoms of ACCESS_LOG_FORMAT, made as gunicorn makes them."""
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        page_cache = "-"
        for name, value in resp.headers:
            if name.lower() == "x-page-cache":
                page_cache = value
        sent = getattr(resp, "sent", None)
        return {
            "h": environ.get("REMOTE_ADDR", "-"),
            "l": "-",
            "u": self._get_user(environ) or "-",
            "t": self.now(),
            "r": f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} "
                 f"{environ['SERVER_PROTOCOL']}",
            "s": status,
            "b": str(sent) if sent is not None else "-",
            "f": environ.get("HTTP_REFERER", "-"),
            "a": environ.get("HTTP_USER_AGENT", "-"),
            "p": f"<{os.getpid()}>",
            "{x-page-cache}o": page_cache,
        }


class LoadTable:
    """Each worker's requests in hand (queued or running), in memory the workers share.

    Made by the server process before it forks; a worker's slot is given by the server
    process (pre_fork) and emptied when the worker exits (child_exit).
    """

    IDLE = 1 << 30  # an empty slot's load: never the least

    def __init__(self, slots: int = LOAD_SLOTS) -> None:
        self._mem = mmap.mmap(-1, 4 * slots)  # anonymous and shared across fork
        self.loads = memoryview(self._mem).cast("i")
        for i in range(slots):
            self.loads[i] = self.IDLE
        self.owner: dict[int, int] = {}  # slot -> worker pid (kept by the server process)

    def claim(self) -> int:
        """A free slot for the next worker (in the server process, before the fork)."""
        slot = next(i for i in range(len(self.loads)) if i not in self.owner)
        self.owner[slot] = -1
        self.loads[slot] = 0
        return slot

    def release(self, slot: int) -> None:
        """Empty a gone worker's slot (in the server process)."""
        self.owner.pop(slot, None)
        self.loads[slot] = self.IDLE

    def least(self) -> int:
        """The smallest load of any live worker."""
        return min(self.loads)


_LOADS: LoadTable | None = None


class BalancedThreadWorker(ThreadWorker):
    """Gunicorn's threaded worker, balanced across the workers of a server.

    With keep-alive a connection stays with the worker that accepted it, and all workers
    accept from one socket, whoever is first: one worker could carry most of the busy
    connections while another idled. So a worker listens for new connections only while it
    has no more requests in hand than the least busy worker (the others then take them), and
    closes a connection after MAX_REQUESTS_PER_CONNECTION answers, as Apache and nginx do, so
    clients move to whichever worker is least busy when they reconnect.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_hand = 0
        self.load_slot: int | None = None  # given by the server process before the fork
        self.connection_requests = max_requests_per_connection()

    def _publish_load(self) -> None:
        if _LOADS is not None and self.load_slot is not None:
            _LOADS.loads[self.load_slot] = self.in_hand

    def _least_busy(self) -> bool:
        return _LOADS is None or self.load_slot is None or self.in_hand <= _LOADS.least()

    def set_accept_enabled(self, enabled: bool) -> None:
        """Listen only when gunicorn would and this worker is (one of) the least busy."""
        super().set_accept_enabled(enabled and self.alive and self._least_busy())

    def _recheck_accept(self) -> None:
        self.set_accept_enabled(self.nr_conns < self.worker_connections)

    def enqueue_req(self, conn: Any) -> None:
        """Count the request in hand, then hand it to a thread."""
        self.in_hand += 1
        self._publish_load()
        self._recheck_accept()
        super().enqueue_req(conn)

    def finish_request(self, conn: Any, fs: Any) -> None:
        """Count the request done (kept-alive connections come back as new requests)."""
        self.in_hand -= 1
        self._publish_load()
        super().finish_request(conn, fs)
        self._recheck_accept()

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        """Look again before each wait; not listening, look again soon (a sibling may be idle)."""
        self._recheck_accept()
        if not self._accepting and self.alive:
            timeout = min(timeout, ACCEPT_RECHECK_SECONDS)
        super().wait_for_and_dispatch_events(timeout)

    def handle_request(self, req: Any, conn: Any) -> Any:
        """Answer; the connection's last answer (of MAX_REQUESTS_PER_CONNECTION) closes it."""
        served = getattr(conn, "memoria_served", 0) + 1
        conn.memoria_served = served
        if served >= self.connection_requests:
            req.must_close = True  # "Connection: close" on this answer
        return super().handle_request(req, conn)


def _claim_load_slot(server: Any, worker: Any) -> None:
    if _LOADS is not None:
        worker.load_slot = _LOADS.claim()


def _release_load_slot(server: Any, worker: Any) -> None:
    slot = getattr(worker, "load_slot", None)
    if _LOADS is not None and slot is not None:
        _LOADS.release(slot)


class MemoriaServer(BaseApplication):
    """Gunicorn with Memoria's app factory, built inside each worker."""

    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        # Set before the workers fork: readers wait for a snapshot published after it.
        self.started_ns = time.time_ns()
        global _LOADS
        _LOADS = LoadTable()  # before the fork, so every worker shares it
        super().__init__()

    def load_config(self) -> None:
        """Pass our options to gunicorn's config."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        """Build the app in the worker (nothing is opened before the fork)."""
        from archive.web import create_app

        archive = open_worker_archive(self.settings, self.started_ns)
        if isinstance(archive, PrimaryArchive) and self.settings.page_cache_mb > 0:
            # Before any reader serves: each waits for the snapshot create_app publishes.
            forget_pages(page_cache_folder(self.settings), self.settings.page_cache_mb << 20)
        app = create_app(self.settings, sync_interval=SYNC_INTERVAL_SECONDS, archive=archive)
        freeze_startup_objects()
        return app


def freeze_startup_objects() -> None:
    """Move what start-up made (modules, the app, the open stores) out of the collector's
    sight: a full collection over them stalled every thread of the worker for ~0.1 s."""
    gc.collect()
    gc.freeze()


def _env_int(name: str, default: int, least: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) >= least else default


def threads_per_worker() -> int:
    """Threads of each worker: THREADS_PER_WORKER, or MEMORIA_SERVER_THREADS (for A/B runs)."""
    return _env_int("MEMORIA_SERVER_THREADS", THREADS_PER_WORKER, 1)


def keepalive_seconds() -> int:
    """Seconds an idle connection is kept open: KEEPALIVE_SECONDS, or MEMORIA_SERVER_KEEPALIVE
    (for A/B runs; 0 closes every connection after its answer)."""
    return _env_int("MEMORIA_SERVER_KEEPALIVE", KEEPALIVE_SECONDS, 0)


def max_requests_per_connection() -> int:
    """Answers a kept-alive connection gets before it is closed: MAX_REQUESTS_PER_CONNECTION,
    or MEMORIA_SERVER_CONNECTION_REQUESTS (for A/B runs; 0: no limit)."""
    value = _env_int("MEMORIA_SERVER_CONNECTION_REQUESTS", MAX_REQUESTS_PER_CONNECTION, 0)
    return value or 1 << 62


def server_options(settings: Settings, host: str, port: int) -> dict[str, Any]:
    """Gunicorn options: `workers` processes of a few threads each."""
    return {
        "bind": f"{host}:{port}",
        "workers": settings.workers,
        "threads": threads_per_worker(),
        "keepalive": keepalive_seconds(),
        "worker_class": worker_class(),
        "pre_fork": _claim_load_slot,
        "child_exit": _release_load_slot,
        "accesslog": "-",
        "access_log_format": ACCESS_LOG_FORMAT,
        "logger_class": f"{__name__}.AccessLogger",
        "timeout": 120,
        "graceful_timeout": 10,
    }


def worker_class() -> str:
    """BalancedThreadWorker, or gunicorn's own gthread with MEMORIA_SERVER_BALANCE=0 (A/B)."""
    if os.environ.get("MEMORIA_SERVER_BALANCE", "").strip() == "0":
        return "gthread"
    return f"{__name__}.BalancedThreadWorker"


def run_server(settings: Settings, host: str, port: int) -> None:
    """Serve until interrupted."""
    if not settings.secret_key:
        # One key for every worker (made before the fork), or each would sign differently.
        settings = dataclasses.replace(settings, secret_key=secrets.token_hex(32))
    options = server_options(settings, host, port)
    print(f"Memoria serving {settings.home} on http://{host}:{port}/ with {settings.workers} "
          f"workers (public URL {settings.base_url})", flush=True)
    MemoriaServer(settings, options).run()
