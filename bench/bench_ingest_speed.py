"""Ingest speed of one format end to end: records/s, CPU seconds, peak memory and machine load.

    .venv/bin/python -m bench.bench_ingest_speed FORMAT RECORDS [--fsync] [--spy FILE]
    .venv/bin/python -m bench.bench_ingest_speed all RECORDS [--formats csv,dc,...]

FORMAT is csv, dc, ead, lido or marcxml (synthetic inputs from the other ingest benchmarks);
`all` runs the five one after another, each in a fresh process, and deletes their trees only
when the series is over (see below). A run is one fresh process, so peak RSS (ru_maxrss, this
process and, separately, its largest child) belongs to it alone. CPU seconds are user + system
of the process and its children: on a shared machine they say what the ingest costs even when
the wall clock says how busy everyone else was. The load average is printed at start and end
for that reason, and the system-CPU share with it.

Why the series keeps its trees: on ext4 without a journal (this machine's /, /tmp, /work) every
new inode skips the inodes deleted in the last 60-360 s by scanning them one by one in the
kernel (`recently_deleted`). Deleting a run's storage root (~12 inodes a record) makes every
file create of the next run cost 50-1,000 us instead of ~20 for minutes. So a run never deletes
a tree before measuring, `all` deletes every tree after the last run (on a tmpfs, such as
/dev/shm, each right after its run), and each run first times
a few hundred file creates (`create_us`): a high figure says the disk is still in the shadow of
some deletion (this benchmark's or anyone's) and the run's rate is not the pipeline's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from archive.launch import malloc_in_use, reexec_with_jemalloc
from archive.service import Archive
from archive.settings import load_settings
from bench.bench_ingest_csv import MAPPING, write_csv
from ingest.mapping import load_mapping
from ingest.pipeline import run_batch
from ingest.registry import get_reader


def make_source(fmt: str, folder: Path, count: int) -> tuple[Path, dict[str, object]]:
    """Write `count` synthetic records of a format; returns the file and reader options."""
    if fmt == "csv":
        write_csv(folder / "data.csv", count)
        (folder / "mapping.toml").write_text(MAPPING, encoding="utf-8")
        return folder / "data.csv", {"mapping": load_mapping(folder / "mapping.toml")}
    if fmt in ("dc", "ead"):
        from bench.bench_ingest_xml_a import make_dc, make_ead

        return (make_dc if fmt == "dc" else make_ead)(folder, count), {}
    if fmt in ("lido", "marcxml"):
        from bench.bench_ingest_xml_b import synthetic_lido, synthetic_marc

        path = folder / f"{fmt}.xml"
        (synthetic_lido if fmt == "lido" else synthetic_marc)(path, count)
        return path, {}
    raise SystemExit(f"unknown format {fmt!r}")


def _spy(out: str) -> subprocess.Popen[bytes]:
    """Start py-spy recording this process (the parent only) into `out` (speedscope/flame)."""
    spy = Path(sys.executable).with_name("py-spy")
    fmt = "speedscope" if out.endswith(".json") else "raw" if out.endswith(".txt") else "flamegraph"
    return subprocess.Popen([str(spy), "record", "-r", "50", "-p", str(os.getpid()), "-f", fmt,
                             "-o", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


FORMATS = ("csv", "dc", "ead", "lido", "marcxml")
PROBE_FILES = 300


def create_cost_us(folder: Path) -> float:
    """Wall microseconds to create one empty file in folder (the probe files are kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for n in range(PROBE_FILES):
        os.close(os.open(folder / f"p{n}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    return round(1e6 * (time.perf_counter() - started) / PROBE_FILES, 1)


def run(fmt: str, count: int, fsync: bool, work: Path,
        spy_to: str | None = None) -> dict[str, object]:
    """Ingest `count` records of a format into a fresh instance under work and measure it."""
    create_us = create_cost_us(work / "probe")
    source, options = make_source(fmt, work, count)
    settings = load_settings({"home": str(work / "home"), "base_url": "http://memoria.test",
                              "fsync": fsync}, environ={})
    load_start = os.getloadavg()[0]
    with Archive(settings).open() as archive:
        spy = _spy(spy_to) if spy_to else None
        if spy is not None:
            time.sleep(1.0)  # py-spy attaches before the batch starts
        before = os.times()
        started = time.perf_counter()
        stalls: dict[str, float] = {}
        report = run_batch(archive, get_reader(fmt), source, options=options, stalls=stalls)
        seconds = time.perf_counter() - started
        after = os.times()
        if spy is not None:
            spy.send_signal(2)  # SIGINT: py-spy writes its file and exits
            spy.wait(timeout=120)
    parent_sys = after.system - before.system
    children_sys = after.children_system - before.children_system
    parent = after.user - before.user + parent_sys
    children = after.children_user - before.children_user + children_sys
    cpu = parent + children
    return {
        "format": fmt, "fsync": fsync, "input": report.input,
        "accepted": len(report.accepted), "rejected": len(report.rejected),
        "seconds": round(seconds, 1), "records_per_s": round(report.input / seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "cpu_ms_per_record": round(1000 * cpu / max(report.input, 1), 2),
        # The parent (reading, storage, RDF store, index) and the worker processes apart.
        "parent_ms_per_record": round(1000 * parent / max(report.input, 1), 2),
        "workers_ms_per_record": round(1000 * children / max(report.input, 1), 2),
        # CPU seconds per wall second: 2.0 means both cores were busy the whole time.
        "cores_busy": round(cpu / seconds, 2),
        # System CPU (kernel: file creates, page cache, ...) as a share of all CPU, and its
        # parent and worker parts a record; high figures on ext4 follow recent deletions.
        "sys_share": round((parent_sys + children_sys) / max(cpu, 1e-9), 3),
        "parent_sys_ms_per_record": round(1000 * parent_sys / max(report.input, 1), 2),
        "workers_sys_ms_per_record": round(1000 * children_sys / max(report.input, 1), 2),
        # Wall us to create one empty file just before the run: ~20 on a settled ext4 disk,
        # 50-1,000 in the minutes after a big deletion (see the module docstring).
        "create_us": create_us,
        # Stalls: the parent waiting for a worker's chunk; workers waiting for their next one.
        "parent_waited_s": round(stalls.get("parent_waited", 0.0), 1),
        "workers_idle_s": round(stalls.get("workers_idle", 0.0), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_child_rss_mb": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "load_start": round(load_start, 1), "load_end": round(os.getloadavg()[0], 1),
        # The allocator under the run (archive/launch.py); MEMORIA_MALLOC=system for glibc's.
        "malloc": malloc_in_use(),
    }


def on_tmpfs(path: Path) -> bool:
    """Whether a path lies on a tmpfs (the mount with the longest matching prefix says)."""
    target = str(path.resolve())
    best, kind = "", ""
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            point = fields[1]
            inside = target == point or target.startswith(point.rstrip("/") + "/")
            if inside and len(point) > len(best):
                best, kind = point, fields[2]
    return kind == "tmpfs"


def series(formats: list[str], count: int, fsync: bool) -> None:
    """Run formats one after another, each in a fresh process; delete their trees at the end
    (on a tmpfs, right after each run: it has no deletion shadow, and a kept tree of 100,000
    records there doubled the next run's system time)."""
    root = Path(tempfile.mkdtemp(prefix="bench-speed-series-"))
    at_once = on_tmpfs(root)
    try:
        for number, fmt in enumerate(formats):
            work = root / f"{number}-{fmt}"
            command = [sys.executable, "-m", "bench.bench_ingest_speed", fmt, str(count),
                       "--keep-in", str(work)] + (["--fsync"] if fsync else [])
            if subprocess.run(command, check=False).returncode:
                print(f"{fmt}: the run failed (see above)", file=sys.stderr, flush=True)
            if at_once:
                shutil.rmtree(work, ignore_errors=True)
    finally:
        print(f"deleting {root} (the next file-heavy run on this disk should wait ~6 minutes)",
              file=sys.stderr, flush=True)
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str]) -> None:
    """Parse arguments, run once (or the series), print one JSON line a run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("format", help=f"one of {', '.join(FORMATS)}, or all")
    parser.add_argument("records", type=int)
    parser.add_argument("--fsync", action="store_true")
    parser.add_argument("--spy", metavar="FILE",
                        help="record the parent with py-spy (.json speedscope, .txt raw, else SVG)")
    parser.add_argument("--formats", default=",".join(FORMATS),
                        help="with `all`: which formats, in order (comma-separated)")
    parser.add_argument("--keep-in", metavar="DIR",
                        help="work in DIR (must not exist) and leave it; `all` uses this")
    args = parser.parse_args(argv)
    if args.format == "all":
        series([f for f in args.formats.split(",") if f], args.records, args.fsync)
        return
    if args.keep_in:
        work = Path(args.keep_in)
        work.mkdir(parents=True)
    else:
        work = Path(tempfile.mkdtemp(prefix=f"bench-speed-{args.format}-"))
    try:
        # Printed before the clean-up, which takes minutes for 100,000 stored objects.
        print(json.dumps(run(args.format, args.records, args.fsync, work, args.spy)), flush=True)
    finally:
        if not args.keep_in:
            # This deletion makes file creates on the disk slow for minutes (module docstring).
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    # As the `memoria` command runs: under jemalloc when it is installed (archive/launch.py).
    reexec_with_jemalloc()
    main(sys.argv[1:])
