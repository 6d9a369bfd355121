"""OAI-PMH Dublin Core records cut unparsed (ingest/oai_cut.py) come out as parsed ones.

With workers, the parent cuts each <record> of a plain ListRecords or GetRecord response from
its file and reads the identifier in its header; the worker parses the record under the
file's head and hands it on, or refuses it, as the streamed parse does. Every position, local
id, source byte and refusal must be the exact read's; where the file is not plain (a comment
between records, an identifier with an entity, damage) the rest is read the exact way.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import pytest

import ingest.parallel
from archive.ids import Minter
from archive.service import RECORD_PATH, Archive
from archive.settings import load_settings
from bench.bench_ingest_xml_a import make_dc
from ingest.pipeline import run_batch
from ingest.reader import ReadContext, RecordRejected, Rejection, SourceRecord
from ingest.registry import get_reader
from ingest.xmlsplit import RecordSlice, SliceFailed, resolve
from tests.conftest import BASE_URL, CORPUS
from tests.ingest.test_xml_split import ingest_stored

EUR = CORPUS / "oai_dc" / "eur_dspace_listrecords_oai_dc_2003.xml"
TAIL = b"</ListRecords></OAI-PMH>"
TOKEN = b'<resumptionToken completeListSize="900" cursor="0">oai_dc///100</resumptionToken>'


def _entry(item: SourceRecord | Rejection) -> tuple[Any, ...]:
    if isinstance(item, Rejection):
        return ("rejected", item.position, item.reason)
    return ("record", item.position, item.local_id, item.raw)


def _read(path: Path, split: bool) -> tuple[list[tuple[Any, ...]], int, list[str]]:
    """What the pipeline makes of the DC reader's items (resolved as a worker does), how many
    were cut, and the read's warnings."""
    context = ReadContext(Minter(BASE_URL), "test", {}, split=split)
    out: list[tuple[Any, ...]] = []
    cut = 0
    for item in get_reader("dc").read(path, context):
        if isinstance(item, Rejection) or not isinstance(item.data, RecordSlice):
            out.append(_entry(item))
            continue
        try:
            resolved, local = resolve(pickle.loads(pickle.dumps(item)))  # as a worker gets it
        except SliceFailed:
            assert item.data.resume is not None
            out.extend(_entry(rest) for rest in item.data.resume(item.data.number - 1))
            break
        except RecordRejected as exc:
            cut += 1
            out.append(("rejected", item.position, str(exc)))
            continue
        cut += 1
        assert local is None  # no duplicate test: the exact read makes none either
        assert (resolved.position, resolved.local_id) == (item.position, item.local_id)
        out.append(_entry(resolved))
    return out, cut, context.warnings


def _same(path: Path) -> int:
    """Assert the cut read equals the exact one; how many records were cut."""
    exact, _, warnings = _read(path, split=False)
    cut, count, cut_warnings = _read(path, split=True)
    assert cut == exact, path
    assert cut_warnings == warnings, path
    return count


def _parts() -> tuple[bytes, list[bytes]]:
    data = EUR.read_bytes()
    head, _, body = data.partition(b"<ListRecords>")
    records = re.findall(rb"<record>.*?</record>", body, re.S)
    return head + b"<ListRecords>", records


