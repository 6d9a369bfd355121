"""LIDO, MARCXML and OAI-PMH files are read as streams: peak memory stays flat as they grow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LIDO_NS = "http://www.lido-schema.org"
MARC_NS = "http://www.loc.gov/MARC21/slim"
RECORDS = 20_000
PEAK_LIMIT_MB = 300
# Reads every record the reader yields in a fresh interpreter and reports its peak RSS.
PROBE = """
import json, sys
from pathlib import Path
from archive.ids import Minter
from ingest.reader import ReadContext, Rejection
from ingest.registry import get_reader
reader = get_reader(sys.argv[1])
context = ReadContext(Minter("https://example.org"), "Test")
records, rejected, last = 0, [], None
for item in reader.read(Path(sys.argv[2]), context):
    if isinstance(item, Rejection):
        rejected.append(item.reason)
    else:
        records += 1
        last = (item.position, item.local_id, len(item.raw))
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forked parent (pytest).
status = Path("/proc/self/status").read_text()
peak = int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmHWM:"))) / 1024
print(json.dumps({"records": records, "rejected": rejected, "last": last, "peak_mb": peak}))
"""


def lido_file(path: Path, n: int) -> Path:
    """A lidoWrap of n records of about 5 kB each."""
    note = "Ein Objekt aus der Sammlung, beschrieben mit viel Text. " * 85
    with path.open("w", encoding="utf-8") as out:
        out.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<lido:lidoWrap xmlns:lido="{LIDO_NS}"'
                  ' xml:lang="de">\n')
        for i in range(1, n + 1):
            out.write(
                f"<lido:lido><lido:lidoRecID lido:type='local'>obj-{i}</lido:lidoRecID>"
                "<lido:descriptiveMetadata><lido:objectIdentificationWrap><lido:titleWrap>"
                f"<lido:titleSet><lido:appellationValue>Objekt {i}</lido:appellationValue>"
                "</lido:titleSet></lido:titleWrap><lido:objectDescriptionWrap>"
                "<lido:objectDescriptionSet><lido:descriptiveNoteValue>"
                f"{note}</lido:descriptiveNoteValue></lido:objectDescriptionSet>"
                "</lido:objectDescriptionWrap></lido:objectIdentificationWrap>"
                "</lido:descriptiveMetadata></lido:lido>\n")
        out.write("</lido:lidoWrap>\n")
    return path


def marc_file(path: Path, n: int) -> Path:
    """A MARCXML collection of n records of about 5 kB each."""
    summary = "A record of the collection with a long summary in field 520. " * 85
    with path.open("w", encoding="utf-8") as out:
        out.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<collection xmlns="{MARC_NS}">\n')
        for i in range(1, n + 1):
            out.write(
                f"<record><leader>00000cam a2200000 a 4500</leader>"
                f"<controlfield tag='001'>m{i}</controlfield>"
                "<datafield tag='245' ind1='0' ind2='0'>"
                f"<subfield code='a'>Book {i}</subfield></datafield>"
                f"<datafield tag='520' ind1=' ' ind2=' '><subfield code='a'>{summary}"
                "</subfield></datafield></record>\n")
        out.write("</collection>\n")
    return path


def oai_dc_file(path: Path, n: int) -> Path:
    """An OAI-PMH ListRecords response of n oai_dc records of about 5 kB each."""
    text = "Una descripción larga del documento, repetida para llenar el registro. " * 70
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<OAI-PMH xmlns='
                  '"http://www.openarchives.org/OAI/2.0/"><responseDate>2024-05-01T00:00:00Z'
                  "</responseDate><request verb='ListRecords'>http://example.org/oai</request>"
                  "<ListRecords>\n")
        for i in range(1, n + 1):
            out.write(
                f"<record><header><identifier>oai:example.org:{i}</identifier><datestamp>"
                "2024-05-01</datestamp></header><metadata><oai_dc:dc xmlns:oai_dc="
                '"http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc='
                f'"http://purl.org/dc/elements/1.1/"><dc:title>Documento {i}</dc:title>'
                f"<dc:description>{text}</dc:description></oai_dc:dc></metadata></record>\n")
        out.write("</ListRecords></OAI-PMH>\n")
    return path


def probe(fmt: str, path: Path) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", PROBE, fmt, str(path)], capture_output=True,
                          text=True, check=False, timeout=900, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, (done.returncode, done.stderr[-3000:])
    return dict(json.loads(done.stdout))


def test_large_lido_file_is_read_in_flat_memory(tmp_path: Path) -> None:
    path = lido_file(tmp_path / "big-lido.xml", RECORDS)
    assert path.stat().st_size > 100_000_000
    got = probe("lido", path)
    assert got["records"] == RECORDS and got["rejected"] == []
    assert got["last"][:2] == [f"/lidoWrap/lido[{RECORDS}]", f"obj-{RECORDS}"]  # type: ignore[index]
    print(f"peak {got['peak_mb']:.0f} MB", end=" ")
    assert float(got["peak_mb"]) < PEAK_LIMIT_MB, got  # type: ignore[arg-type]


def test_large_marcxml_file_is_read_in_flat_memory(tmp_path: Path) -> None:
    path = marc_file(tmp_path / "big-marc.xml", RECORDS)
    assert path.stat().st_size > 100_000_000
    got = probe("marcxml", path)
    assert got["records"] == RECORDS and got["rejected"] == []
    assert got["last"][:2] == [f"/collection/record[{RECORDS}]", f"m{RECORDS}"]  # type: ignore[index]
    print(f"peak {got['peak_mb']:.0f} MB", end=" ")
    assert float(got["peak_mb"]) < PEAK_LIMIT_MB, got  # type: ignore[arg-type]


def test_damage_after_good_records_rejects_the_rest_with_its_line(tmp_path: Path) -> None:
    path = lido_file(tmp_path / "cut.xml", 30)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])  # cut in the middle of a record
    got = probe("lido", path)
    assert got["records"] == 19
    rejected = got["rejected"]
    assert isinstance(rejected, list) and len(rejected) == 1
    reason = str(rejected[0])
    assert "not well-formed XML at line 22" in reason and "reading stopped after 19 records" in reason


def test_large_oai_pmh_response_is_read_in_flat_memory(tmp_path: Path) -> None:
    path = oai_dc_file(tmp_path / "big-oai.xml", RECORDS)
    assert path.stat().st_size > 100_000_000
    got = probe("dc", path)
    assert got["records"] == RECORDS and got["rejected"] == []
    assert got["last"][:2] == [f"oai:example.org:{RECORDS}", f"oai:example.org:{RECORDS}"]  # type: ignore[index]
    print(f"peak {got['peak_mb']:.0f} MB", end=" ")
    assert float(got["peak_mb"]) < PEAK_LIMIT_MB, got  # type: ignore[arg-type]
