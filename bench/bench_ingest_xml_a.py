"""Ingest throughput of the DC and EAD readers end to end through run_batch, fsync off and on.

    .venv/bin/python bench/bench_ingest_xml_a.py [--records 10000] [--profile-records 2000]

Synthetic inputs repeat corpus records with new identifiers. Each (format, fsync) runs in its
own process so that peak memory (ru_maxrss) belongs to that run alone.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import io
import json
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import CORPUS  # noqa: E402

OAI = "http://www.openarchives.org/OAI/2.0/"
EAD_NS = "urn:isbn:1-931666-22-9"


def make_dc(folder: Path, count: int) -> Path:
    """An OAI-PMH ListRecords file of `count` records copied from the EUR corpus response."""
    root = etree.parse(str(CORPUS / "oai_dc" / "eur_dspace_listrecords_oai_dc_2003.xml")).getroot()
    verb = root.find(f"{{{OAI}}}ListRecords")
    records = list(verb.iter(f"{{{OAI}}}record"))
    for r in records:
        verb.remove(r)
    for n in range(count):
        record = copy.deepcopy(records[n % len(records)])
        ident = record.find(f"{{{OAI}}}header/{{{OAI}}}identifier")
        ident.text = f"{ident.text}-{n}"
        verb.append(record)
    path = folder / "dc.xml"
    etree.ElementTree(root).write(str(path), xml_declaration=True, encoding="utf-8")
    return path


def make_ead(folder: Path, count: int) -> Path:
    """One finding aid of `count` records: the Bentley collection's series repeated."""
    root = etree.parse(str(CORPUS / "ead" / "bentley_umich-bhl-0312_ead2002.xml")).getroot()
    dsc = root.find(f".//{{{EAD_NS}}}dsc")
    series = [c for c in dsc if isinstance(c.tag, str)]
    for c in series:
        dsc.remove(c)
    made, n = 1, 0
    while made < count:
        c01 = copy.deepcopy(series[n % len(series)])
        components = [e for e in c01.iter() if isinstance(e.tag, str)
                      and etree.QName(e).localname.startswith("c0")]
        for e in components:
            e.set("id", f"{e.get('id')}-{n}")
        keep = count - made
        for extra in components[keep:]:
            parent = extra.getparent()
            if parent is not None:
                parent.remove(extra)
        made += min(len(components), keep)
        dsc.append(c01)
        n += 1
    path = folder / "ead.xml"
    etree.ElementTree(root).write(str(path), xml_declaration=True, encoding="utf-8")
    return path


def run_one(fmt: str, fsync: bool, count: int, profile_count: int) -> dict[str, object]:
    """Ingest `count` records once (timed), then `profile_count` under cProfile."""
    from archive.service import Archive
    from archive.settings import load_settings
    from ingest.pipeline import run_batch
    from ingest.registry import get_reader

    work = Path(tempfile.mkdtemp(prefix="bench-xml-"))
    make = make_dc if fmt == "dc" else make_ead
    source = make(work, count)
    settings = load_settings({"home": str(work / "home"), "base_url": "http://memoria.test",
                              "fsync": fsync}, environ={})
    with Archive(settings).open() as archive:
        started = time.perf_counter()
        report = run_batch(archive, get_reader(fmt), source)
        seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    (work / "profile").mkdir()
    small = make(work / "profile", profile_count)
    settings = load_settings({"home": str(work / "home-profile"), "base_url":
                              "http://memoria.test", "fsync": fsync}, environ={})
    profiler = cProfile.Profile()
    with Archive(settings).open() as archive:
        profiler.enable()
        run_batch(archive, get_reader(fmt), small)
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(10)
    shutil.rmtree(work, ignore_errors=True)
    return {"format": fmt, "fsync": fsync, "records": len(report.accepted),
            "rejected": len(report.rejected), "seconds": round(seconds, 2),
            "records_per_s": round(len(report.accepted) / seconds, 1),
            "peak_mb": round(peak_mb, 1), "profile": out.getvalue()}


def main() -> None:
    """Run every (format, fsync) in its own process and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--profile-records", type=int, default=2_000)
    parser.add_argument("--formats", default="dc,ead")
    parser.add_argument("--one", nargs=2, metavar=("FORMAT", "FSYNC"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        fmt, fsync = args.one[0], args.one[1] == "on"
        print(json.dumps(run_one(fmt, fsync, args.records, args.profile_records)))
        return
    rows = []
    for fmt in args.formats.split(","):
        for fsync in ("off", "on"):
            done = subprocess.run(
                [sys.executable, __file__, "--records", str(args.records), "--profile-records",
                 str(args.profile_records), "--one", fmt, fsync],
                capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"done {fmt} fsync {fsync}", file=sys.stderr, flush=True)
    print(f"{'format':<7}{'fsync':<7}{'records':>9}{'rejected':>10}{'seconds':>10}"
          f"{'records/s':>11}{'peak MB':>9}")
    for r in rows:
        print(f"{r['format']:<7}{'on' if r['fsync'] else 'off':<7}{r['records']:>9}"
              f"{r['rejected']:>10}{r['seconds']:>10}{r['records_per_s']:>11}{r['peak_mb']:>9}")
    for r in rows:
        print(f"\n== cProfile top 10 by own time: {r['format']}, fsync "
              f"{'on' if r['fsync'] else 'off'}, {args.profile_records} records ==")
        print(r["profile"])


if __name__ == "__main__":
    main()
