"""The shared pipeline on CSV and folder sources: counts, rejections, idempotency, provenance."""

from __future__ import annotations

import json
from pathlib import Path

from rdflib import Literal, URIRef

from archive.service import Archive
from archive.settings import Settings
from archive.vocab import DC, DCTERMS, EDM, MEM
from ingest.mapping import load_mapping
from ingest.pipeline import BatchReport, report_path, run_batch
from ingest.registry import get_reader
from tests.conftest import SAMPLE_CSV, write_image


def ingest_csv(archive: Archive, folder: Path, csv_name: str = "records.csv",
               dry_run: bool = False, **options: object) -> BatchReport:
    opts = {"mapping": load_mapping(folder / "mapping.toml"), "images_dir": folder, **options}
    return run_batch(archive, get_reader("csv"), folder / csv_name, options=opts, dry_run=dry_run)


def test_csv_ingest_accepts_all_and_builds_the_hierarchy(settings: Settings,
                                                         sample_source: Path) -> None:
    with Archive(settings).open() as archive:
        report = ingest_csv(archive, sample_source)
        assert report.counts() == {"input": 4, "accepted": 4, "rejected": 0, "created": 4}
        assert archive.ids() == ["museo-F1", "museo-I1", "museo-I2", "museo-S1"]
        assert archive.children("museo-S1") == [("museo-I1", 1), ("museo-I2", 2)]
        assert archive.children("museo-F1") == [("museo-S1", 1)]
        record = archive.get("museo-I2")
        assert record is not None
        cho = URIRef(archive.minter.item("museo-I2"))
        assert Literal("Basílica de la Soledad, fachada", lang="es") in set(
            record.graph.objects(cho, DC.title))
        assert (cho, MEM.level, Literal("item")) in record.graph
        assert (cho, DCTERMS.isPartOf, URIRef(archive.minter.item("museo-S1"))) in record.graph
        image = URIRef(archive.minter.image("I2"))
        assert (None, EDM.isShownBy, image) in record.graph
        # Provenance: source file, position, batch, reader.
        assert Literal("line 5") in set(record.graph.objects(None, MEM.position))
        assert Literal(report.batch_id) in set(record.graph.objects(None, MEM.batch))
        assert Literal("csv 1.0") in set(record.graph.objects(None, MEM.reader))
        # Storage keeps the source as received: the header and the row's own line.
        source = archive.storage.read("museo-I2", "source/record.csv").decode()
        assert source.splitlines() == [SAMPLE_CSV.splitlines()[0], SAMPLE_CSV.splitlines()[4]]
        assert archive.storage.read("museo-I2", "files/I2.png")[:4] == b"\x89PNG"


def test_same_input_twice_changes_nothing(settings: Settings, sample_source: Path) -> None:
    with Archive(settings).open() as archive:
        ingest_csv(archive, sample_source)
        again = ingest_csv(archive, sample_source)
        assert again.counts() == {"input": 4, "accepted": 4, "rejected": 0, "unchanged": 4}
        assert [v.version for v in archive.history("museo-I1")] == ["v1"]
        assert len(archive.ids()) == 4


def test_a_changed_row_makes_a_new_version_and_keeps_the_old(settings: Settings,
                                                            sample_source: Path) -> None:
    with Archive(settings).open() as archive:
        ingest_csv(archive, sample_source)
        csv_path = sample_source / "records.csv"
        csv_path.write_text(csv_path.read_text().replace("Temples series", "Series of temples"))
        report = ingest_csv(archive, sample_source)
        assert report.counts()["updated"] == 1
        assert [v.version for v in archive.history("museo-S1")] == ["v1", "v2"]
        old = archive.storage.read("museo-S1", "metadata/record.ttl", version="v1").decode()
        assert "Temples series" in old
        record = archive.get("museo-S1")
        assert record is not None
        assert Literal("Series of temples", lang="en") in set(record.graph.objects(None, DC.title))


BAD_ROWS = """inv,titulo,title,fecha,autor,temas,lugar,lat,lon,derechos,padre,orden,nivel,imagen
A1,Bueno,Good,1900,,,,,,CC0,,,,
,Sin identificador,No id,1900,,,,,,CC0,,,,
A2,Coordenadas,Bad coordinates,1900,,,Lugar,123,456,CC0,,,,
A1,Duplicado,Duplicate,1900,,,,,,CC0,,,,
A3,Pocas columnas,Too few fields
A4,Nivel,Bad level,1900,,,,,,CC0,,,drawer,
A5,Imagen,Missing image,1900,,,,,,CC0,,,,nowhere.jpg
A6,Imagen,Not an image,1900,,,,,,CC0,,,,fake.jpg
A7,Orden,Bad order,1900,,,,,,CC0,,x,,
A8,Derechos,Odd rights,1900,,,,,,mine all mine,,,,
"""


def test_bad_rows_are_rejected_with_position_and_reason(settings: Settings,
                                                        sample_source: Path) -> None:
    (sample_source / "bad.csv").write_text(BAD_ROWS, encoding="utf-8")
    (sample_source / "fake.jpg").write_text("not really a jpeg")
    with Archive(settings).open() as archive:
        report = ingest_csv(archive, sample_source, "bad.csv")
    assert report.input == 10
    assert len(report.accepted) + len(report.rejected) == report.input
    accepted = {a.record_id for a in report.accepted}
    assert accepted == {"museo-A1", "museo-A8"}
    reasons = {r.position: r.reason for r in report.rejected}
    assert "empty identifier" in reasons["line 3"]
    assert "coordinates out of range" in reasons["line 4"]
    assert "duplicate identifier 'A1', first at line 2" in reasons["line 5"]
    assert "row has 3 fields, the header has 14" in reasons["line 6"]
    assert "level 'drawer'" in reasons["line 7"]
    assert "nowhere.jpg not found" in reasons["line 8"]
    assert "fake.jpg is not a readable image" in reasons["line 9"]
    assert "order 'x' is not a whole number" in reasons["line 10"]
    assert all(r.source.endswith("bad.csv") for r in report.rejected)
    odd = next(a for a in report.accepted if a.record_id == "museo-A8")
    assert any("Copyright Not Evaluated" in w for w in odd.warnings)


