"""Every file of the shared corpus through `memoria ingest --dry-run --format auto`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive.cli import EXIT_REJECTED, main
from tests.conftest import CORPUS

PRESETS = Path(__file__).resolve().parents[2] / "schemas" / "mappings"
# Exports with a mapping preset: run again with it, as an archivist would.
PRESET_OF = {
    "tate_artwork_data_2013.csv": "tate-artworks.toml",
    "palace-museum-beijing_embroidery_zh.csv": "palace-museum-embroidery.toml",
    "unesco_whc_sites_2019.csv": "unesco-whc-sites.toml",
    "shanghai-library_immovable-heritage-sites_zh.json": "shanghai-library-heritage-sites.toml",
    "dila_taisho-canon_catalogue_zh.json": "dila-taisho-canon.toml",
    "inah_mediateca_oai_dc.json": "inah-mediateca-oai-dc.toml",
}
SOURCES = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix != ".md")


def ingest(home: Path, path: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--home", str(home), "ingest", "--dry-run", "--format",
                                       "auto", "--json", *extra, str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        path, result.output, result.exception)
    return result.exit_code, result.output


def assert_explained(path: Path, output: str) -> dict[str, object]:
    report = json.loads(output)
    counts = report["counts"]
    assert counts["input"] == counts["accepted"] + counts["rejected"]
    for rejection in report["rejected"]:
        assert rejection["source"] and rejection["position"] and rejection["reason"], rejection
    return dict(report)


@pytest.mark.parametrize("path", [*SOURCES, CORPUS / "images"],
                         ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_file_ingests_or_says_why_not(tmp_path: Path, path: Path) -> None:
    status, output = ingest(tmp_path / "home", path)
    if status == 2:
        # A usage error, never a crash: what to pass is said.
        assert (("needs a mapping file" in output and path.suffix in (".csv", ".tsv", ".json"))
                or "not a folder, CSV, JSON, RDF or XML source" in output), output
        return
    assert status in (0, EXIT_REJECTED), output
    report = assert_explained(path, output)
    assert report["counts"]["input"] >= 1  # type: ignore[index]
    if status == EXIT_REJECTED and path.name == "harvard_listsets_oai_dc.xml":
        assert "ListSets response holds no records" in output


@pytest.mark.parametrize("name", sorted(PRESET_OF))
def test_exports_with_a_preset_ingest_with_it(tmp_path: Path, name: str) -> None:
    [path] = [p for p in SOURCES if p.name == name]
    status, output = ingest(tmp_path / "home", path, "--mapping", str(PRESETS / PRESET_OF[name]))
    assert status in (0, EXIT_REJECTED), output
    report = assert_explained(path, output)
    counts = report["counts"]
    assert counts["accepted"] > 0 and counts["accepted"] >= counts["rejected"], counts  # type: ignore[index]
