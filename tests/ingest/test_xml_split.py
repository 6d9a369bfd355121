"""Records cut from a plain XML file unparsed (ingest/xmlsplit.py) come out as parsed ones.

The pipeline's parent cuts LIDO and MARCXML records from their file without parsing it; the
worker that maps a record parses it. Every record, position, local id, source byte, duplicate
and refusal must be what the streamed parse gives, and where the file is not plain (a comment
between records, a tag inside CDATA, damage, an entity) the rest is read the exact way.
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
from bench.bench_ingest_xml_b import synthetic_lido
from ingest.pipeline import BatchReport, run_batch
from ingest.reader import ReadContext, Rejection, SourceRecord
from ingest.registry import get_reader
from ingest.xmlsplit import RecordSlice, SliceFailed, resolve
from tests.conftest import BASE_URL, CORPUS

TAIL = b"</lido:lidoWrap>"


def _read(reader: str, path: Path, split: bool) -> list[tuple[Any, ...]]:
    """What the pipeline would make of the reader's items: resolved, duplicates refused."""
    context = ReadContext(Minter(BASE_URL), "test", {}, split=split)
    out: list[tuple[Any, ...]] = []
    seen: dict[str, str] = {}
    items = iter(get_reader(reader).read(path, context))
    for item in items:
        if isinstance(item, Rejection):
            out.append(("rejected", item.position, item.reason))
            continue
        if not isinstance(item.data, RecordSlice):
            out.append(("record", item.position, item.local_id, item.raw))
            continue
        try:
            resolved, local = resolve(pickle.loads(pickle.dumps(item)))  # as a worker gets it
        except SliceFailed:
            assert item.data.resume is not None
            items = iter(item.data.resume(item.data.number - 1))
            for rest in items:
                out.append(("rejected", rest.position, rest.reason) if isinstance(rest, Rejection)
                           else ("record", rest.position, rest.local_id, rest.raw))
            break
        if local and local in seen:
            out.append(("rejected", item.position,
                        f"duplicate {item.data.id_name} {local!r}, first at {seen[local]}"))
            continue
        if local:
            seen[local] = item.position
        out.append(("record", resolved.position, local, resolved.raw))
    return out


def _records(tmp_path: Path) -> tuple[bytes, list[bytes]]:
    source = tmp_path / "all.xml"
    synthetic_lido(source, 8)
    parts = re.split(rb"\n(?=<(?:lido:)?lido[ >])", source.read_bytes())
    body = [p.rstrip() for p in parts[1:]]
    body[-1] = body[-1].removesuffix(TAIL).rstrip()
    return parts[0], [b for b in body if b.startswith(b"<lido:lido ")]


def _variants(tmp_path: Path) -> dict[str, bytes]:
    head, body = _records(tmp_path)
    ids = [re.search(rb"bench-\d+", b).group() for b in body]  # type: ignore[union-attr]
    two = body[1]
    cases = {
        "plain": [head, *body, TAIL],
        "declared": [b'<?xml version="1.0" encoding="UTF-8"?>', head, *body[:3], TAIL],
        "latin-1": [b'<?xml version="1.0" encoding="ISO-8859-1"?>', head, *body[:2], TAIL],
        "doctype": [b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>', head, body[0],
                    TAIL],
        "inherited lang": [head.replace(b"<lido:lidoWrap ", b'<lido:lidoWrap xml:lang="de" '),
                           *body[:3], TAIL],
        "comment between": [head, body[0], body[1], b"<!-- x -->", body[2], TAIL],
        "processing instruction between": [head, body[0], b"<?pi x?>", body[1], TAIL],
        "text between": [head, body[0], b"text", body[1], TAIL],
        "end tag in CDATA": [head, body[0], two.replace(
            ids[1], b"<![CDATA[ </lido:lido> <lido:lido> ]]>x"), body[2], TAIL],
        "records in a comment": [head, body[0], two.replace(
            ids[1], b"x<!-- </lido:lido>\n" + body[2] + b"\n<lido:lido> -->"), body[3], TAIL],
        "nested record": [head, body[0], two.replace(
            b"</lido:lidoRecID>", b'</lido:lidoRecID><lido:lido a=">"><lido:x/></lido:lido>',
            1), body[2], TAIL],
        "entity": [head, body[0], two.replace(ids[1], b"&foo;"), body[2], TAIL],
        "mismatched tag": [head, body[0], two.replace(b"</lido:lidoRecID>",
                                                       b"</lido:lidoRecId>", 1), TAIL],
        "duplicates": [head, body[0], body[1], body[0], body[2], body[1], TAIL],
        "empty record": [head, body[0], b"<lido:lido/>", body[1], TAIL],
        "truncated": [head, body[0], body[1], body[2][:3000]],
        "unclosed root": [head, body[0], body[1]],
        "after the root": [head, body[0], TAIL, b"<x/>"],
        "no records": [head, TAIL],
    }
    return {name: b"\n".join(parts) + b"\n" for name, parts in cases.items()}