def _variants() -> dict[str, list[bytes]]:
    head, body = _parts()
    one, two, three = body[0], body[1], body[2]
    ident = re.search(rb"<identifier>([^<]*)</identifier>", two).group(1)  # type: ignore[union-attr]
    header = re.search(rb"<header>.*?</header>", two, re.S).group()  # type: ignore[union-attr]
    dc = re.search(rb"<oai_dc:dc .*</oai_dc:dc>", two, re.S).group()  # type: ignore[union-attr]

    def named(new: bytes) -> bytes:
        return two.replace(b"<identifier>" + ident + b"</identifier>", new, 1)

    deleted = (b'<record><header status="deleted"><identifier>oai:x:gone</identifier>'
               b"<datestamp>2003-04-15</datestamp></header></record>")
    return {
        "plain": [head, *body, TAIL],
        "token": [head, *body[:4], TOKEN, TAIL],
        "empty token": [head, *body[:4], b'<resumptionToken completeListSize="4" cursor="0"/>',
                        TAIL],
        "token with an entity": [head, *body[:3], TOKEN.replace(b"///", b"&amp;"), TAIL],
        "token with an unknown entity": [head, *body[:3], TOKEN.replace(b"///", b"&x;"), TAIL],
        "token with a repeated attribute": [head, *body[:3], TOKEN.replace(
            b'cursor="0"', b'cursor="0" cursor="1"'), TAIL],
        "record after the token": [head, one, TOKEN, two, TAIL],
        "deleted": [head, one, deleted, two, deleted.replace(b"gone", b"gone-2"), three, TAIL],
        "deleted without identifier": [head, one, re.sub(rb"<identifier>.*?</identifier>", b"",
                                                         deleted), two, TAIL],
        "no metadata": [head, one, b"<record>" + header + b"</record>", three, TAIL],
        "empty metadata": [head, one, b"<record>" + header + b"<metadata/></record>", three,
                           TAIL],
        "not Dublin Core": [head, one, two.replace(dc, b'<mods xmlns="http://www.loc.gov/mods/v3">'
                                                   b"<titleInfo><title>x</title></titleInfo>"
                                                   b"</mods>"), three, TAIL],
        "no identifier": [head, one, named(b""), three, TAIL],
        "identifier after the datestamp": [head, one, two.replace(
            b"<identifier>" + ident + b"</identifier>", b"").replace(
            b"</datestamp>", b"</datestamp><identifier>" + ident + b"</identifier>"), three,
            TAIL],
        "no header": [head, one, re.sub(rb"<header>.*?</header>", b"", two, flags=re.S), three,
                      TAIL],
        "duplicate identifier": [head, one, two, one, three, two, TAIL],
        "identifier with spaces": [head, one, named(b"<identifier>\n   " + ident
                                                    + b"  \r\n\t</identifier>"), three, TAIL],
        "identifier with a character reference": [head, one, named(
            b"<identifier>" + ident.replace(b"/", b"&#47;") + b"</identifier>"), three, TAIL],
        "identifier with &amp;": [head, one, named(b"<identifier>a?b=1&amp;c=&lt;2&gt;"
                                                   b"</identifier>"), three, TAIL],
        "identifier with &amp;#47;": [head, one, named(b"<identifier>a&amp;#47;b</identifier>"),
                                      three, TAIL],
        "identifier in CDATA": [head, one, named(b"<identifier><![CDATA[" + ident
                                                 + b"]]></identifier>"), three, TAIL],
        "identifier with a comment": [head, one, named(b"<identifier>" + ident
                                                       + b"<!-- c --></identifier>"), three, TAIL],
        "comment in the header": [head, one, two.replace(b"<header>", b"<header><!-- c -->"),
                                  three, TAIL],
        "comment between records": [head, one, b"<!-- between -->", two, three, TAIL],
        "processing instruction between": [head, one, b"<?pi x?>", two, three, TAIL],
        "text between": [head, one, b"text", two, three, TAIL],
        "an error in a record": [head, one, two.replace(
            b"</header>", b'</header><error code="noRecordsMatch">none</error>'), three, TAIL],
        "truncated record in the middle": [head, one, two[:len(two) // 2], three, TAIL],
        "mismatched tag": [head, one, two.replace(b"</datestamp>", b"</dateStamp>"), three, TAIL],
        "entity in a record": [head, one, two.replace(b"</dc:title>", b"&foo;</dc:title>", 1),
                               three, TAIL],
        "end tag in CDATA": [head, one, two.replace(
            b"</dc:title>", b"<![CDATA[</record><record>]]></dc:title>", 1), three, TAIL],
        "empty record": [head, one, b"<record/>", three, TAIL],
        "truncated file": [head, one, two, three[:300]],
        "unclosed root": [head, one, two, b"</ListRecords>"],
        "after the root": [head, one, TAIL, b"<x/>"],
        "bad end tag": [head, one, two, b"</ListRecords\x0c></OAI-PMH>"],
        "no records": [head, TAIL],
        "xml:lang on the root": [head.replace(b"<OAI-PMH ", b'<OAI-PMH xml:lang="nl" '), one,
                                 two, TAIL],
        "GetRecord": [head.replace(b"<ListRecords>", b"<GetRecord>"), one,
                      b"</GetRecord></OAI-PMH>"],
        "no XML declaration": [head[head.index(b"<OAI-PMH"):], one, two, TAIL],
        "error response": [head.replace(b"<ListRecords>", b'<error code="badArgument">bad'
                                        b"</error>"), b"</OAI-PMH>"],
        "noRecordsMatch": [head.replace(b"<ListRecords>", b'<error code="noRecordsMatch">'
                                        b"none</error>"), b"</OAI-PMH>"],
        "doctype": [b'<?xml version="1.0"?><!DOCTYPE OAI-PMH [<!ENTITY a "b">]>',
                    head[head.index(b"<OAI-PMH"):], one, TAIL],
        "prefixed": [re.sub(rb"<(/?)(OAI-PMH|responseDate|request|ListRecords)\b", rb"<\1oai:\2",
                            head.replace(b'xmlns="', b'xmlns:oai="'))]
        + [re.sub(rb"<(/?)(record|header|identifier|datestamp|setSpec|metadata)\b", rb"<\1oai:\2",
                  r) for r in body[:3]] + [b"</oai:ListRecords></oai:OAI-PMH>"],
    }


def test_cut_records_equal_parsed_ones(tmp_path: Path) -> None:
    for name, parts in _variants().items():
        path = tmp_path / f"{name.replace(' ', '-')}.xml"
        path.write_bytes(b"\n".join(parts) + b"\n")
        count = _same(path)
        if name in ("plain", "token", "empty token", "deleted", "no metadata", "not Dublin Core",
                    "duplicate identifier", "identifier with spaces", "identifier with &amp;",
                    "identifier with &amp;#47;", "GetRecord", "prefixed"):
            records = sum(1 for part in parts if part.startswith((b"<record", b"<oai:record")))
            assert count == records, name  # every record was cut


def test_corpus_files_cut_as_parsed() -> None:
    # Every OAI-PMH response in the corpus, read with the DC reader (the MODS one is refused
    # record by record), and the DC files that are not responses.
    paths = sorted((CORPUS / "oai_dc").glob("*.xml")) + sorted(
        p for p in CORPUS.rglob("*.xml") if b"<OAI-PMH" in p.read_bytes()[:2048])
    assert len(paths) > 5
    cut = {path.name: _same(path) for path in dict.fromkeys(paths)}
    assert cut["eur_dspace_listrecords_oai_dc_2003.xml"] == 16
    assert cut["eur_dspace_getrecord_oai_dc.xml"] == 1
    assert cut["harvard_botanicals_oai_listrecords_mods.xml"] == 10  # with a resumptionToken


def test_large_files_cross_the_read_blocks(tmp_path: Path) -> None:
    """Many records, and a record larger than a read block, cut as parsed; damage late on."""
    path = make_dc(tmp_path, 1_500)
    assert path.stat().st_size > 3 << 20
    assert _same(path) == 1_500
    data = path.read_bytes()
    big = data.replace(b"</dc:title>", b" " + b"long words " * 200_000 + b"</dc:title>", 1)
    path.write_bytes(big)
    assert _same(path) == 1_500
    starts = [m.start() for m in re.finditer(rb"<record>", data)]
    path.write_bytes(data[:starts[1_400] + 500] + data[starts[1_401]:])
    assert _same(path) == 1_400


@pytest.mark.parametrize("damage", ["none", "comment", "truncated", "lang"])
def test_pipeline_with_workers_as_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        damage: str) -> None:
    """Cut records mapped in workers, deletions, refusals and damage: as the exact run."""
    source = make_dc(tmp_path, 120)
    data = source.read_bytes()
    starts = [m.start() for m in re.finditer(rb"<record>", data)]
    deleted = (b'<record><header status="deleted"><identifier>oai:x:gone</identifier>'
               b"<datestamp>2003-04-15</datestamp></header></record>")
    foreign = (b"<record><header><identifier>oai:x:mods</identifier></header><metadata>"
               b'<mods xmlns="http://www.loc.gov/mods/v3"/></metadata></record>')
    # A deletion at 30, a non-DC record at 50, a duplicate of the first at 60, the damage at
    # 90 (after many chunks were sent), a resumptionToken at the end.
    first = data[starts[0]:starts[1]]
    cuts = [(starts[30], deleted), (starts[50], foreign), (starts[60], first)]
    if damage == "comment":
        cuts.append((starts[90], b"<!-- between -->"))
    for at, what in reversed(cuts):
        data = data[:at] + what + data[at:]
    data = data.replace(b"</ListRecords>", TOKEN + b"</ListRecords>")
    if damage == "lang":  # inherited from the root: as mapped in the parent
        data = data.replace(b"<OAI-PMH ", b'<OAI-PMH xml:lang="nl" ', 1)
    if damage == "truncated":
        starts = [m.start() for m in re.finditer(rb"<record>", data)]
        data = data[:starts[90] + 700] + data[starts[91]:]
    source.write_bytes(data)
    monkeypatch.setattr(ingest.parallel, "PARALLEL_AFTER", 5)
    monkeypatch.setattr(ingest.parallel, "CHUNK", 4)
    exact, exact_stored = ingest_stored(tmp_path / "exact", source, workers=1, reader="dc")
    stalls: dict[str, float] = {}
    settings = load_settings({"home": str(tmp_path / "cut"), "base_url": BASE_URL,
                              "fsync": False, "workers": 2}, environ={})
    with Archive(settings).open() as archive:
        cut = run_batch(archive, get_reader("dc"), source, stalls=stalls)
        cut_stored = {a.record_id: archive.storage.read(a.record_id, RECORD_PATH)
                      + archive.storage.read(a.record_id, "source/record.xml")
                      for a in cut.accepted}
    assert stalls["in_workers"] > 50
    assert [(a.record_id, a.position, a.action, a.warnings) for a in cut.accepted] == \
        [(a.record_id, a.position, a.action, a.warnings) for a in exact.accepted]
    assert cut.rejected == exact.rejected
    reasons = [r.reason for r in cut.rejected]
    assert any("deleted at the source" in r for r in reasons)
    assert any("not Dublin Core" in r for r in reasons)
    if damage == "truncated":
        assert "not well-formed" in reasons[-1]
    assert cut.warnings == exact.warnings
    assert cut_stored == exact_stored
    if damage == "lang":
        assert any(b'"@nl' in ttl for ttl in cut_stored.values())
