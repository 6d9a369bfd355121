"""Benchmark: building a IIIF manifest of 1, 100 and 1,000 canvases, uncached and cached.

.venv/bin/python bench/bench_manifest.py [--sizes 1 100 1000] [--runs 200]

Each record is saved through Archive.save (storage + RDF store) with N images; "uncached" is a
cache miss as the route sees it (read the graph, build, serialise), "cached" a hit (check the
record's and its children's versions, return the stored bytes). Most of a miss is
Archive.get turning the record's triples into an rdflib graph; the table shows that part.
Goal: 100 canvases uncached <= 50 ms, cached <= 2 ms.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archive.record import ImageFile, RecordBuilder, RecordDraft
from archive.service import Archive, Provenance
from archive.settings import load_settings
from archive.vocab import DC, DCTERMS
from bench.common import median, percentile, print_table
from iiif.presentation import ManifestCache
from iiif.schema import validate_presentation

GOAL_UNCACHED_MS = 50.0
GOAL_CACHED_MS = 2.0


def make_record(archive: Archive, n: int, master: Path) -> str:
    """Save a book of n pages (all the same small JPEG) and return its id."""
    rid = f"bench-book{n}"
    b = RecordBuilder(archive.minter, rid)
    b.add_literal(DC.title, f"Libro de {n} páginas", "es")
    b.add_literal(DC.title, f"{n} 頁之書", "zh-Hant")
    b.add_literal(DC.description, "A benchmark book.", "en")
    b.add_date("1605", DCTERMS.created)
    b.add_place("Sevilla", 37.3891, -5.9845)
    b.add_agent(DC.creator, "Anónimo", "es")
    b.set_type("TEXT")
    b.set_rights("http://rightsstatements.org/vocab/NoC-US/1.0/")
    b.set_providers("Biblioteca de prueba", "Memoria")
    images = []
    for page in range(1, n + 1):
        image = ImageFile(f"book{n}-p{page:04d}", master, f"book{n}-p{page:04d}.jpg",
                          "image/jpeg", 2400, 3200)
        b.add_image(image)
        images.append(image)
    draft = RecordDraft(rid, b.graph, b"bench", "text/csv", images)
    archive.save(draft, Provenance("bench", "1", "bench", "bench", "1"), pyramids_built=True)
    return rid


def timed(fn: object, runs: int) -> list[float]:
    """Milliseconds of each of `runs` calls."""
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - t) * 1000)
    return samples


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        settings = load_settings({"home": str(home), "base_url": "http://memoria.test",
                                  "fsync": False}, environ={})
        master = Path(tmp) / "page.jpg"
        Image.new("RGB", (24, 32), "navy").save(master)
        rows = []
        with Archive(settings).open() as archive:
            for n in args.sizes:
                rid = make_record(archive, n, master)
                cache = ManifestCache()
                doc = cache.get(archive, rid).doc
                assert len(doc["items"]) == n and validate_presentation(doc) == []
                runs = max(10, args.runs if n <= 100 else args.runs // 10)

                def miss(cache: ManifestCache = cache, rid: str = rid) -> None:
                    cache.clear()
                    cache.get(archive, rid)

                def hit(cache: ManifestCache = cache, rid: str = rid) -> None:
                    cache.get(archive, rid)

                timed(miss, 3)
                uncached = timed(miss, runs)
                reads = timed(lambda rid=rid: archive.get(rid), runs)
                cache.get(archive, rid)
                cached = timed(hit, runs * 5)
                size_kb = len(cache.get(archive, rid).body) / 1024
                rows.append((n, runs, median(uncached), percentile(uncached, 99),
                             median(reads), median(cached), percentile(cached, 99),
                             round(size_kb)))
        print_table("IIIF manifest build (ms)",
                    ["canvases", "runs", "uncached p50", "uncached p99",
                     "of which Archive.get p50", "cached p50", "cached p99", "JSON KiB"], rows)
        for n, _, p50, _, _, c50, _, _ in rows:
            if n == 100:
                ok = p50 <= GOAL_UNCACHED_MS and c50 <= GOAL_CACHED_MS
                print(f"\n100 canvases: uncached p50 {p50:.1f} ms (goal {GOAL_UNCACHED_MS:.0f}), "
                      f"cached p50 {c50:.2f} ms (goal {GOAL_CACHED_MS:.0f}): "
                      f"{'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
