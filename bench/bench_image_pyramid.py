"""Benchmark pyramid builds and compare on-disk layouts (container file vs static IIIF tile tree).

Usage: .venv/bin/python bench/bench_image_pyramid.py [--mpx 100 400] [--workdir DIR] [--source tif]

For each size it generates a master in a child process, builds the pyramid in another child
(reporting wall time and peak RSS of that child alone), exports the same tiles as a static IIIF
tile tree, and measures tile-read latency from both, plus a multi-page TIFF for reference.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS_IMAGE = ROOT.parent / "shared" / "corpus" / "images" / "met_bruegel_harvesters.jpeg"


def make_master(path: Path, mpx: int, fmt: str) -> None:
    """Write a square master of about `mpx` megapixels made of real (corpus) image content."""
    from PIL import Image, ImageChops

    side = int(math.sqrt(mpx * 1_000_000))
    Image.MAX_IMAGE_PIXELS = None  # generating our own test master, not reading untrusted input
    with Image.open(CORPUS_IMAGE) as src:
        patch = src.convert("RGB").resize((2000, 1475), Image.Resampling.BICUBIC)
    noise = Image.effect_noise((2000, 1475), 24).convert("RGB")
    patch = ImageChops.add(patch, noise, scale=1.0, offset=-100)
    canvas = Image.new("RGB", (side, side), "white")
    for y in range(0, side, patch.height):
        for x in range(0, side, patch.width):
            canvas.paste(patch.rotate(((x + y) // 2000 % 4) * 90, expand=False), (x, y))
    if fmt == "jpg":
        canvas.save(path, "JPEG", quality=90)
    else:
        canvas.save(path, "TIFF")


def child_build(master: Path, dest: Path) -> None:
    """Build a pyramid and print wall time and this process's peak RSS as JSON."""
    sys.path.insert(0, str(ROOT))
    from iiif.pyramid import build_pyramid

    t0 = time.perf_counter()
    info = build_pyramid(master, dest)
    elapsed = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "seconds": round(elapsed, 2),
                "peak_rss_mb": round(peak_kb / 1024),
                "width": info.width,
                "height": info.height,
                "levels": len(info.levels),
                "tiles": sum(lv.columns * lv.rows for lv in info.levels),
            }
        )
    )


def export_tile_tree(pyramid_dir: Path, tree: Path) -> dict[str, float]:
    """Write every tile as a static IIIF 3.0 tile tree: {region}/{size}/0/default.jpg."""
    from iiif.pyramid import open_pyramid

    p = open_pyramid(pyramid_dir)
    info = p.info
    ts = info.tile_size
    files = dirs = 0
    t0 = time.perf_counter()
    for lv in info.levels:
        s = lv.scale_factor
        for row in range(lv.rows):
            for col in range(lv.columns):
                x, y = col * ts * s, row * ts * s
                w, h = min(ts * s, info.width - x), min(ts * s, info.height - y)
                tw, th = min(ts, lv.width - col * ts), min(ts, lv.height - row * ts)
                d = tree / f"{x},{y},{w},{h}" / f"{tw},{th}" / "0"
                if not d.exists():
                    d.mkdir(parents=True)
                    dirs += 3
                (d / "default.jpg").write_bytes(p.tile_bytes(s, col, row))
                files += 1
    return {"seconds": time.perf_counter() - t0, "files": files, "dirs": dirs}


