"""A batch can be undone completely; later work on the same records is not thrown away."""

from __future__ import annotations

import re
from pathlib import Path

from rdflib import Literal

from archive.vocab import DC


def ingest(runner, source: Path):  # type: ignore[no-untyped-def]
    result = runner.invoke("ingest", str(source / "records.csv"), "--mapping",
                           str(source / "mapping.toml"))
    assert result.exit_code == 0, result.output
    match = re.search(r"batch (\S+):", result.output)
    assert match
    return match.group(1)


def test_undo_withdraws_created_and_restores_updated(runner, sample_source: Path) -> None:  # type: ignore[no-untyped-def]
    first = ingest(runner, sample_source)
    csv_path = sample_source / "records.csv"
    csv_path.write_text(csv_path.read_text().replace("Temples series", "Series of temples")
                        + "I3,Nuevo,New,1900,,,,,,CC0,S1,3,item,\n")
    second = ingest(runner, sample_source)
    result = runner.invoke("ingest", "--undo", second)
    assert result.exit_code == 0, result.output
    assert "1 withdrawn, 1 restored, 0 left" in result.output

    from archive.service import Archive
    with Archive(runner.settings).open() as archive:
        assert archive.ids() == ["museo-F1", "museo-I1", "museo-I2", "museo-S1"]
        assert archive.get("museo-I3").withdrawn  # type: ignore[union-attr]
        series = archive.get("museo-S1")
        assert series is not None
        assert Literal("Temples series", lang="en") in set(series.graph.objects(None, DC.title))
        assert [v.version for v in archive.history("museo-S1")] == ["v1", "v2", "v3"]
        assert archive.state.batch(second).status == "undone"  # type: ignore[union-attr]
    again = runner.invoke("ingest", "--undo", second)
    assert again.exit_code == 1
    assert "undone already" in again.output
    listing = runner.invoke("batches")
    assert first in listing.output and "undone" in listing.output


def test_undo_leaves_records_changed_since(runner, sample_source: Path) -> None:  # type: ignore[no-untyped-def]
    first = ingest(runner, sample_source)
    csv_path = sample_source / "records.csv"
    csv_path.write_text(csv_path.read_text().replace("Oaxaca fonds", "Fonds of Oaxaca"))
    ingest(runner, sample_source)
    result = runner.invoke("ingest", "--undo", first)
    assert result.exit_code == 0, result.output
    assert "3 withdrawn, 0 restored, 1 left" in result.output
    assert "museo-F1: changed since this batch (v1 -> v2)" in result.output


def test_undo_of_unknown_batch_is_a_clear_error(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke("ingest", "--undo", "20990101T000000Z-000000")
    assert result.exit_code == 1
    assert "no batch 20990101T000000Z-000000" in result.output
