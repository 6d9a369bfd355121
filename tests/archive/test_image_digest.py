"""A new image is read and hashed once before storage: the pyramid build's digest serves all."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import archive.service
import archive.storage
from archive.pyramids import SOURCE_DIGEST_FILE
from archive.service import Archive
from archive.settings import Settings
from ingest.mapping import load_mapping
from ingest.pipeline import run_batch
from ingest.registry import get_reader


def test_one_digest_per_new_image(settings: Settings, sample_source: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    hashed: list[Path] = []
    storage_digest, service_digest = archive.storage._file_digest, archive.service._digest

    def storage_spy(path: Path, algorithm: str) -> str:
        hashed.append(path)
        return storage_digest(path, algorithm)

    def service_spy(data: bytes | Path, algorithm: str) -> str:
        if isinstance(data, Path):
            hashed.append(data)
        return service_digest(data, algorithm)

    monkeypatch.setattr(archive.storage, "_file_digest", storage_spy)
    monkeypatch.setattr(archive.service, "_digest", service_spy)
    options = {"mapping": load_mapping(sample_source / "mapping.toml"),
               "images_dir": sample_source}
    with Archive(settings).open() as arch:
        first = run_batch(arch, get_reader("csv"), sample_source / "records.csv", options=options)
        again = run_batch(arch, get_reader("csv"), sample_source / "records.csv", options=options)
        assert first.counts()["created"] == 4 and again.counts()["unchanged"] == 4
        # Neither storage nor the unchanged check read an image again in this process.
        assert hashed == []
        expected = hashlib.new(settings.digest, (sample_source / "I1.jpg").read_bytes())
        assert arch.storage.state("museo-I1")["files/I1.jpg"] == expected.hexdigest()
        marker = settings.pyramid_dir / "I1" / SOURCE_DIGEST_FILE
        assert marker.read_text().strip() == f"{settings.digest}:{expected.hexdigest()}"
        stored = arch.storage.content_path("museo-I1", "files/I1.jpg").read_bytes()
        assert stored == (sample_source / "I1.jpg").read_bytes()


def test_a_digest_of_another_algorithm_is_not_trusted(tmp_path: Path) -> None:
    storage = archive.storage.Storage(tmp_path / "ocfl", tmp_path / "work", digest="sha512",
                                      fsync=False)
    storage.open()
    image = tmp_path / "a.bin"
    image.write_bytes(b"image bytes")
    request = archive.storage.WriteRequest(
        "demo-1", {"files/a.bin": image}, "test", digests={"files/a.bin": "sha256:00"})
    storage.write_many([request])
    assert storage.state("demo-1")["files/a.bin"] == hashlib.sha512(b"image bytes").hexdigest()
    # A wrong digest of the right algorithm is caught by the verified copy.
    other = tmp_path / "b.bin"
    other.write_bytes(b"other bytes")
    with pytest.raises(archive.storage.StorageError, match="changed while"):
        storage.write_many([archive.storage.WriteRequest(
            "demo-2", {"files/b.bin": other}, "test", digests={"files/b.bin": "sha512:00"})])
