"""Hostile XML through run_batch with every XML reader: refused, survived, no leaks."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

from archive.service import Archive
from archive.settings import Settings
from ingest.pipeline import BatchReport, run_batch
from ingest.registry import get_reader

DC_OPEN = ('<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
           'xmlns:dc="http://purl.org/dc/elements/1.1/">')
WRAP = {
    "dc": (DC_OPEN + "<dc:identifier>h1</dc:identifier><dc:title>{body}</dc:title>", "</oai_dc:dc>"),
    "ead": ('<ead xmlns="urn:isbn:1-931666-22-9"><eadheader><eadid>h1</eadid></eadheader>'
            "<archdesc level='fonds'><did><unittitle>{body}</unittitle></did>",
            "</archdesc></ead>"),
    "mets": ('<mods xmlns="http://www.loc.gov/mods/v3"><recordInfo><recordIdentifier>h1'
             "</recordIdentifier></recordInfo><titleInfo><title>{body}</title></titleInfo>",
             "</mods>"),
    # Read as streams: the same refusals must hold record by record.
    "lido": ('<lido:lidoWrap xmlns:lido="http://www.lido-schema.org"><lido:lido><lido:lidoRecID>'
             "h1</lido:lidoRecID><lido:descriptiveMetadata><lido:objectIdentificationWrap>"
             "<lido:titleWrap><lido:titleSet><lido:appellationValue>{body}",
             "</lido:appellationValue></lido:titleSet></lido:titleWrap>"
             "</lido:objectIdentificationWrap></lido:descriptiveMetadata></lido:lido>"
             "</lido:lidoWrap>"),
    "dc-oai": ('<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords><record><header>'
               "<identifier>oai:h:1</identifier></header><metadata>" + DC_OPEN
               + "<dc:identifier>h1</dc:identifier><dc:title>{body}",
               "</dc:title></oai_dc:dc></metadata></record></ListRecords></OAI-PMH>"),
    "marcxml": ('<collection xmlns="http://www.loc.gov/MARC21/slim"><record><leader>00000cam a2200000'
                ' a 4500</leader><controlfield tag="001">h1</controlfield><datafield tag="245" '
                'ind1="0" ind2="0"><subfield code="a">{body}',
                "</subfield></datafield></record></collection>"),
}
ROOT = {"dc": "oai_dc:dc", "ead": "ead", "mets": "mods", "lido": "lido:lidoWrap",
        "marcxml": "collection", "dc-oai": "OAI-PMH"}


@pytest.fixture
def secret(tmp_path: Path) -> tuple[Path, str]:
    token = f"SECRET-{secrets.token_hex(8)}"
    path = tmp_path / "secret.txt"
    path.write_text(token, encoding="utf-8")
    return path, token


def document(fmt: str, body: str, doctype: str = "") -> bytes:
    head, tail = WRAP[fmt]
    prolog = f"<!DOCTYPE {ROOT[fmt]} [{doctype}]>" if doctype else ""
    return f'<?xml version="1.0" encoding="UTF-8"?>{prolog}{head.format(body=body)}{tail}'.encode()


def leaked(home: Path, needles: list[str]) -> list[str]:
    found = []
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{n} in {path}" for n in needles if n.encode() in data]
    return found


def hostname() -> list[str]:
    try:
        name = Path("/etc/hostname").read_text().strip()
    except OSError:
        return []
    return [name] if len(name) >= 8 else []


Case = Callable[[str, Path], bytes]

CASES: dict[str, Case] = {
    "xxe-file": lambda f, s: document(f, "&x;", f'<!ENTITY x SYSTEM "file://{s}">'),
    "xxe-etc-hostname": lambda f, s: document(f, "&x;", '<!ENTITY x SYSTEM "file:///etc/hostname">'),
    "xxe-http": lambda f, s: document(f, "&x;", '<!ENTITY x SYSTEM "http://127.0.0.1:9/x">'),
    "xxe-parameter": lambda f, s: document(
        f, "&x;", f'<!ENTITY % p SYSTEM "file://{s}"> <!ENTITY x "%p;">'),
    "billion-laughs": lambda f, s: document(f, "&l9;", '<!ENTITY l0 "lol">' + "".join(
        f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))),
    "quadratic-blowup": lambda f, s: document(
        f, "&a;" * 20_000, f'<!ENTITY a "{"x" * 50_000}">'),
    "xinclude": lambda f, s: document(
        f, f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{s}" parse="text"/>'),
    "deep-nesting": lambda f, s: document(f, "<x>" * 10_000 + "</x>" * 10_000),
    "huge-text-node": lambda f, s: document(f, "x" * (20 * 1024 * 1024)),
    "truncated": lambda f, s: document(f, "Título")[:-20],
    "latin1-declared-utf8": lambda f, s: document(f, "Canción").replace(
        "Canción".encode(), "Canción".encode("latin-1")),
    "nul-bytes-early": lambda f, s: document(f, "a\x00b"),
    "nul-bytes-late": lambda f, s: document(f, "a" * 10_000 + "\x00b"),
    "not-xml": lambda f, s: b"%PDF-1.4 this is not XML",
    "empty": lambda f, s: b"",
}


def ingest(settings: Settings, fmt: str, path: Path) -> BatchReport:
    with Archive(settings).open() as archive:
        return run_batch(archive, get_reader(fmt.split("-")[0]), path)


@pytest.mark.parametrize("fmt", ["dc", "dc-oai", "ead", "mets", "lido", "marcxml"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_file_is_refused_whole(settings: Settings, tmp_path: Path,
                                       secret: tuple[Path, str], fmt: str, case: str) -> None:
    path = tmp_path / f"{case}.xml"
    path.write_bytes(CASES[case](fmt, secret[0]))
    report = ingest(settings, fmt, path)
    if case == "truncated" and fmt == "dc-oai":
        # Streamed: the record complete before the cut is kept, the rest refused with its line.
        assert [a.position for a in report.accepted] == ["oai:h:1"]
        assert "not well-formed" in report.rejected[0].reason
        assert "reading stopped after 1 record)" in report.rejected[0].reason
    else:
        assert report.accepted == []
    assert len(report.rejected) == 1
    rejection = report.rejected[0]
    assert rejection.position == "file"
    assert str(path) in rejection.reason or rejection.source == str(path)
    assert len(rejection.reason) < 2000
    assert leaked(settings.home, [secret[1], *hostname()]) == []


@pytest.mark.parametrize("fmt", ["dc", "dc-oai", "lido"])  # parsed whole, and streamed
def test_reasons_say_what_was_wrong(settings: Settings, tmp_path: Path,
                                    secret: tuple[Path, str], fmt: str) -> None:
    expected = {
        "xxe-file": "entity reference", "billion-laughs": "entity",
        "quadratic-blowup": "entity", "xinclude": "XInclude",
        "deep-nesting": "not well-formed", "huge-text-node": "not well-formed",
        "truncated": "not well-formed", "latin1-declared-utf8": "not well-formed",
        "nul-bytes-early": "NUL bytes", "not-xml": "not well-formed",
    }
    for case, words in expected.items():
        path = tmp_path / f"{case}.xml"
        path.write_bytes(CASES[case](fmt, secret[0]))
        reason = ingest(settings, fmt, path).rejected[0].reason
        assert words in reason, (case, reason)


def test_over_long_field_rejects_only_its_record(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "long.xml"
    path.write_text(f"""<records xmlns:dc="http://purl.org/dc/elements/1.1/">
