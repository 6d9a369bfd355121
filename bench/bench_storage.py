"""Benchmark archive.storage: write, update, no-op re-write and read of small records.

    .venv/bin/python bench/bench_storage.py [--records N] [--dir DIR]

Each record has 3 files (~1 KB source, ~3 KB RDF, ~200 B JSON). Runs with fsync on and off.
"""

import argparse
import multiprocessing
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archive.storage import Storage


def record_files(rng: random.Random, number: int, edition: int = 0) -> dict[str, bytes]:
    """Three files of roughly the sizes a Memoria record has."""
    return {
        "source.xml": rng.randbytes(512).hex().encode(),
        "record.ttl": rng.randbytes(1536).hex().encode(),
        "record.json": f'{{"id": {number}, "edition": {edition}, "pad": "{"x" * 160}"}}'.encode(),
    }


def timed(operation: Callable[[int], object], count: int) -> tuple[float, list[float]]:
    """Run operation(0..count-1); return total seconds and per-call seconds."""
    latencies = []
    started = time.perf_counter()
    for number in range(count):
        before = time.perf_counter()
        operation(number)
        latencies.append(time.perf_counter() - before)
    return time.perf_counter() - started, latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def bench_one(base: Path, records: int, fsync: bool) -> list[tuple[str, float, list[float]]]:
    storage = Storage(base / "root", base / "work", fsync=fsync)
    storage.open()
    rng = random.Random(1)
    first = [record_files(rng, n) for n in range(records)]
    second = [{**files, "record.json": files["record.json"] + b" "} for files in first]
    ids = [f"memoria:record/{n:07d}" for n in range(records)]
    results = []

    def create(n: int) -> None:
        storage.write(ids[n], first[n], message="ingest")

    def update(n: int) -> None:
        storage.write(ids[n], second[n], message="metadata edit")

    def rewrite_unchanged(n: int) -> None:
        if storage.write(ids[n], second[n], message="re-ingest").changed:
            raise RuntimeError(f"{ids[n]} changed on an identical re-write")

    def read_all(n: int) -> None:
        for path in second[n]:
            storage.read(ids[n], path)

    for name, operation in (
        ("write new (v1)", create),
        ("write update (v2)", update),
        ("re-write unchanged", rewrite_unchanged),
        ("read 3 files", read_all),
    ):
        total, latencies = timed(operation, records)
        results.append((name, total, latencies))
    return results


def write_share(base: Path, fsync: bool, worker: int, workers: int, records: int) -> None:
    """One worker process: create every workers-th record, starting at worker."""
    storage = Storage(base / "root", base / "work", fsync=fsync)
    storage.open()
    rng = random.Random(worker)
    for number in range(worker, records, workers):
        storage.write(f"memoria:p/{number:07d}", record_files(rng, number), message="ingest")


def bench_parallel(base: Path, records: int, fsync: bool, workers: int) -> float:
    """Aggregate records/s of `workers` processes creating disjoint records."""
    Storage(base / "root", base / "work", fsync=fsync).open()
    processes = [
        multiprocessing.Process(target=write_share, args=(base, fsync, w, workers, records))
        for w in range(workers)
    ]
    started = time.perf_counter()
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    return records / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=None, help="scratch dir (same fs as root)")
    parser.add_argument("--processes", type=int, default=4, help="for the parallel write row")
    args = parser.parse_args()
    print(f"{args.records} records x 3 files; python {sys.version.split()[0]}")
    print(f"{'operation':<22}{'fsync':>6}{'records/s':>12}{'p50 ms':>10}{'p99 ms':>10}")
    for fsync in (True, False):
        base = Path(tempfile.mkdtemp(prefix="bench-storage-", dir=args.dir))
        try:
            for name, total, latencies in bench_one(base, args.records, fsync):
                print(
                    f"{name:<22}{'on' if fsync else 'off':>6}{args.records / total:>12.0f}"
                    f"{percentile(latencies, 0.5) * 1000:>10.2f}"
                    f"{percentile(latencies, 0.99) * 1000:>10.2f}"
                )
        finally:
            shutil.rmtree(base, ignore_errors=True)
    for fsync in (True, False):
        base = Path(tempfile.mkdtemp(prefix="bench-storage-", dir=args.dir))
        try:
            rate = bench_parallel(base, args.records, fsync, args.processes)
        finally:
            shutil.rmtree(base, ignore_errors=True)
        name = f"write new x{args.processes} proc"
        print(f"{name:<22}{'on' if fsync else 'off':>6}{rate:>12.0f}{'-':>10}{'-':>10}")


if __name__ == "__main__":
    main()