def test_cut_records_equal_parsed_ones(tmp_path: Path) -> None:
    for name, data in _variants(tmp_path).items():
        path = tmp_path / f"{name.replace(' ', '-')}.xml"
        path.write_bytes(data)
        exact = _read("lido", path, split=False)
        assert exact, name
        assert _read("lido", path, split=True) == exact, name


@pytest.mark.parametrize("reader, folder", [("lido", "lido"), ("marcxml", "marcxml")])
def test_corpus_files_cut_as_parsed(reader: str, folder: str) -> None:
    for path in sorted((CORPUS / folder).glob("*.xml")):
        assert _read(reader, path, split=True) == _read(reader, path, split=False), path


def test_plain_file_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "plain.xml"
    path.write_bytes(_variants(tmp_path)["plain"])
    context = ReadContext(Minter(BASE_URL), "test", {}, split=True)
    items = list(get_reader("lido").read(path, context))
    assert len(items) == 7  # the prefixed records of 8
    assert all(isinstance(i, SourceRecord) and isinstance(i.data, RecordSlice) for i in items)


def ingest_stored(home: Path, source: Path, workers: int, reader: str = "lido"
                  ) -> tuple[BatchReport, dict[str, bytes]]:
    """Ingest a file; its report, and each accepted record's stored record.ttl + source."""
    settings = load_settings({"home": str(home), "base_url": BASE_URL, "fsync": False,
                              "workers": workers}, environ={})
    with Archive(settings).open() as archive:
        report = run_batch(archive, get_reader(reader), source)
        stored = {a.record_id: archive.storage.read(a.record_id, RECORD_PATH)
                  + archive.storage.read(a.record_id, "source/record.xml")
                  for a in report.accepted}
    return report, stored


@pytest.mark.parametrize("damage", ["comment", "truncated"])
def test_pipeline_falls_back_in_a_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         damage: str) -> None:
    """Cut records mapped in workers, a duplicate and a damaged spot: as the exact read."""
    source = tmp_path / "many.xml"
    synthetic_lido(source, 120)
    data = source.read_bytes()
    starts = [m.start() for m in re.finditer(rb"\n<(?:lido:)?lido[ >]", data)]
    first = data[starts[0] + 1:starts[1]]
    # A duplicate of the first record at 30, and the damage at 90 (after many chunks sent).
    data = data[:starts[30]] + b"\n" + first.rstrip() + data[starts[30]:]
    starts = [m.start() for m in re.finditer(rb"\n<(?:lido:)?lido[ >]", data)]
    if damage == "comment":
        data = data[:starts[90]] + b"\n<!-- between -->" + data[starts[90]:]
    else:
        data = data[:starts[90] + 2000]
    source.write_bytes(data)
    monkeypatch.setattr(ingest.parallel, "PARALLEL_AFTER", 5)
    monkeypatch.setattr(ingest.parallel, "CHUNK", 4)
    exact, exact_stored = ingest_stored(tmp_path / "exact", source, workers=1)
    cut, cut_stored = ingest_stored(tmp_path / "cut", source, workers=2)
    assert [(a.record_id, a.position, a.action, a.warnings) for a in cut.accepted] == \
        [(a.record_id, a.position, a.action, a.warnings) for a in exact.accepted]
    assert cut.rejected == exact.rejected
    assert any("duplicate lidoRecID" in r.reason for r in cut.rejected)
    assert len(cut.accepted) == (120 if damage == "comment" else 89)
    assert cut.warnings == exact.warnings
    assert cut_stored == exact_stored
