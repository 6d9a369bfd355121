"""Image pyramids of an instance: where they live, when they are current, building them."""

from __future__ import annotations

import hashlib
import multiprocessing
import shutil
from collections.abc import Iterable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rdflib import Graph, Literal

from archive.vocab import EDM, MEM, RDF

# "algorithm:hex" of the master a pyramid was built from; storage reuses the same digest.
SOURCE_DIGEST_FILE = "source.digest"


@dataclass(frozen=True)
class ImageRef:
    """An image of a record: its IIIF identifier and its original's logical path in storage."""

    image_id: str
    logical_path: str


def images_of(graph: Graph) -> list[ImageRef]:
    """The locally stored images of a record graph (remote images have no mem:file)."""
    refs = []
    for resource in graph.subjects(RDF.type, EDM.WebResource):
        image_id = graph.value(resource, MEM.imageId)
        logical = graph.value(resource, MEM.file)
        if isinstance(image_id, Literal) and isinstance(logical, Literal):
            refs.append(ImageRef(str(image_id), str(logical)))
    return sorted(refs, key=lambda r: r.image_id)


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The digest of a file, read in chunks."""
    h = hashlib.new(algorithm)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _build(master: str, dest: str, max_pixels: int, algorithm: str) -> tuple[bool, str]:
    from iiif.pyramid import build_pyramid

    digest = f"{algorithm}:{file_digest(Path(master), algorithm)}"
    marker = Path(dest) / SOURCE_DIGEST_FILE
    if marker.is_file() and marker.read_text().strip() == digest:
        return False, digest
    build_pyramid(Path(master), Path(dest), max_pixels=max_pixels)
    marker.write_text(digest + "\n")
    return True, digest


def build_if_stale(master: str, dest: str, max_pixels: int, algorithm: str = "sha512") -> bool:
    """Build the pyramid of master into dest unless it is built from the same bytes already.

    Runs in a worker process; returns True when it built.
    """
    return _build(master, dest, max_pixels, algorithm)[0]


def build_and_digest(master: str, dest: str, max_pixels: int, algorithm: str) -> str:
    """Like build_if_stale, but returns the master's digest ("algorithm:hex").

    The ingest hands it to storage, so a new image is read and hashed once before it is
    copied (the copy itself is still verified against it).
    """
    return _build(master, dest, max_pixels, algorithm)[1]


class _Inline(Executor):
    """Runs jobs in the calling thread: for one worker, or a single image."""

    def submit(self, fn, /, *args, **kwargs):
        future: Future[object] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)
        return future


class Pyramids:
    """The pyramids directory of an instance: one subdirectory per image identifier."""

    def __init__(self, root: Path, max_pixels: int, workers: int,
                 algorithm: str = "sha512") -> None:
        self.root = root
        self.max_pixels = max_pixels
        self.workers = workers
        self.algorithm = algorithm
        self._pool: Executor | None = None

    def path(self, image_id: str) -> Path:
        """The pyramid directory of an image (the id is checked before it gets here)."""
        return self.root / image_id

    def executor(self) -> Executor:
        """A pool of worker processes (spawned, so no store handle or thread is inherited)."""
        if self._pool is None:
            if self.workers > 1:
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
            else:
                self._pool = _Inline()
        return self._pool

    def submit(self, image_id: str, master: Path) -> Future[bool]:
        """Build (if stale) the pyramid of one image, in the pool."""
        self.root.mkdir(parents=True, exist_ok=True)
        return self.executor().submit(build_if_stale, str(master), str(self.path(image_id)),
                                      self.max_pixels, self.algorithm)

    def submit_digest(self, image_id: str, master: Path) -> Future[str]:
        """Build (if stale) the pyramid of one image in the pool; the future holds its digest."""
        self.root.mkdir(parents=True, exist_ok=True)
        return self.executor().submit(build_and_digest, str(master), str(self.path(image_id)),
                                      self.max_pixels, self.algorithm)

    def build_all(self, jobs: Iterable[tuple[str, Path]]) -> tuple[int, list[str]]:
        """Build many pyramids in parallel; returns (built, errors)."""
        futures = {image_id: self.submit(image_id, master) for image_id, master in jobs}
        built, errors = 0, []
        for image_id, future in futures.items():
            try:
                built += bool(future.result())
            except Exception as exc:  # noqa: BLE001 - reported per image, the rest go on
                errors.append(f"{image_id}: {exc}")
        return built, errors

    def remove(self, image_id: str) -> None:
        """Delete an image's pyramid (it is derived; rebuild brings it back)."""
        shutil.rmtree(self.path(image_id), ignore_errors=True)

    def close(self) -> None:
        """Stop the worker processes."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
