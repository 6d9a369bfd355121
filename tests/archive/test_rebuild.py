"""Derived copies come back from storage alone: delete the RDF store, rebuild, compare graphs."""

from __future__ import annotations

import shutil
from pathlib import Path

from rdflib.compare import isomorphic

from archive.service import Archive
from archive.settings import Settings, load_settings
from ingest.mapping import load_mapping
from ingest.pipeline import run_batch
from ingest.registry import get_reader


def _ingest(archive: Archive, source: Path) -> None:
    run_batch(archive, get_reader("csv"), source / "records.csv",
              options={"mapping": load_mapping(source / "mapping.toml"), "images_dir": source})


def test_rebuild_from_empty_gives_isomorphic_graphs(settings: Settings,
                                                    sample_source: Path) -> None:
    with Archive(settings).open() as archive:
        _ingest(archive, sample_source)
        archive.withdraw("museo-I2", "test")
        before = {rid: archive.get(rid).graph for rid in archive.ids()}  # type: ignore[union-attr]
        names_before = archive.rdf.graph_names()
    shutil.rmtree(settings.rdf_dir)
    assert not settings.rdf_dir.exists()
    with Archive(settings).open() as archive:
        assert archive.ids() == []
        report = archive.rebuild()
        assert (report.records, report.withdrawn) == (3, 1)
        assert archive.rdf.graph_names() == names_before
        assert sorted(before) == archive.ids()
        for rid, graph in before.items():
            rebuilt = archive.get(rid)
            assert rebuilt is not None
            assert isomorphic(rebuilt.graph, graph), rid
        assert archive.children("museo-S1") == [("museo-I1", 1)]


def test_rebuild_under_a_new_base_url_moves_every_uri(settings: Settings,
                                                      sample_source: Path) -> None:
    with Archive(settings).open() as archive:
        _ingest(archive, sample_source)
    moved = load_settings({"home": str(settings.home), "base_url": "https://archivo.oaxaca.example",
                           "fsync": False}, environ={})
    with Archive(moved).open() as archive:
        archive.rebuild()
        record = archive.get("museo-I1")
        assert record is not None
        uris = {str(s) for s in record.graph.subjects()}
        assert "https://archivo.oaxaca.example/item/museo-I1" in uris
        assert not any(u.startswith("http://memoria.test") for u in uris)


def test_records_saved_while_the_store_is_held_are_queued_then_synced(
        settings: Settings, sample_source: Path) -> None:
    holder = Archive(settings).open()
    try:
        with Archive(settings).open() as second:
            assert not second.derives
            _ingest(second, sample_source)
            assert second.state.pending_count() == 4
            record = second.get("museo-I1")
            assert record is not None and len(record.graph) > 0
        assert holder.ids() == []
        assert holder.sync() == 4
        assert holder.ids() == ["museo-F1", "museo-I1", "museo-I2", "museo-S1"]
        assert holder.state.pending_count() == 0
    finally:
        holder.close()


def test_rebuild_command(runner, sample_source: Path) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke("ingest", str(sample_source / "records.csv"), "--mapping",
                           str(sample_source / "mapping.toml"))
    assert result.exit_code == 0, result.output
    shutil.rmtree(runner.settings.rdf_dir)
    result = runner.invoke("rebuild")
    assert result.exit_code == 0
    assert "4 records" in result.output


def test_rebuild_makes_the_pyramids_again_and_leaves_no_old_tree(settings: Settings,
                                                                  sample_source: Path) -> None:
    with Archive(settings).open() as archive:
        _ingest(archive, sample_source)
        built = sorted(p.relative_to(settings.pyramid_dir)
                       for p in settings.pyramid_dir.rglob("*") if p.is_file())
        assert built
        stray = settings.pyramid_dir / "not-an-image"
        stray.mkdir()
        report = archive.rebuild()
        assert report.pyramids == 2 and not report.pyramid_errors
        after = sorted(p.relative_to(settings.pyramid_dir)
                       for p in settings.pyramid_dir.rglob("*") if p.is_file())
        # Moved aside and deleted after the build: only the records' pyramids are there.
        assert after == built and not stray.exists()
        assert [p.name for p in settings.pyramid_dir.parent.iterdir()
                if p.name.startswith(settings.pyramid_dir.name + ".old-")] == []
