"""Run every benchmark in turn: `python -m bench` (or `make bench`); each prints its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Cheapest first; the image-server comparison starts IIPImage and Memoria servers on loopback.
ORDER = ["bench_storage", "bench_ingest_csv", "bench_ingest_xml_a", "bench_ingest_xml_b",
         "bench_image_pyramid", "bench_manifest", "bench_search", "bench_image_server",
         "bench_web"]


def main(names: list[str]) -> int:
    """Run the named benchmarks (all when none are named); return the number that failed."""
    chosen = names or [n for n in ORDER if (HERE / f"{n}.py").exists()]
    failed = 0
    for name in chosen:
        print(f"\n## {name}\n", flush=True)
        result = subprocess.run([sys.executable, "-m", f"bench.{name}"], cwd=HERE.parent,
                                check=False)
        failed += result.returncode != 0
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
