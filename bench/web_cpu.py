"""CPU per request kind of the web front end: one in-process app, a fixed list of URLs.

Run: .venv/bin/python -m bench.web_cpu [--records N] [--n 100] [--cache off|on]

On a shared machine the latency of bench_web says little; the CPU a request costs does not
depend on who else runs. This asks the app itself (Flask's test client, no HTTP server) for
the same URLs bench_web makes — search pages and item pages of the cached dataset, IIIF
manifests and tiles — and reports CPU ms per request (user + system of the whole process,
the search backend's counting threads included). `--cache off` (the default) measures cold
renders, `--cache on` answers from the page cache (each URL asked for once before timing): the
first repeat through Flask from the shared cache, the next from the worker's own copy.
Compare two versions back to back: run it with PYTHONPATH pointing at each checkout.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.bench_web import (
    BASE_URL,
    image_records,
    item_paths,
    record_ids,
    search_paths,
    tile_paths,
)
from bench.web_dataset import home_for

try:
    from archive.site.fast_pages import FastPages
except ImportError:  # an older checkout, for A/B runs (no copies of whole answers)
    FastPages = None  # type: ignore[assignment,misc]


def make_client(home: Path, cache: bool) -> Any:
    """The app of the cached dataset's instance (the page cache on or off) and its client."""
    os.environ.update({"MEMORIA_HOME": str(home), "MEMORIA_BASE_URL": BASE_URL,
                       "MEMORIA_PAGE_CACHE_MB": "256" if cache else "0"})
    from archive.settings import load_settings
    from archive.web import create_app

    return create_app(load_settings()).test_client()


def url_lists(client: Any, home: Path, records: int, n: int) -> dict[str, list[str]]:
    """n URLs of each kind, drawn as bench_web draws them (same seed)."""
    def get_json(url: str) -> Any:
        path = url.split("://", 1)[1]
        resp = client.get(path[path.index("/"):], headers={"Accept": "application/json"})
        if resp.status_code >= 400:
            raise OSError(f"{url}: {resp.status_code}")
        return resp.get_json()

    # The bench's URL makers ask the app through its test client, not a server.
    rng = random.Random(5)
    searches = search_paths("http://app", rng, 4000, fetch=get_json)
    items = item_paths(record_ids(home), rng, 20000)
    manifests, services = image_records("http://app", records, fetch=get_json)
    tiles = tile_paths("http://app", services, rng, fetch=get_json)
    # Past the first few hundred: the most popular URLs are not all of one shape.
    return {"search": searches[200:200 + n], "item": items[200:200 + n],
            "manifest": (manifests * n)[:n], "tile": tiles[:n]}


def warm_parts(client: Any) -> None:
    """Ask for every parent's parts once, as a running server has (item pages' prev/next)."""
    archive = client.application.extensions["memoria"]
    rows = archive.rdf.query(
        "SELECT DISTINCT ?p WHERE { ?c <http://purl.org/dc/terms/isPartOf> ?p }")
    for row in rows:
        if rid := archive.minter.record_id_of(row["p"].value):
            archive.children(rid)


def cpu_ms(client: Any, paths: list[str]) -> list[float]:
    """CPU ms of each request (the first five warm code paths and are not counted)."""
    for path in paths[:5]:
        client.get(path)
    out = []
    for path in paths[5:]:
        start = time.process_time()
        resp = client.get(path)
        out.append((time.process_time() - start) * 1000)
        if resp.status_code != 200:
            raise RuntimeError(f"{path}: {resp.status_code}")
    return sorted(out)


def main(argv: list[str]) -> int:
    """Print CPU ms per request for each kind."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--n", type=int, default=100, help="requests per kind")
    parser.add_argument("--cache", choices=("off", "on"), default="off")
    parser.add_argument("--kinds", default="search,item,manifest,tile")
    args = parser.parse_args(argv)
    home = home_for(args.records)
    if not (home / ".bench-complete").exists():
        print(f"no dataset at {home}: run python -m bench.web_dataset {args.records}",
              file=sys.stderr)
        return 2
    client = make_client(home, args.cache == "on")
    warm_parts(client)
    lists = url_lists(client, home, args.records, args.n)
    for kind in args.kinds.split(","):
        paths = lists[kind]
        rounds = [f"cache {args.cache}"]
        copies = getattr(client.application, "wsgi_app", None)
        if args.cache == "on":
            for path in paths:
                client.get(path)
            # From the shared page cache through Flask (the worker's copies of whole answers
            # off), then from those copies (archive/site/fast_pages.py).
            rounds = ["shared cache", "worker copy"]
        for label in rounds:
            if label == "shared cache" and FastPages is not None \
                    and isinstance(copies, FastPages):
                budget, copies.max_bytes = copies.max_bytes, 0
                copies.clear()
                ms = cpu_ms(client, paths)
                copies.max_bytes = budget
                for path in paths:
                    client.get(path)
            else:
                ms = cpu_ms(client, paths)
            print(f"{kind:8} {label}: {len(ms)} requests, CPU ms mean "
                  f"{statistics.mean(ms):.2f}, p50 {ms[len(ms) // 2]:.2f}, "
                  f"p90 {ms[int(len(ms) * 0.9)]:.2f}"
                  f" (load average {os.getloadavg()[0]:.1f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
