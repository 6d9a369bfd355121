"""EAD, LIDO and MARCXML batches over 1,000 records: mapped in workers as mapped in the parent.

The XML readers' records travel to the worker processes as raw bytes and are parsed there
again with the hardened parser; what the parent knew about each record (EAD hierarchy and
inherited rights, the xml:lang declared above a LIDO record, the MODS inside a METS) travels
with it. Every record, position, warning and rejection must come out as it does when the
whole batch is mapped in the parent.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from lxml import etree

import ingest.parallel
from archive.ids import Minter
from archive.service import RECORD_PATH, Archive
from archive.settings import load_settings
from bench.bench_ingest_xml_a import make_ead
from bench.bench_ingest_xml_b import synthetic_lido, synthetic_marc
from ingest.parallel import map_record
from ingest.pipeline import BatchReport, run_batch
from ingest.reader import ReadContext, SourceRecord
from ingest.registry import get_reader
from tests.conftest import BASE_URL, CORPUS

RECORDS = 1_050
# Mapped in the parent before the pool starts (the real threshold is 1,000; a lower one puts
# almost the whole batch, and every bad record, in the workers).
IN_PARENT = 20
LIDO_NS = "http://www.lido-schema.org"
MARC_NS = "http://www.loc.gov/MARC21/slim"
BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
                  b'<lido:lido xmlns:lido="http://www.lido-schema.org">&lol2;</lido:lido>')


def _ingest(home: Path, reader: str, source: Path) -> tuple[BatchReport, dict[str, bytes], int]:
    settings = load_settings({"home": str(home), "base_url": BASE_URL, "fsync": False,
                              "workers": 2}, environ={})
    in_workers: list[int] = []
    close = ingest.parallel.RecordMapper.close

    def counted(self: ingest.parallel.RecordMapper) -> None:
        in_workers.append(self.in_workers)
        close(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ingest.parallel.RecordMapper, "close", counted)
        with Archive(settings).open() as archive:
            report = run_batch(archive, get_reader(reader), source)
            stored = {a.record_id: archive.storage.read(a.record_id, RECORD_PATH)
                      for a in report.accepted}
    return report, stored, sum(in_workers)


def _both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: str, source: Path
          ) -> tuple[BatchReport, dict[str, bytes], int]:
    """Ingest the source twice, all in the parent and then mostly in workers; compare."""
    monkeypatch.setattr(ingest.parallel, "PARALLEL_AFTER", 10 ** 9)
    inline, inline_stored, none = _ingest(tmp_path / "inline", reader, source)
    assert none == 0
    monkeypatch.setattr(ingest.parallel, "PARALLEL_AFTER", IN_PARENT)
    pooled, pooled_stored, in_workers = _ingest(tmp_path / "pooled", reader, source)
    assert pooled.counts() == inline.counts()
    assert [(a.record_id, a.position, a.action, a.warnings) for a in pooled.accepted] == \
        [(a.record_id, a.position, a.action, a.warnings) for a in inline.accepted]
    assert pooled.rejected == inline.rejected
    assert pooled.warnings == inline.warnings
    assert pooled_stored == inline_stored
    return pooled, pooled_stored, in_workers


def test_ead_in_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_ead(tmp_path, RECORDS)
    tree = etree.parse(str(source))
    dsc = tree.getroot().find(".//{*}dsc")
    assert dsc is not None
    # A component with no <did>: refused when mapped, in a worker.
    etree.SubElement(dsc, dsc.tag.replace("dsc", "c01"), level="file").append(
        etree.fromstring('<scopecontent xmlns="urn:isbn:1-931666-22-9"><p>x</p></scopecontent>'))
    tree.write(str(source), xml_declaration=True, encoding="utf-8")
    report, stored, in_workers = _both(tmp_path, monkeypatch, "ead", source)
    assert report.input == RECORDS + 1
    assert in_workers == report.input - IN_PARENT
    assert len(report.rejected) == 1 and "has no <did>" in report.rejected[0].reason
    assert report.rejected[0].position.startswith("/ead/archdesc/dsc/c01[")
    # The hierarchy travelled: deep components name their parent and their order.
    part_of = b"<http://purl.org/dc/terms/isPartOf>"
    order = b"<https://w3id.org/memoria/ns#order>"
    assert sum(part_of in ttl and order in ttl for ttl in stored.values()) == RECORDS - 1


def test_lido_in_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "lido.xml"
    synthetic_lido(source, RECORDS)
    text = source.read_bytes()
    # The wrapper declares the language that the records' texts without their own inherit.
    text = text.replace(b"<lido:lidoWrap ", b'<lido:lidoWrap xml:lang="fi" ', 1)
    no_id = (f'<lido:lido xmlns:lido="{LIDO_NS}"><lido:descriptiveMetadata/></lido:lido>\n'
             .encode())
    again = text[text.index(b"<lido:lido ", text.index(b"bench-000005") - 400):]
    again = again[:again.index(b"</lido:lido>") + len(b"</lido:lido>")] + b"\n"
    assert b"bench-000005" in again
    text = text.replace(b"</lido:lidoWrap>", no_id + again + b"</lido:lidoWrap>")
    source.write_bytes(text)
    report, stored, in_workers = _both(tmp_path, monkeypatch, "lido", source)
    assert report.input == RECORDS + 2
    reasons = [r.reason for r in report.rejected]
    assert len(reasons) == 2 and "duplicate lidoRecID" in reasons[1]
    assert "no lidoRecID" in reasons[0]
    # The records are cut from the file unparsed (ingest/xmlsplit.py), so the duplicate too is
    # mapped in a worker and refused as the parent collects it: everything after the first
    # IN_PARENT records was mapped in a worker.
    assert in_workers == report.input - IN_PARENT
    assert any(b'"@fi' in ttl for ttl in stored.values())


def test_marc_in_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "marc.xml"
    synthetic_marc(source, RECORDS)
    no_id = (f'<record xmlns="{MARC_NS}"><leader>00000nam a2200000 a 4500</leader>'
             '<datafield tag="245" ind1="0" ind2="0"><subfield code="a">Untitled</subfield>'
             '</datafield></record>\n').encode()
    again = (f'<record xmlns="{MARC_NS}"><leader>00000nam a2200000 a 4500</leader>'
             '<controlfield tag="001">bench-000005</controlfield></record>\n').encode()
    source.write_bytes(source.read_bytes().replace(b"</collection>",
                                                   no_id + again + b"</collection>"))
    report, stored, in_workers = _both(tmp_path, monkeypatch, "marcxml", source)
    assert report.input == RECORDS + 2
    assert [r.position for r in report.rejected] == [f"/collection/record[{RECORDS + 1}]",
                                                     f"/collection/record[{RECORDS + 2}]"]
    assert "no 001 control number" in report.rejected[0].reason
    assert "duplicate control number" in report.rejected[1].reason
    assert in_workers == report.input - IN_PARENT  # the duplicate too (cut unparsed)
    assert len(stored) == RECORDS


@pytest.mark.parametrize("reader, path", [
    ("lido", CORPUS / "lido" / "kenom_coins_lidowrap.xml"),
    ("marcxml", CORPUS / "marcxml" / "loc_batch_marcxml.xml"),
    ("ead", CORPUS / "ead" / "stanford_a0011_ead2002.xml"),
    ("mets", CORPUS / "mets_mods" / "sbb_pembroke_werke_1766_mets.xml"),
])
def test_hostile_bytes_are_refused_in_the_worker(reader: str, path: Path) -> None:
    """A travelled record whose raw bytes are hostile is one rejection, not a crash."""
    context = ReadContext(Minter(BASE_URL), "Memoria test")
    first = next(r for r in get_reader(reader).read(path, context)
                 if isinstance(r, SourceRecord))
    travelled = pickle.loads(pickle.dumps(first))
    assert getattr(travelled.data, "element", None) is None
    assert getattr(travelled.data, "mods", None) is None
    good = map_record(get_reader(reader), travelled, context)
    assert good.draft is not None, good.reason
    travelled.raw = BILLION_LAUGHS
    bad = map_record(get_reader(reader), travelled, context)
    assert bad.draft is None and bad.reason is not None
    assert "entity" in bad.reason.lower()