def test_wrong_encoding_rejects_the_file_with_the_byte(settings: Settings,
                                                       sample_source: Path) -> None:
    (sample_source / "latin1.csv").write_bytes(
        "inv,titulo\nB1,Canción\n".encode("latin-1"))
    with Archive(settings).open() as archive:
        report = ingest_csv(archive, sample_source, "latin1.csv")
        assert report.input == 1 and len(report.rejected) == 1
        assert "line 2" in report.rejected[0].position
        assert "--encoding" in report.rejected[0].reason
        fixed = ingest_csv(archive, sample_source, "latin1.csv", encoding="latin-1")
        assert fixed.counts()["created"] == 1
        record = archive.get("museo-B1")
        assert record is not None
        assert Literal("Canción", lang="es") in set(record.graph.objects(None, DC.title))


def test_dry_run_stores_nothing(settings: Settings, sample_source: Path) -> None:
    with Archive(settings).open() as archive:
        report = ingest_csv(archive, sample_source, dry_run=True)
        assert report.counts() == {"input": 4, "accepted": 4, "rejected": 0, "valid": 4}
        assert archive.ids() == []
        assert list(archive.storage.ids()) == []


def test_report_is_written_as_json(settings: Settings, sample_source: Path) -> None:
    with Archive(settings).open() as archive:
        report = ingest_csv(archive, sample_source)
        data = json.loads(report_path(archive, report.batch_id).read_text())
        batch = archive.state.batch(report.batch_id)
        assert batch is not None and batch.status == "done" and batch.accepted == 4
        assert len(archive.state.batch_records(report.batch_id)) == 4
    assert data["counts"]["accepted"] == 4
    assert {a["record_id"] for a in data["accepted"]} == {
        "museo-F1", "museo-S1", "museo-I1", "museo-I2"}
    assert data["warnings"] == []


def test_unmapped_columns_are_warned_about(settings: Settings, sample_source: Path) -> None:
    csv_path = sample_source / "extra.csv"
    csv_path.write_text("inv,titulo,color\nC1,Rojo,red\n", encoding="utf-8")
    with Archive(settings).open() as archive:
        report = ingest_csv(archive, sample_source, "extra.csv")
    assert any("color" in w and "not in the mapping" in w for w in report.warnings)


def test_folder_ingest_names_images_by_file_name(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "scans"
    write_image(folder / "AHM-0042.tif", (400, 300))
    write_image(folder / "AHM-0043.jpg", (300, 400))
    (folder / "sidecar.csv").write_text(
        "identifier,file,title,date,rights\nAHM-0042,AHM-0042.tif,Plano de la ciudad,1790,CC0\n",
        encoding="utf-8")
    with Archive(settings).open() as archive:
        report = run_batch(archive, get_reader("folder"), folder)
        assert report.counts() == {"input": 2, "accepted": 2, "rejected": 0, "created": 2}
        assert archive.image_owner("AHM-0042") == "files-AHM-0042"
        assert archive.image_owner("AHM-0043") == "files-AHM-0043"
        bare = next(a for a in report.accepted if a.record_id == "files-AHM-0043")
        assert any("no metadata row" in w for w in bare.warnings)
        # The same file name from another source is a clash: a clear error, nothing lost.
        other = tmp_path / "other"
        write_image(other / "AHM-0042.jpg", (10, 10))
        clash = run_batch(archive, get_reader("folder"), other, options={"namespace": "otro"})
        assert len(clash.rejected) == 1
        assert "already used by record files-AHM-0042" in clash.rejected[0].reason
        assert archive.image_owner("AHM-0042") == "files-AHM-0042"


def test_undo_removes_the_withdrawn_pyramids_after_its_writes(settings: Settings,
                                                              sample_source: Path) -> None:
    from archive.pyramids import images_of
    from ingest.undo import undo_batch

    with Archive(settings).open() as archive:
        report = run_batch(archive, get_reader("csv"), sample_source / "records.csv",
                           options={"mapping": load_mapping(sample_source / "mapping.toml"),
                                    "images_dir": sample_source})
        ids = [image.image_id for a in report.accepted
               for image in images_of(archive.get(a.record_id).graph)]  # type: ignore[union-attr]
        assert len(ids) == 2 and all(archive.pyramids.path(i).exists() for i in ids)
        removed: list[tuple[str, int]] = []
        remove = archive.pyramids.remove
        writes = 0
        original_write = archive.storage.write

        def counting_write(*args, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal writes
            writes += 1
            return original_write(*args, **kwargs)

        archive.storage.write = counting_write  # type: ignore[method-assign]
        archive.pyramids.remove = (  # type: ignore[method-assign]
            lambda image_id: (removed.append((image_id, writes)), remove(image_id))[1])
        undone = undo_batch(archive, report.batch_id)
        assert sorted(undone.withdrawn) == sorted(a.record_id for a in report.accepted)
        # Every pyramid went, and only after the last storage write of the undo.
        assert sorted(i for i, _ in removed) == sorted(ids)
        assert {at for _, at in removed} == {writes}
        assert not any(archive.pyramids.path(i).exists() for i in ids)
