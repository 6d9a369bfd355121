"""End-to-end CSV ingest: parse -> RDF -> validate -> OCFL storage -> RDF store, records/s.

Run: .venv/bin/python -m bench.bench_ingest_csv [N ...]
"""

from __future__ import annotations

import cProfile
import csv
import io
import pstats
import random
import sys
import tempfile
import time
from pathlib import Path

from archive.service import Archive
from archive.settings import load_settings
from bench.common import peak_rss_mb, print_table
from ingest.mapping import load_mapping
from ingest.pipeline import run_batch
from ingest.registry import get_reader

MAPPING = """
[source]
namespace = "bench"
id = "id"
provider = "Benchmark museum"

[[column]]
name = "id"
kind = "identifier"
[[column]]
name = "title_en"
to = "dc:title"
lang = "en"
[[column]]
name = "title_es"
to = "dc:title"
lang = "es"
[[column]]
name = "title_zh"
to = "dc:title"
lang = "zh-Hans"
[[column]]
name = "description"
to = "dc:description"
lang = "en"
[[column]]
name = "date"
kind = "date"
[[column]]
name = "creator"
kind = "agent"
separator = "|"
[[column]]
name = "subjects"
kind = "concept"
separator = "|"
lang = "en"
[[column]]
name = "place"
kind = "place"
lat = "lat"
long = "lon"
[[column]]
name = "rights"
kind = "rights"
[[column]]
name = "parent"
kind = "parent"
[[column]]
name = "order"
kind = "order"
"""

PLACES = [("Guangzhou", 23.1291, 113.2644), ("Oaxaca de Juárez", 17.0654, -96.7236),
          ("San Francisco de Campeche", 19.8454, -90.5237), ("Mitla", 16.9264, -96.3597)]
SUBJECTS = ["architecture", "ceramics", "textiles", "maps", "religion", "trade", "festivals"]


def write_csv(path: Path, n: int, seed: int = 7) -> None:
    """Write n realistic rows (three languages, dates, places, a hierarchy)."""
    rng = random.Random(seed)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "title_en", "title_es", "title_zh", "description", "date", "creator",
                "subjects", "place", "lat", "lon", "rights", "parent", "order"])
    for i in range(n):
        place, lat, lon = rng.choice(PLACES)
        year = rng.randint(1500, 1990)
        w.writerow([
            f"R{i:07d}", f"Object number {i} from {place}", f"Objeto número {i} de {place}",
            f"{place}藏品第{i}号", "A record generated for the benchmark. " * 4,
            rng.choice([str(year), f"ca. {year}", f"{year}-{year + 10}", "siglo XIX"]),
            rng.choice(["Unknown maker", "Taller de Oaxaca|Maestro anónimo", "广州工匠"]),
            "|".join(rng.sample(SUBJECTS, 3)), place, lat, lon,
            rng.choice(["CC0", "CC BY 4.0", "http://rightsstatements.org/vocab/InC/1.0/"]),
            f"R{(i // 100) * 100:07d}" if i % 100 else "", i % 100 or "",
        ])
    path.write_text(buf.getvalue(), encoding="utf-8")


def run(n: int, fsync: bool, profile: bool = False) -> tuple[float, float, pstats.Stats | None]:
    """Ingest n rows into a fresh instance; returns (records/s, seconds, profile)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_csv(folder / "data.csv", n)
        (folder / "mapping.toml").write_text(MAPPING, encoding="utf-8")
        settings = load_settings({"home": str(folder / "home"), "fsync": fsync}, environ={})
        with Archive(settings).open() as archive:
            options = {"mapping": load_mapping(folder / "mapping.toml")}
            profiler = cProfile.Profile() if profile else None
            start = time.perf_counter()
            if profiler:
                profiler.enable()
            report = run_batch(archive, get_reader("csv"), folder / "data.csv", options=options)
            if profiler:
                profiler.disable()
            elapsed = time.perf_counter() - start
            assert len(report.accepted) == n, report.summary()
        stats = pstats.Stats(profiler) if profiler else None
        return n / elapsed, elapsed, stats


def main(argv: list[str]) -> None:
    """Print the table (and a profile of the largest run without fsync)."""
    sizes = [int(a) for a in argv] or [1000, 10000]
    rows = []
    for n in sizes:
        for fsync in (False, True):
            rate, seconds, _ = run(n, fsync)
            rows.append((n, "on" if fsync else "off", rate, seconds, peak_rss_mb()))
    print_table("CSV ingest end to end (parse, RDF, validate, OCFL storage, RDF store)",
                ["records", "fsync", "records/s", "seconds", "peak RSS MB"], rows)
    _, _, stats = run(sizes[-1] if sizes[-1] <= 10000 else 10000, False, profile=True)
    if stats:
        print("\nWhere the time goes (cumulative, top 15):\n")
        stats.sort_stats("cumulative").print_stats(15)


if __name__ == "__main__":
    main(sys.argv[1:])
