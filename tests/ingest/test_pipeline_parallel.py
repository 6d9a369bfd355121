"""Mapping in worker processes gives the very batch that mapping in the parent gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import ingest.parallel
from archive.service import RECORD_PATH, Archive
from archive.settings import load_settings
from ingest.mapping import load_mapping
from ingest.pipeline import BatchReport, run_batch
from ingest.registry import get_reader
from tests.archive.test_storage import assert_valid_root
from tests.conftest import BASE_URL, CORPUS, SAMPLE_CSV

# Bad rows of every kind between good ones: a reader rejection (field count), a mapping
# rejection (order), a check failure is not reachable from CSV, a duplicate identifier.
EXTRA_ROWS = (
    "X1,Solo,Alone,1900,,,,,,CC0,,1,item,\n"
    "X2,Corta\n"
    "X3,Orden,Order,1901,,,,,,CC0,F1,second,item,\n"
    "X1,Otra vez,Again,1902,,,,,,CC0,,1,item,\n"
    + "".join(f"Y{n},Objeto {n},Object {n},{1800 + n},,,,,,CC0,S1,{n},item,\n"
              for n in range(40))
)


def _ingest(home: Path, reader: str, source: Path, **options: Any) -> tuple[BatchReport,
                                                                          dict[str, bytes]]:
    """Ingest; the stored record.ttl of each record, with its document and RDF store graph."""
    settings = load_settings({"home": str(home), "base_url": BASE_URL, "fsync": False},
                             environ={})
    documents: dict[str, dict[str, Any]] = {}
    with Archive(settings).open() as archive:
        assert archive.index is not None
        add = archive.index.add

        def kept(document: dict[str, Any], prepared: Any = None) -> None:
            documents[document["id"]] = document
            add(document, prepared)

        archive.index.add = kept  # type: ignore[method-assign]
        report = run_batch(archive, get_reader(reader), source, options=options)
        # Objects staged ahead by workers were published or removed with the batch's area.
        assert list(settings.work_dir.joinpath("staging").iterdir()) == []
        assert list(settings.work_dir.joinpath("locks").glob("area-*")) == []
        assert_valid_root(settings.storage_root)
        stored = {}
        for a in report.accepted:
            graph = archive.rdf.graph(archive.minter.graph(a.record_id))
            # Only the batch id and the ingest time may differ between two runs.
            statements = sorted(f"{s} {p} {o}" for s, p, o in graph
                                if not p.endswith(("endedAtTime", "#batch")))
            stored[a.record_id] = archive.storage.read(a.record_id, RECORD_PATH) + \
                repr((statements, documents[a.record_id])).encode()
    return report, stored


def _same(inline: BatchReport, pooled: BatchReport) -> None:
    assert pooled.counts() == inline.counts()
    assert [(a.record_id, a.position, a.action, a.warnings) for a in pooled.accepted] == \
        [(a.record_id, a.position, a.action, a.warnings) for a in inline.accepted]
    assert pooled.rejected == inline.rejected
    assert pooled.warnings == inline.warnings


def _run_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: str, source: Path,
              **options: Any) -> tuple[BatchReport, dict[str, bytes], int]:
    inline, inline_stored = _ingest(tmp_path / "inline", reader, source, **options)
    monkeypatch.setattr(ingest.parallel, "PARALLEL_AFTER", 2)
    monkeypatch.setattr(ingest.parallel, "CHUNK", 3)
    in_workers: list[int] = []
    close = ingest.parallel.RecordMapper.close

    def counted(self: ingest.parallel.RecordMapper) -> None:
        in_workers.append(self.in_workers)
        close(self)

    monkeypatch.setattr(ingest.parallel.RecordMapper, "close", counted)
    staged: list[str] = []
    save_many = Archive.save_many

    def saved(self: Archive, items: Any, pyramids_built: bool = False,
              ahead: dict[str, Any] | None = None) -> Any:
        staged.extend(ahead or {})
        return save_many(self, items, pyramids_built, ahead)

    monkeypatch.setattr(Archive, "save_many", saved)
    pooled, pooled_stored = _ingest(tmp_path / "pooled", reader, source, **options)
    assert len(in_workers) == 1
    # Every new record without images mapped in a worker came with its object staged ahead.
    assert 0 < len(staged) <= in_workers[0]
    _same(inline, pooled)
    assert pooled_stored == inline_stored
    return pooled, pooled_stored, in_workers[0]


def test_csv_in_workers(tmp_path: Path, sample_source: Path,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    (sample_source / "records.csv").write_text(SAMPLE_CSV + EXTRA_ROWS, encoding="utf-8")
    report, stored, in_workers = _run_both(tmp_path, monkeypatch, "csv",
                                           sample_source / "records.csv",
                                           mapping=load_mapping(sample_source / "mapping.toml"),
                                           images_dir=sample_source)
    assert report.input == 4 + 4 + 40
    assert [r.position for r in report.rejected] == ["line 7", "line 8", "line 9"]
    assert "second" in report.rejected[1].reason and "duplicate" in report.rejected[2].reason
    assert len(stored) == 45 and b"files/I1.jpg" in stored["museo-I1"]
    # Every record the reader yielded after the first two was mapped in a worker (the two
    # rows the reader itself refused never leave the parent).
    assert in_workers == report.input - 2 - 2


def test_dc_in_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = CORPUS / "oai_dc" / "eur_dspace_listrecords_oai_dc_2003.xml"
    report, stored, in_workers = _run_both(tmp_path, monkeypatch, "dc", source)
    assert report.input >= 3 and len(stored) == len(report.accepted) >= 3
    assert in_workers == report.input - 2
