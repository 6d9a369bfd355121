"""--format auto: every corpus file is told by name and first bytes; the unknown is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.sniff import UnknownFormatError, detect_format
from tests.conftest import CORPUS

EXPECTED_BY_FOLDER = {"csv": "csv", "ead": "ead", "edm_rdf": "rdf", "lido": "lido",
                      "marcxml": "marcxml", "mets_mods": "mets", "oai_dc": "dc"}


@pytest.mark.parametrize("folder", sorted(EXPECTED_BY_FOLDER))
def test_corpus_files_by_folder(folder: str) -> None:
    for path in sorted((CORPUS / folder).iterdir()):
        assert detect_format(path) == EXPECTED_BY_FOLDER[folder], path


def test_iiif_manifests_and_plain_json() -> None:
    for path in sorted((CORPUS / "iiif").iterdir()):
        assert detect_format(path) == "iiif", path
    for path in [*(CORPUS / "json").iterdir(), *(CORPUS / "oai_harvest_json").iterdir()]:
        assert detect_format(path) == "json", path


def test_a_folder_is_a_folder(tmp_path: Path) -> None:
    assert detect_format(tmp_path) == "folder"


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("a.tsv", "x\ty\n", "csv"),
    ("a.ttl", "@prefix dc: <http://purl.org/dc/elements/1.1/> .", "rdf"),
    ("a.jsonld", "{}", "rdf"),
    ("a.nt", "", "rdf"),
    ("a.jsonl", '{"a": 1}\n', "json"),
    ("rdf.xml", '<?xml version="1.0"?><!-- c --><rdf:RDF '
                'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>', "rdf"),
    ("marc.xml", '<collection xmlns="http://www.loc.gov/MARC21/slim"><record><leader>x'
                 "</leader></record></collection>", "marcxml"),
    ("marc-plain.xml", "<record><leader>00000nam</leader></record>", "marcxml"),
    ("lido.xml", '<lido:lido xmlns:lido="http://www.lido-schema.org"/>', "lido"),
    ("mods.xml", '<mods xmlns="http://www.loc.gov/mods/v3"/>', "mets"),
    ("ead.xml", '<?xml version="1.0"?>\n<!DOCTYPE ead PUBLIC "x" "ead.dtd">\n<ead/>', "ead"),
    ("dc.xml", '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"/>', "dc"),
    ("oai-mods.xml", '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><request '
                     'verb="ListRecords" metadataPrefix="mods">u</request></OAI-PMH>', "mets"),
    ("oai-lido.xml", '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords>'
                     '<record><metadata><lido xmlns="http://www.lido-schema.org"/>', "lido"),
    ("bom.xml", '\ufeff<ead xmlns="urn:isbn:1-931666-22-9"/>', "ead"),
])
def test_small_samples(tmp_path: Path, name: str, content: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert detect_format(path) == expected


@pytest.mark.parametrize(("name", "content", "words"), [
    ("a.xml", "<html><body/></html>", "root <html>"),
    ("a.bin", "\x00\x01binary", "not a folder, CSV, JSON, RDF or XML"),
    ("oai.xml", '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><Identify/></OAI-PMH>',
     "metadata format could not be told"),
    ("e.xml", "<?xml version='1.0'?>", "no XML root element"),
])
def test_unknown_formats_are_refused_clearly(tmp_path: Path, name: str, content: str,
                                             words: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="name") as info:
        detect_format(path)
    assert isinstance(info.value, UnknownFormatError)
    assert words in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UnknownFormatError, match="cannot read"):
        detect_format(tmp_path / "nothing.xml")