def disk_usage(path: Path) -> tuple[int, int, int]:
    """(apparent bytes, allocated bytes, inodes) under path."""
    apparent = allocated = inodes = 0
    for dirpath, dirnames, filenames in os.walk(path):
        inodes += len(dirnames)
        for name in filenames:
            st = os.stat(os.path.join(dirpath, name))
            apparent += st.st_size
            allocated += st.st_blocks * 512
            inodes += 1
    return apparent, allocated, inodes


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p99 in milliseconds."""
    qs = statistics.quantiles(samples, n=100)
    return {"p50_ms": round(qs[49] * 1000, 3), "p99_ms": round(qs[98] * 1000, 3)}


def tile_latency(pyramid_dir: Path, tree: Path, n: int) -> dict[str, dict[str, float]]:
    """Latency of reading random tiles from the container, the tree and through the route."""
    from flask import Flask

    from iiif.image_routes import create_image_blueprint
    from iiif.pyramid import open_pyramid

    p = open_pyramid(pyramid_dir)
    info = p.info
    ts = info.tile_size
    rng = random.Random(1)
    picks = []
    for _ in range(n):
        lv = rng.choice(info.levels)
        picks.append((lv, rng.randrange(lv.columns), rng.randrange(lv.rows)))

    def tree_path(lv, col, row) -> Path:  # type: ignore[no-untyped-def]
        s = lv.scale_factor
        x, y = col * ts * s, row * ts * s
        w, h = min(ts * s, info.width - x), min(ts * s, info.height - y)
        tw, th = min(ts, lv.width - col * ts), min(ts, lv.height - row * ts)
        return tree / f"{x},{y},{w},{h}" / f"{tw},{th}" / "0" / "default.jpg"

    out: dict[str, dict[str, float]] = {}
    samples = []
    for lv, col, row in picks:
        t0 = time.perf_counter()
        p.tile_bytes(lv.scale_factor, col, row)
        samples.append(time.perf_counter() - t0)
    out["container_tile_bytes"] = percentiles(samples)

    samples = []
    for lv, col, row in picks:
        t0 = time.perf_counter()
        p2 = open_pyramid(pyramid_dir)  # cold open: header + index parse per request
        p2.tile_bytes(lv.scale_factor, col, row)
        p2.close()
        samples.append(time.perf_counter() - t0)
    out["container_open_and_read"] = percentiles(samples)

    samples = []
    for lv, col, row in picks:
        t0 = time.perf_counter()
        tree_path(lv, col, row).read_bytes()
        samples.append(time.perf_counter() - t0)
    out["tree_file_read"] = percentiles(samples)

    app = Flask(__name__)
    app.register_blueprint(
        create_image_blueprint(
            lambda ident: pyramid_dir if ident == "img" else None, base_url=lambda: "http://b"
        )
    )
    client = app.test_client()
    samples = []
    for lv, col, row in picks:
        s = lv.scale_factor
        x, y = col * ts * s, row * ts * s
        w, h = min(ts * s, info.width - x), min(ts * s, info.height - y)
        tw, th = min(ts, lv.width - col * ts), min(ts, lv.height - row * ts)
        url = f"/iiif/3/img/{x},{y},{w},{h}/{tw},{th}/0/default.jpg"
        t0 = time.perf_counter()
        resp = client.get(url)
        samples.append(time.perf_counter() - t0)
        assert resp.status_code == 200
    out["route_aligned_tile"] = percentiles(samples)

    samples = []
    for _ in range(max(20, n // 20)):
        x, y = rng.randrange(info.width - 1000), rng.randrange(info.height - 1000)
        url = f"/iiif/3/img/{x},{y},1000,1000/500,/0/default.jpg"
        t0 = time.perf_counter()
        resp = client.get(url)
        samples.append(time.perf_counter() - t0)
        assert resp.status_code == 200
    out["route_render_1000px_region_to_500px"] = percentiles(samples)
    return out


def multipage_tiff_reference(pyramid_dir: Path, work: Path, n: int) -> dict[str, object]:
    """A multi-page (one page per level) JPEG-compressed TIFF: Pillow cannot write tiles."""
    from PIL import Image

    from iiif.pyramid import open_pyramid

    p = open_pyramid(pyramid_dir)
    info = p.info
    Image.MAX_IMAGE_PIXELS = None  # our own derived file
    pages = [
        p.render_region((0, 0, info.width, info.height), (lv.width, lv.height))
        for lv in info.levels
    ]
    path = work / "levels.tif"
    t0 = time.perf_counter()
    pages[0].save(path, "TIFF", compression="jpeg", quality=90, save_all=True,
                  append_images=pages[1:])
    write_s = time.perf_counter() - t0
    del pages
    rng = random.Random(2)
    samples = []
    for _ in range(n):
        k = rng.randrange(len(info.levels))
        lv = info.levels[k]
        col, row = rng.randrange(lv.columns), rng.randrange(lv.rows)
        t0 = time.perf_counter()
        with Image.open(path) as im:
            im.seek(k)
            box = (col * 512, row * 512, min((col + 1) * 512, lv.width),
                   min((row + 1) * 512, lv.height))
            im.crop(box).save(os.devnull, "JPEG", quality=90)
        samples.append(time.perf_counter() - t0)
    return {"bytes": path.stat().st_size, "write_seconds": round(write_s, 2),
            **percentiles(samples)}


def main() -> None:
    """Run the benchmark and print a JSON report."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mpx", type=int, nargs="+", default=[100, 400])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/memoria-bench-image"))
    ap.add_argument("--source", choices=["jpg", "tif"], default="jpg")
    ap.add_argument("--tiles", type=int, default=2000)
    ap.add_argument("--no-tiff-reference", action="store_true")
    ap.add_argument("--child-build", nargs=2, type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--child-master", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_build:
        child_build(*args.child_build)
        return
    if args.child_master:
        make_master(Path(args.child_master[0]), int(args.child_master[1]), args.child_master[2])
        return
    sys.path.insert(0, str(ROOT))
    report: dict[str, object] = {}
    for mpx in args.mpx:
        work = args.workdir / f"{mpx}mpx-{args.source}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        master = work / f"master.{args.source}"
        subprocess.run(
            [sys.executable, __file__, "--child-master", str(master), str(mpx), args.source],
            check=True,
        )
        build = json.loads(
            subprocess.run(
                [sys.executable, __file__, "--child-build", str(master), str(work / "pyr")],
                check=True, capture_output=True, text=True,
            ).stdout
        )
        tree = export_tile_tree(work / "pyr", work / "tree")
        c_app, c_alloc, c_inodes = disk_usage(work / "pyr")
        t_app, t_alloc, t_inodes = disk_usage(work / "tree")
        entry: dict[str, object] = {
            "master_bytes": master.stat().st_size,
            "build": build,
            "container": {"bytes": c_app, "allocated": c_alloc, "inodes": c_inodes},
            "tile_tree": {"bytes": t_app, "allocated": t_alloc, "inodes": t_inodes,
                          "extra_write_seconds": round(tree["seconds"], 2)},
            "latency": tile_latency(work / "pyr", work / "tree", args.tiles),
        }
        if not args.no_tiff_reference and mpx <= 100:
            entry["multipage_tiff"] = multipage_tiff_reference(work / "pyr", work,
                                                               max(20, args.tiles // 50))
        report[f"{mpx}mpx_{args.source}"] = entry
        print(json.dumps({f"{mpx}mpx_{args.source}": entry}, indent=1), flush=True)
        shutil.rmtree(work / "tree", ignore_errors=True)
    (args.workdir / f"report-{args.source}.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
