"""Benchmark LIDO and MARCXML ingest end to end through run_batch (read, map, validate, save).

    .venv/bin/python bench/bench_ingest_xml_b.py [--records N] [--dir DIR] [--profile N]

Synthetic sources: the corpus records (shared/corpus/lido, shared/corpus/marcxml) repeated with
new identifiers into one file per format in a temporary folder. Every run is a fresh process
(so peak RSS is that run's), with fsync off and on. A cProfile top-10 (cumulative time) of an
fsync-off run of --profile records follows the table.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lxml import etree

from archive.service import Archive
from archive.settings import load_settings
from ingest.lido_reader import LidoReader
from ingest.marc_reader import MarcXmlReader
from ingest.pipeline import run_batch

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("MEMORIA_SHARED", ROOT.parent / "shared")) / "corpus"
LIDO_NS = "http://www.lido-schema.org"
MARC_NS = "http://www.loc.gov/MARC21/slim"


def _local(el: etree._Element) -> str:
    return el.tag.rpartition("}")[2] if isinstance(el.tag, str) else ""


def _records(folder: Path, name: str) -> list[etree._Element]:
    found = []
    for path in sorted(folder.glob("*.xml")):
        root = etree.parse(str(path)).getroot()
        found += [root] if _local(root) == name else [e for e in root.iter() if _local(e) == name]
    return found


def synthetic_lido(path: Path, count: int) -> None:
    """A lido:lidoWrap of `count` corpus records, each with a new lidoRecID."""
    records = _records(CORPUS / "lido", "lido")
    with path.open("wb") as out:
        out.write(f'<lido:lidoWrap xmlns:lido="{LIDO_NS}">\n'.encode())
        for n in range(count):
            el = etree.fromstring(etree.tostring(records[n % len(records)]))
            rec_id = next(c for c in el if _local(c) == "lidoRecID")
            rec_id.text = f"bench-{n:06d}"
            out.write(etree.tostring(el) + b"\n")
        out.write(b"</lido:lidoWrap>\n")


def synthetic_marc(path: Path, count: int) -> None:
    """A MARCXML collection of `count` corpus records, each with a new 001."""
    records = _records(CORPUS / "marcxml", "record")
    with path.open("wb") as out:
        out.write(f'<collection xmlns="{MARC_NS}">\n'.encode())
        for n in range(count):
            el = etree.fromstring(etree.tostring(records[n % len(records)]))
            ns = el.tag.rpartition("}")[0] + "}" if el.tag.startswith("{") else ""
            for old in [c for c in el if _local(c) == "controlfield" and c.get("tag") == "001"]:
                el.remove(old)
            field = etree.Element(f"{ns}controlfield", tag="001")
            field.text = f"bench-{n:06d}"
            el.insert(1, field)
            out.write(etree.tostring(el) + b"\n")
        out.write(b"</collection>\n")


def run_one(fmt: str, source: Path, home: Path, fsync: bool) -> dict[str, float]:
    """Ingest one synthetic file into a fresh home; return timing and peak memory."""
    settings = load_settings({"home": str(home), "base_url": "http://bench.test",
                              "fsync": fsync}, environ={})
    reader = LidoReader() if fmt == "lido" else MarcXmlReader()
    with Archive(settings).open() as archive:
        started = time.perf_counter()
        report = run_batch(archive, reader, source)
        seconds = time.perf_counter() - started
    return {"records": report.input, "accepted": len(report.accepted),
            "rejected": len(report.rejected), "seconds": seconds,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def profile_one(fmt: str, source: Path, home: Path) -> str:
    """The cProfile top-10 by cumulative time of one fsync-off run."""
    profiler = cProfile.Profile()
    profiler.enable()
    run_one(fmt, source, home, fsync=False)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(10)
    return out.getvalue()


def main() -> None:
    """Build the sources, run every configuration, print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--profile", type=int, default=2_000, help="records in the profiled run")
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder")
    parser.add_argument("--one", nargs=3, metavar=("FORMAT", "SOURCE", "FSYNC"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        fmt, source, fsync = args.one
        home = Path(tempfile.mkdtemp(prefix="bench-home-", dir=args.dir))
        try:
            print(json.dumps(run_one(fmt, Path(source), home, fsync == "on")))
        finally:
            shutil.rmtree(home, ignore_errors=True)
        return
    scratch = Path(tempfile.mkdtemp(prefix="bench-ingest-xml-", dir=args.dir))
    try:
        sources = {"lido": scratch / "lido.xml", "marcxml": scratch / "marc.xml"}
        synthetic_lido(sources["lido"], args.records)
        synthetic_marc(sources["marcxml"], args.records)
        print(f"{args.records} records per format; python {sys.version.split()[0]}")
        print(f"{'format':<9}{'fsync':>6}{'records':>9}{'accepted':>10}{'seconds':>9}"
              f"{'records/s':>11}{'peak MB':>9}")
        for fmt, source in sources.items():
            for fsync in ("off", "on"):
                done = subprocess.run(
                    [sys.executable, __file__, "--one", fmt, str(source), fsync,
                     *(["--dir", str(args.dir)] if args.dir else [])],
                    check=True, capture_output=True, text=True)
                r = json.loads(done.stdout.strip().splitlines()[-1])
                print(f"{fmt:<9}{fsync:>6}{r['records']:>9.0f}{r['accepted']:>10.0f}"
                      f"{r['seconds']:>9.1f}{r['records'] / r['seconds']:>11.0f}"
                      f"{r['peak_mb']:>9.0f}")
        for fmt in sources:
            small = scratch / f"{fmt}-profile.xml"
            (synthetic_lido if fmt == "lido" else synthetic_marc)(small, args.profile)
            home = scratch / f"home-profile-{fmt}"
            print(f"\ncProfile, {fmt}, {args.profile} records, fsync off:")
            print("\n".join(profile_one(fmt, small, home).splitlines()[:22]))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
