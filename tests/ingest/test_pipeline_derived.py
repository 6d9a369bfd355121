"""Derived copies made in a worker equal what the parent made from record.ttl, for the corpus."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox
import pytest

from archive.ids import Minter
from archive.rdfio import StoredGraph, parse_stored, serialize_stored
from archive.recordgraph import RecordGraph
from archive.vocab import DCTERMS
from ingest.mapping import load_mapping
from ingest.parallel import derived_copies, map_record
from ingest.reader import ReadContext, SourceRecord
from ingest.registry import get_reader
from ingest.sniff import detect_format
from search.document import record_document
from tests.conftest import BASE_URL, CORPUS

PRESETS = Path(__file__).resolve().parents[2] / "schemas" / "mappings"
MAPPED = {
    "tate_artwork_data_2013.csv": "tate-artworks.toml",
    "palace-museum-beijing_embroidery_zh.csv": "palace-museum-embroidery.toml",
    "shanghai-library_immovable-heritage-sites_zh.json": "shanghai-library-heritage-sites.toml",
}
XML_AND_RDF = sorted(p for folder in ("oai_dc", "ead", "lido", "marcxml", "mets_mods", "edm_rdf",
                                      "iiif")
                     for p in (CORPUS / folder).rglob("*") if p.is_file())
MAX_RECORDS = 300  # per file: enough variety, and the test stays quick


def _check_file(path: Path, reader_name: str, options: dict[str, object]) -> int:
    """Map a file's records; compare each worker-made copy with the parent's way; count them."""
    minter = Minter(BASE_URL)
    context = ReadContext(minter, "Test provider", options)
    reader = get_reader(reader_name)
    checked = 0
    for item in reader.read(path, context):
        if not isinstance(item, SourceRecord) or checked >= MAX_RECORDS:
            continue
        draft = map_record(reader, item, context).draft
        if draft is None:
            continue
        stored = serialize_stored(draft.graph, BASE_URL)
        copies = derived_copies(draft, stored, minter)
        rid = draft.record_id
        # The parent's way: record.ttl parsed back, the document made from that graph.
        triples = parse_stored(stored, BASE_URL)
        graph = RecordGraph(triples)
        assert copies.document == record_document(graph, rid, minter), (path, rid)  # type: ignore[arg-type]
        parents = graph.values(ox.NamedNode(minter.item(rid)), ox.NamedNode(str(DCTERMS.isPartOf)))
        assert copies.parents == tuple(p.value for p in parents)
        has_blank = any(isinstance(t.subject, ox.BlankNode) or isinstance(t.object, ox.BlankNode)
                        for t in triples)
        if has_blank:
            assert copies.nquads is None
        else:
            assert copies.nquads is not None
            quads = list(ox.parse(copies.nquads, format=ox.RdfFormat.N_QUADS))
            assert {q.graph_name for q in quads} == {ox.NamedNode(minter.graph(rid))}
            assert sorted(str(q.triple) for q in quads) == sorted(str(t) for t in triples)
        checked += 1
    return checked


@pytest.mark.parametrize("path", XML_AND_RDF, ids=lambda p: str(p.relative_to(CORPUS)))
def test_worker_copies_equal_the_parents_for_xml_and_rdf(path: Path) -> None:
    checked = _check_file(path, detect_format(path), {})
    assert checked >= 0  # files that hold no records (ListSets) map none


@pytest.mark.parametrize("name", sorted(MAPPED))
def test_worker_copies_equal_the_parents_for_mapped_exports(name: str) -> None:
    path = next(CORPUS.rglob(name))
    mapping = load_mapping(PRESETS / MAPPED[name])
    assert _check_file(path, path.suffix.lstrip("."), {"mapping": mapping}) > 10


def test_a_stored_graph_parses_on_first_use() -> None:
    stored = b'<item/x> <http://purl.org/dc/elements/1.1/title> "T" .\n'
    graph = StoredGraph(stored, BASE_URL)
    assert len(graph) == 1
    assert serialize_stored(graph, BASE_URL).endswith(stored)