<r><dc:identifier>ok-1</dc:identifier><dc:title>Fine</dc:title></r>
<r><dc:identifier>long-1</dc:identifier><dc:title>Long</dc:title>
<dc:description>{"palabra " * 20_000}</dc:description></r>
<r><dc:identifier>long-2</dc:identifier><dc:title>{"t" * 20_000}</dc:title></r>
<r><dc:identifier>ok-2</dc:identifier><dc:title>Also fine</dc:title></r>
</records>""", encoding="utf-8")
    with Archive(settings).open() as archive:
        report = run_batch(archive, get_reader("dc"), path)
        assert [a.record_id for a in report.accepted] == ["dc-ok-1", "dc-ok-2"]
        reasons = {r.position: r.reason for r in report.rejected}
        assert "over the limit of 65,536" in reasons["/records/r[2]"]
        assert "at most 10,000 characters" in reasons["/records/r[3]"]


def test_hostile_component_deep_in_ead_does_not_stop_the_rest(settings: Settings,
                                                              tmp_path: Path) -> None:
    depth = 200  # under libxml2's nesting limit: read without recursion
    inner = "".join(f"<c id='c{i}'><did><unittitle>Level {i}</unittitle></did>"
                    for i in range(depth)) + "</c>" * depth
    path = tmp_path / "deep.xml"
    path.write_text(f"<ead><eadheader><eadid>deep</eadid></eadheader><archdesc level='fonds'>"
                    f"<did><unittitle>Deep</unittitle></did><dsc>{inner}</dsc></archdesc></ead>",
                    encoding="utf-8")
    with Archive(settings).open() as archive:
        report = run_batch(archive, get_reader("ead"), path)
        assert report.rejected == []
        assert len(report.accepted) == depth + 1


def test_over_long_fields_met_while_reading_never_crash(settings: Settings,
                                                        tmp_path: Path) -> None:
    long = "z" * 70_000
    ead = tmp_path / "ead.xml"
    ead.write_text(f"""<ead><eadheader><eadid>e1</eadid></eadheader><archdesc level="fonds">
<did><unittitle>Top</unittitle></did><userestrict><p>{long}</p></userestrict>
<dsc><c01 id="a"><did><unittitle>Kept</unittitle></did></c01></dsc></archdesc></ead>""",
                   encoding="utf-8")
    long_id = tmp_path / "ead-id.xml"
    long_id.write_text(f"<ead><eadheader><eadid>{long}</eadid></eadheader><archdesc>"
                       "<did><unittitle>T</unittitle></did></archdesc></ead>", encoding="utf-8")
    mets = tmp_path / "mets.xml"
    mets.write_text(f"""<mets xmlns="http://www.loc.gov/METS/"><dmdSec ID="D1"><mdWrap MDTYPE="MODS">
<xmlData><mods xmlns="http://www.loc.gov/mods/v3"><titleInfo><title>T</title></titleInfo>
<accessCondition>{long}</accessCondition><recordInfo><recordIdentifier>{long}</recordIdentifier>
</recordInfo></mods></xmlData></mdWrap></dmdSec></mets>""", encoding="utf-8")
    with Archive(settings).open() as archive:
        report = run_batch(archive, get_reader("ead"), ead)
        assert len(report.accepted) == 1  # the component; the collection is refused
        assert "over the limit" in report.rejected[0].reason
        report = run_batch(archive, get_reader("ead"), long_id)
        assert report.accepted == [] and "reading stopped" in report.rejected[0].reason
        report = run_batch(archive, get_reader("mets"), mets)
        assert report.accepted == [] and "over the limit" in report.rejected[0].reason
