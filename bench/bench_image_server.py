"""Benchmark Memoria's IIIF image server against IIPImage, both over HTTP on 127.0.0.1.

Usage: .venv/bin/python -m bench.bench_image_server [--duration 15] [--concurrency 8 32]
       [--servers iipimage memoria memoria-bp1 memoria-bp2] [--rounds N] [--workdir DIR]
       [--quick] [--no-kinds] [--json FILE]

What it does, in one command:

1. Checks that iipsrv, lighttpd, vips and wrk exist (it installs nothing; it tells what to
   apt-get, or run `scripts/iipimage.sh install` as root).
2. Prepares the images (kept in --workdir and reused on the next run): a 100 Mpx master made
   from the corpus' Bruegel (scaled up, with film grain and a coarser texture so that tiles
   compress like a real scan), and every corpus image. Each becomes a Memoria pyramid
   (iiif.pyramid.build_pyramid, or `memoria ingest` for the real app) and a pyramidal TIFF for
   IIPImage (`vips tiffsave --tile --pyramid --compression jpeg`, 512 px tiles, Q 90 like
   Memoria's tiles).
3. Writes the request lists. The mix per image: 20 thumbnails of 128 px, 8 aligned 512 px
   tiles, 8 random regions, 4 views at 1024 px, 1 view at 4096 px (capped at the image width),
   all IIIF 2 on both servers.
4. Starts each server in turn on a free loopback port, loads it with wrk walking the list
   (bench/image_load/walk.lua), stops it, and prints one Markdown table.

Servers: `iipimage` (lighttpd + iipsrv FastCGI, one iipsrv process per core, via
scripts/iipimage.sh), `memoria` (`memoria ingest` + `memoria serve`: the production server, as
deployed), `memoria-bp1` / `memoria-bp2` (only the IIIF image blueprint over a directory of
pyramids, under gunicorn with archive/server.py's settings: gthread, 8 threads, with 1 or 2
worker processes).

Workloads: `mix` and `tiles` run with Memoria's derivative cache off (MEMORIA_IIIF_CACHE_MB=0:
every request is rendered, as on a first visit); `repeat` walks a list once with an empty cache
(pass 1) and once more (pass 2), with the cache on, on a freshly started server.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS_DIR = ROOT.parent / "shared" / "corpus" / "images"
BRUEGEL = CORPUS_DIR / "met_bruegel_harvesters.jpeg"
IIPSRV = Path("/usr/lib/iipimage-server/iipsrv.fcgi")
IIP_SCRIPT = ROOT / "scripts" / "iipimage.sh"
LUA = ROOT / "bench" / "image_load" / "walk.lua"
APT_HINT = ("apt-get update && apt-get install -y iipimage-server lighttpd libvips-tools wrk"
            "   (or, as root: bash scripts/iipimage.sh install)")
BIG_ID = "bench-100mpx"
BIG_MPX = 100
TILE = 512
WRK_THREADS = 2
MEMORIA_THREADS = 8  # archive/server.py: max(4, settings.workers * 4) with the default workers=2
ALL_SERVERS = ("iipimage", "memoria", "memoria-bp1", "memoria-bp2")


# --------------------------------------------------------------------------------- tools


def check_tools() -> list[str]:
    """Names of the missing tools."""
    missing = []
    if not (IIPSRV.exists() or shutil.which("iipsrv.fcgi") or shutil.which("iipsrv")):
        missing.append("iipsrv (iipimage-server)")
    for tool, package in (("lighttpd", "lighttpd"), ("vips", "libvips-tools"), ("wrk", "wrk")):
        if not shutil.which(tool):
            missing.append(f"{tool} ({package})")
    return missing


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(port: int, path: str, timeout: float = 60.0) -> None:
    """Wait until GET path answers 200 on 127.0.0.1:port."""
    import http.client

    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            conn.close()
            if resp.status == 200:
                return
            last = resp.status
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} not ready for {path}: {last}")


# --------------------------------------------------------------------------------- images


def make_master(path: Path, mpx: int) -> None:
    """A photo-like master of about mpx megapixels: the Bruegel scaled up, with detail added."""
    from PIL import Image, ImageChops

    Image.MAX_IMAGE_PIXELS = None  # our own generated master, not untrusted input
    with Image.open(BRUEGEL) as src:
        src = src.convert("RGB")
        aspect = src.width / src.height
        w = round(math.sqrt(mpx * 1e6 * aspect))
        h = round(w / aspect)
        up = src.resize((w, h), Image.Resampling.BICUBIC)
    # Fine grain (pixel level) plus a coarse texture (canvas, paint): a scaled-up picture alone
    # would be smooth and compress far better than a real 100 Mpx scan.
    detail = Image.effect_noise((w, h), 14)
    coarse = Image.effect_noise((w // 24 + 1, h // 24 + 1), 40).resize(
        (w, h), Image.Resampling.BICUBIC)
    detail = ImageChops.add(detail, coarse, scale=1.0, offset=-128)
    del coarse
    out = ImageChops.add(up, Image.merge("RGB", (detail, detail, detail)), scale=1.0, offset=-128)
    del up, detail
    tmp = path.with_suffix(".tmp.jpg")
    out.save(tmp, "JPEG", quality=90)
    os.replace(tmp, path)


def image_id(name: str) -> str:
    """An identifier both servers accept (Memoria's pattern has no underscore)."""
    return re.sub(r"[^A-Za-z0-9.~:-]", "-", Path(name).stem)


@dataclass
class Img:
    """One benchmark image: its id, master, TIFF, pyramid and geometry."""

    ident: str
    master: Path
    tif: Path
    width: int = 0
    height: int = 0
    levels: list[tuple[int, int, int, int, int]] = field(default_factory=list)  # s, w, h, c, r


def vips_tiff(src: Path, dest: Path) -> None:
    """The pyramidal TIFF IIPImage serves."""
    tmp = dest.with_suffix(".tmp.tif")
    source = str(src)
    if src.suffix.lower() in (".tif", ".tiff"):
        source += "[page=0]"
    subprocess.run(["vips", "tiffsave", source, str(tmp), "--tile", "--pyramid",
                    "--compression", "jpeg", "--Q", "89", "--tile-width", str(TILE),
                    "--tile-height", str(TILE)], check=True)
    os.replace(tmp, dest)


def normalised_source(src: Path, dest: Path) -> Path:
    """An 8-bit RGB, upright, single-page copy for vips (Memoria's build does the same)."""
    from PIL import Image, ImageOps

    with Image.open(src) as im:
        im.seek(0)
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "PA", "P"):
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, "white")
            im = Image.alpha_composite(bg, im)
        im = im.convert("RGB")
        im.save(dest, "TIFF")
    return dest


def vips_size(tif: Path) -> tuple[int, int]:
    out = subprocess.run(["vipsheader", "-a", str(tif)], capture_output=True, text=True,
                         check=True).stdout
    w = int(re.search(r"^width: (\d+)", out, re.M).group(1))  # type: ignore[union-attr]
    h = int(re.search(r"^height: (\d+)", out, re.M).group(1))  # type: ignore[union-attr]
    return w, h


def prepare_images(work: Path) -> list[Img]:
    """Masters in work/src, TIFFs in work/tif; returns the images, the 100 Mpx one first."""
    src, tifs = work / "src", work / "tif"
    src.mkdir(parents=True, exist_ok=True)
    tifs.mkdir(parents=True, exist_ok=True)
    images = []
    big = src / f"{BIG_ID}.jpg"
    if not big.exists():
        t0 = time.perf_counter()
        log(f"generating the {BIG_MPX} Mpx master {big} …")
        make_master(big, BIG_MPX)
        log(f"  {big.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t0:.1f} s")
    images.append(Img(BIG_ID, big, tifs / f"{BIG_ID}.tif"))
    for path in sorted(CORPUS_DIR.iterdir()):
        if path.name.startswith("."):
            continue
        ident = image_id(path.name)
        copy = src / f"{ident}{path.suffix.lower()}"
        if not copy.exists():
            shutil.copyfile(path, copy)
        images.append(Img(ident, copy, tifs / f"{ident}.tif"))
    for img in images:
        if img.tif.exists():
            continue
        t0 = time.perf_counter()
        if img.ident == BIG_ID:
            vips_tiff(img.master, img.tif)
        else:
            norm = normalised_source(img.master, work / f"{img.ident}.norm.tif")
            vips_tiff(norm, img.tif)
            norm.unlink()
        log(f"  vips pyramid {img.tif.name}: {img.tif.stat().st_size / 1e6:.1f} MB "
            f"in {time.perf_counter() - t0:.1f} s")
    return images


def build_pyramids(images: list[Img], dest_root: Path) -> None:
    """Memoria pyramids for the blueprint servers (reused when present)."""
    from iiif.pyramid import PYRAMID_FILE, build_pyramid

    for img in images:
        dest = dest_root / img.ident
        if (dest / PYRAMID_FILE).exists():
            continue
        t0 = time.perf_counter()
        build_pyramid(img.master, dest)
        log(f"  memoria pyramid {img.ident}: "
            f"{(dest / PYRAMID_FILE).stat().st_size / 1e6:.1f} MB "
            f"in {time.perf_counter() - t0:.1f} s")


def read_geometry(images: list[Img], pyramid_root: Path) -> None:
    """Width, height and levels from Memoria's pyramids; checks IIPImage's TIFF agrees."""
    from iiif.pyramid import open_pyramid

    for img in images:
        p = open_pyramid(pyramid_root / img.ident)
        img.width, img.height = p.info.width, p.info.height
        img.levels = [(lv.scale_factor, lv.width, lv.height, lv.columns, lv.rows)
                      for lv in p.info.levels]
        p.close()
        vw, vh = vips_size(img.tif)
        if (vw, vh) != (img.width, img.height):
            raise SystemExit(f"{img.ident}: Memoria pyramid {img.width}x{img.height} but "
                             f"TIFF {vw}x{vh}")


# --------------------------------------------------------------------------------- requests


def mix_for(img: Img, rng: random.Random) -> list[tuple[str, str]]:
    """One round of the mix for an image as (kind, IIIF 2 request after the identifier)."""
    W, H = img.width, img.height
    out: list[tuple[str, str]] = [("thumb", "full/128,/0/default.jpg")] * 20
    out += [("tile", t) for t in aligned_tiles(img, rng, 8)]
    for _ in range(8):
        w = rng.randint(min(256, W), min(4096, W))
        h = rng.randint(min(256, H), min(4096, H))
        x, y = rng.randint(0, W - w), rng.randint(0, H - h)
        out.append(("region", f"{x},{y},{w},{h}/{rng.randint(256, 1024)},/0/default.jpg"))
    view = min(1024, W)
    out.append(("view1024", f"full/{view},/0/default.jpg"))
    for _ in range(3):
        w = rng.randint(max(1, W // 4), max(1, W // 2))
        h = min(H, round(w * H / W))
        x, y = rng.randint(0, W - w), rng.randint(0, H - h)
        out.append(("view1024", f"{x},{y},{w},{h}/{view},/0/default.jpg"))
    out.append(("view4096", f"full/{min(4096, W)},/0/default.jpg"))
    return out


def aligned_tiles(img: Img, rng: random.Random, n: int) -> list[str]:
    """n aligned 512 px tiles, interior ones when the image has any (both servers agree on
    interior tiles; edge tile sizes round differently: vips floors level sizes, Memoria ceils)."""
    interior: list[str] = []
    edge: list[str] = []
    for s, lw, _lh, cols, rows in img.levels:
        span = TILE * s
        for r in range(rows):
            for c in range(cols):
                x, y = c * span, r * span
                w, h = min(span, img.width - x), min(span, img.height - y)
                size = min(TILE, lw - c * TILE)
                path = f"{x},{y},{w},{h}/{size},/0/default.jpg"
                (interior if c < cols - 1 and r < rows - 1 else edge).append(path)
    pool = interior or edge
    return [rng.choice(pool) for _ in range(n)]


def all_interior_tiles(img: Img) -> list[str]:
    out = []
    for s, _lw, _lh, cols, rows in img.levels:
        span = TILE * s
        for r in range(rows - 1):
            for c in range(cols - 1):
                out.append(f"{c * span},{r * span},{span},{span}/{TILE},/0/default.jpg")
    return out


def request_lists(images: list[Img]) -> dict[str, list[tuple[str, str, str]]]:
    """Named lists of (image id, kind, request), in a fixed seeded order."""
    big, corpus = images[0], images[1:]
    lists: dict[str, list[tuple[str, str, str]]] = {}
    rng = random.Random(20261121)

    def rounds(imgs: list[Img], n: int) -> list[tuple[str, str, str]]:
        items = [(img.ident, kind, req) for _ in range(n) for img in imgs
                 for kind, req in mix_for(img, rng)]
        rng.shuffle(items)
        return items

    lists["mix-100mpx"] = rounds([big], 30)
    lists["mix-corpus"] = rounds(corpus, 10)
    tiles = [(big.ident, "tile", t) for t in all_interior_tiles(big)]
    rng.shuffle(tiles)
    lists["tiles-100mpx"] = tiles
    lists["repeat-100mpx"] = rounds([big], 4)
    lists["repeat-corpus"] = rounds(corpus, 1)
    for kind in ("thumb", "region", "view1024", "view4096"):
        lists[f"{kind}-100mpx"] = [i for i in lists["mix-100mpx"] if i[1] == kind]
    return lists


def write_paths(items: list[tuple[str, str, str]], server: str, dest: Path) -> Path:
    lines = []
    for ident, _kind, req in items:
        if server == "iipimage":
            lines.append(f"/fcgi-bin/iipsrv.fcgi?IIIF={ident}.tif/{req}")
        else:
            lines.append(f"/iiif/2/{ident}/{req}")
    dest.write_text("\n".join(lines) + "\n")
    return dest


# --------------------------------------------------------------------------------- servers


class Server:
    """A server under test: start(cache_on) / stop(); url paths follow its kind."""

    kind = "memoria"

    def __init__(self, name: str, work: Path) -> None:
        self.name = name
        self.work = work
        self.port = 0

    def info_path(self, ident: str) -> str:
        return f"/iiif/2/{ident}/info.json"

    def start(self, cache_on: bool) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def clear_cache(self) -> None:
        pass


class IIPImage(Server):
    kind = "iipimage"

    def __init__(self, name: str, work: Path) -> None:
        super().__init__(name, work)
        self.run = work / "run-iipimage"

    def info_path(self, ident: str) -> str:
        return f"/fcgi-bin/iipsrv.fcgi?IIIF={ident}.tif/info.json"

    def start(self, cache_on: bool) -> None:
        self.port = free_port()
        subprocess.run(["bash", str(IIP_SCRIPT), "start", str(self.port), str(self.work / "tif"),
                        str(self.run), str(os.cpu_count() or 2)], check=True)

    def stop(self) -> None:
        subprocess.run(["bash", str(IIP_SCRIPT), "stop", str(self.run)], check=False)


class Gunicorn(Server):
    """A Memoria server run as a child process (gunicorn master with its workers)."""

    def __init__(self, name: str, work: Path) -> None:
        super().__init__(name, work)
        self.proc: subprocess.Popen[bytes] | None = None
        self.cache_dir = work / f"cache-{name}"

    def command(self, cache_on: bool) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def start(self, cache_on: bool) -> None:
        self.port = free_port()
        shutil.rmtree(self.cache_dir, ignore_errors=True)
        cmd, env = self.command(cache_on)
        logf = (self.work / f"{self.name}.log").open("ab")
        self.proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=logf,
                                     stderr=subprocess.STDOUT, cwd=ROOT,
                                     start_new_session=True)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # gunicorn master stops its workers
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: only its workers
                self.proc.wait(5)
        self.proc = None

    def clear_cache(self) -> None:
        for sub in self.cache_dir.glob("*"):
            shutil.rmtree(sub, ignore_errors=True) if sub.is_dir() else sub.unlink()


class Blueprint(Gunicorn):
    """iiif.image_routes' blueprint only, over work/pyramids, under gunicorn."""

    def __init__(self, name: str, work: Path, workers: int) -> None:
        super().__init__(name, work)
        self.workers = workers

    def command(self, cache_on: bool) -> tuple[list[str], dict[str, str]]:
        return ([sys.executable, "-m", "bench.bench_image_server", "--serve-blueprint",
                 "--port", str(self.port), "--pyramids", str(self.work / "pyramids"),
                 "--cache-dir", str(self.cache_dir), "--cache-mb", "1024" if cache_on else "0",
                 "--workers", str(self.workers)], {})


class MemoriaApp(Gunicorn):
    """The real thing: `memoria serve` over an instance where `memoria ingest` built pyramids."""

    def __init__(self, name: str, work: Path) -> None:
        super().__init__(name, work)
        self.home = work / "home"
        self.cache_dir = self.home / "cache" / "iiif"

    def command(self, cache_on: bool) -> tuple[list[str], dict[str, str]]:
        env = {"MEMORIA_HOME": str(self.home),
               "MEMORIA_BASE_URL": f"http://127.0.0.1:{self.port}",
               "MEMORIA_IIIF_CACHE_MB": "1024" if cache_on else "0"}
        return ([str(ROOT / ".venv" / "bin" / "memoria"), "serve", "--host", "127.0.0.1",
                 "--port", str(self.port)], env)


def ingest_instance(work: Path, images: list[Img]) -> str | None:
    """`memoria ingest` of the masters; returns None when it worked, else why not."""
    home = work / "home"
    src = work / "src"
    done = home / ".bench-ingested"
    if done.exists():
        return None
    service = (ROOT / "archive" / "service.py").read_text()
    if "pyramid" not in service:
        return "archive/service.py does not build pyramids yet"
    shutil.rmtree(home, ignore_errors=True)
    env = {**os.environ, "MEMORIA_HOME": str(home), "MEMORIA_FSYNC": "false"}
    t0 = time.perf_counter()
    res = subprocess.run([str(ROOT / ".venv" / "bin" / "memoria"), "ingest", str(src)],
                         env=env, capture_output=True, text=True, cwd=ROOT)
    log(f"  memoria ingest {src}: exit {res.returncode} in {time.perf_counter() - t0:.1f} s")
    if res.returncode not in (0, 3):
        return f"memoria ingest failed: {(res.stdout + res.stderr).strip()[-400:]}"
    missing = [i.ident for i in images
               if not (home / "pyramids" / i.ident / "pyramid.mpt").exists()]
    if missing:
        return f"memoria ingest made no pyramid for {missing}: {res.stdout.strip()[-400:]}"
    done.write_text("ok\n")
    return None


def serve_blueprint(port: int, pyramids: Path, cache_dir: Path, cache_mb: int,
                    workers: int) -> None:
    """Child process: the IIIF image blueprint alone, under gunicorn like archive/server.py."""
    from flask import Flask
    from gunicorn.app.base import BaseApplication

    from iiif.cache import DerivativeCache
    from iiif.image_request import Limits
    from iiif.image_routes import create_image_blueprint, directory_resolver

    base = f"http://127.0.0.1:{port}"

    def make_app() -> Flask:
        app = Flask("memoria-image-bench")
        # The production app's limits (archive/web.py _register_iiif, default settings).
        limits = Limits(max_width=10_000, max_height=10_000, max_area=25_000_000)
        cache = DerivativeCache(cache_dir, max_bytes=cache_mb << 20)
        app.register_blueprint(create_image_blueprint(
            directory_resolver(pyramids), base_url=lambda: base, cache=cache, limits=limits))
        return app

    class App(BaseApplication):
        def load_config(self) -> None:
            for key, value in {
                "bind": f"127.0.0.1:{port}", "workers": workers, "threads": MEMORIA_THREADS,
                "worker_class": "gthread", "accesslog": "-", "timeout": 120,
                "graceful_timeout": 10,
            }.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            return make_app()

    App().run()


# --------------------------------------------------------------------------------- load


@dataclass
class Result:
    server: str
    workload: str
    conns: int
    rps: float
    p50: float
    p99: float
    errors: int
    requests: int
    note: str = ""


def run_wrk(port: int, paths: Path, mode: str, conns: int, duration: float) -> dict[str, Any]:
    """Run wrk with walk.lua; in "once" mode stop it (SIGINT) when every thread is done."""
    marker = paths.parent / f".done-{os.getpid()}-"
    for old in paths.parent.glob(marker.name + "*"):
        old.unlink()
    cmd = ["wrk", "-t", str(WRK_THREADS), "-c", str(conns), "-d", f"{int(duration)}s",
           "--timeout", "60s", "-s", str(LUA), f"http://127.0.0.1:{port}", "--",
           str(paths), mode, str(WRK_THREADS), str(marker)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if mode == "once":
        while proc.poll() is None:
            if len(list(paths.parent.glob(marker.name + "*"))) >= WRK_THREADS:
                proc.send_signal(signal.SIGINT)  # wrk reports at once, duration until now
                break
            time.sleep(0.005)
    try:
        out, err = proc.communicate(timeout=duration + 120)
    finally:
        if proc.poll() is None:
            proc.kill()
        for old in paths.parent.glob(marker.name + "*"):
            old.unlink()
    for line in out.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[len("WRKJSON "):])
    raise RuntimeError(f"wrk gave no summary: {out[-500:]} {err[-500:]}")


def to_result(server: str, workload: str, conns: int, s: dict[str, Any]) -> Result:
    seconds = s["duration_us"] / 1e6
    errors = (s["non200"] + s["err_connect"] + s["err_read"] + s["err_write"]
              + s["err_timeout"])
    return Result(server, workload, conns, s["requests"] / seconds if seconds else 0.0,
                  s["p50_us"] / 1000, s["p99_us"] / 1000, errors, s["requests"])


def bench_server(server: Server, lists: dict[str, list[tuple[str, str, str]]], work: Path,
                 images: list[Img], durations: float, concurrency: list[int],
                 kinds: bool) -> list[Result]:
    results: list[Result] = []
    pdir = work / "paths"
    pdir.mkdir(exist_ok=True)
    files = {name: write_paths(items, server.kind, pdir / f"{server.kind}-{name}.txt")
             for name, items in lists.items()}

    def start(cache_on: bool) -> None:
        server.start(cache_on)
        for img in images:
            wait_http(server.port, server.info_path(img.ident))
        run_wrk(server.port, files["tiles-100mpx"], "loop", 8, 3)  # warm-up, nothing cached

    # Phase 1: derivative cache off, timed runs.
    start(cache_on=False)
    try:
        for name in ("mix-100mpx", "mix-corpus", "tiles-100mpx"):
            for c in concurrency:
                s = run_wrk(server.port, files[name], "loop", c, durations)
                results.append(to_result(server.name, name, c, s))
                log(f"  {server.name} {name} c{c}: {fmt_result(results[-1])}")
        if kinds:
            for kind in ("thumb", "region", "view1024", "view4096"):
                s = run_wrk(server.port, files[f"{kind}-100mpx"], "loop", 8,
                            max(5, durations / 2))
                results.append(to_result(server.name, f"{kind}-100mpx", 8, s))
                log(f"  {server.name} {kind}-100mpx c8: {fmt_result(results[-1])}")
    finally:
        server.stop()
    # Phase 2: cache on, empty; each list once (pass 1), then again (pass 2).
    start(cache_on=True)
    try:
        for name in ("repeat-100mpx", "repeat-corpus"):
            server.clear_cache()
            for n in (1, 2):
                s = run_wrk(server.port, files[name], "once", 8, 300)
                results.append(to_result(server.name, f"{name} pass {n}", 8, s))
                log(f"  {server.name} {name} pass {n}: {fmt_result(results[-1])}")
    finally:
        server.stop()
    return results


def fmt_result(r: Result) -> str:
    return (f"{r.rps:.1f} req/s, p50 {r.p50:.1f} ms, p99 {r.p99:.1f} ms, "
            f"{r.errors} errors, {r.requests} requests")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def aggregate(results: list[Result]) -> list[tuple[Result, str]]:
    """One row per (server, workload, conns): medians over rounds, and the req/s range."""
    groups: dict[tuple[str, str, int], list[Result]] = {}
    for r in results:
        groups.setdefault((r.server, r.workload, r.conns), []).append(r)
    rows = []
    for (server, workload, conns), rs in groups.items():
        med = Result(server, workload, conns, statistics.median(r.rps for r in rs),
                     statistics.median(r.p50 for r in rs), statistics.median(r.p99 for r in rs),
                     sum(r.errors for r in rs), sum(r.requests for r in rs))
        spread = "" if len(rs) == 1 else \
            f" ({min(r.rps for r in rs):,.1f}–{max(r.rps for r in rs):,.1f})"
        rows.append((med, spread))
    return rows


def print_table(results: list[Result], command: str, notes: list[str], rounds: int) -> None:
    rows = aggregate(results)
    base = {(r.workload, r.conns): r for r, _ in rows if r.server == "iipimage"}
    print("\n### Memoria vs IIPImage, IIIF 2 over HTTP on 127.0.0.1\n")
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores "
          f"({platform.machine()}), Python {platform.python_version()}; "
          f"`{command}`\n")
    for note in notes:
        print(f"- {note}")
    if rounds > 1:
        print(f"- {rounds} rounds (every server in turn, then again): medians, with the "
              "range of requests/s over the rounds in brackets; errors and requests summed")
    print()
    print("| server | workload | conns | requests/s | p50 ms | p99 ms | errors | "
          "ratio Memoria/IIPImage (req/s) |")
    print("|---|---|---|---|---|---|---|---|")
    order = {name: i for i, name in enumerate(ALL_SERVERS)}
    workloads: list[str] = []
    for r, _ in rows:
        if r.workload not in workloads:
            workloads.append(r.workload)
    rows.sort(key=lambda x: (workloads.index(x[0].workload), x[0].conns,
                             order.get(x[0].server, 9)))
    for r, spread in rows:
        ref = base.get((r.workload, r.conns))
        ratio = "—" if r.server == "iipimage" or ref is None or not ref.rps else \
            f"{r.rps / ref.rps:.2f}"
        print(f"| {r.server} | {r.workload} | {r.conns} | {r.rps:,.1f}{spread} | {r.p50:,.1f} | "
              f"{r.p99:,.1f} | {r.errors} | {ratio} |")


# --------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/memoria-bench-image-server"))
    ap.add_argument("--duration", type=float, default=15.0, help="seconds per timed run")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--servers", nargs="+", default=list(ALL_SERVERS), choices=ALL_SERVERS)
    ap.add_argument("--no-kinds", action="store_true",
                    help="skip the per-kind runs (thumbnails, regions, views) on 100 Mpx")
    ap.add_argument("--quick", action="store_true", help="5 s runs, concurrency 8 only")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every server in turn this many times; the table shows medians")
    ap.add_argument("--json", type=Path, help="also write the results here")
    # internal: the child process serving the blueprint
    ap.add_argument("--serve-blueprint", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--pyramids", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--cache-dir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--cache-mb", type=int, default=1024, help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    # SIGTERM (a killed run) unwinds through the finally blocks that stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.serve_blueprint:
        serve_blueprint(args.port, args.pyramids, args.cache_dir, args.cache_mb, args.workers)
        return 0

    command = "python -m bench.bench_image_server " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    missing = check_tools()
    if missing:
        print(f"missing: {', '.join(missing)}\ninstall them with: {APT_HINT}", file=sys.stderr)
        return 2
    if args.quick:
        args.duration, args.concurrency = 5.0, [8]
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))

    log(f"preparing images in {work} …")
    images = prepare_images(work)
    build_pyramids(images, work / "pyramids")
    read_geometry(images, work / "pyramids")
    for img in images:
        for f in (img.tif, work / "pyramids" / img.ident / "pyramid.mpt"):
            with f.open("rb") as fh:  # into the page cache, for both servers alike
                while fh.read(1 << 24):
                    pass
    lists = request_lists(images)
    notes = [f"images: {BIG_ID} {images[0].width}x{images[0].height} "
             f"({images[0].width * images[0].height / 1e6:.0f} Mpx); corpus: "
             + ", ".join(f"{i.ident} {i.width}x{i.height}" for i in images[1:]),
             "lists: " + ", ".join(f"{k} {len(v)}" for k, v in lists.items())]

    servers: list[Server] = []
    for name in args.servers:
        if name == "iipimage":
            servers.append(IIPImage(name, work))
        elif name == "memoria":
            why = ingest_instance(work, images)
            if why:
                notes.append(f"memoria (memoria serve) not measured: {why}")
                log(f"skipping memoria serve: {why}")
                continue
            servers.append(MemoriaApp(name, work))
        elif name == "memoria-bp1":
            servers.append(Blueprint(name, work, 1))
        elif name == "memoria-bp2":
            servers.append(Blueprint(name, work, 2))

    results: list[Result] = []
    notes.append(f"load average before: {os.getloadavg()[0]:.1f} (1 min; other jobs share "
                 "the 2 cores)")
    for n in range(args.rounds):
        for server in servers:
            log(f"round {n + 1}: benchmarking {server.name} …")
            try:
                results += bench_server(server, lists, work, images, args.duration,
                                        args.concurrency, not args.no_kinds)
            finally:
                server.stop()
    notes.append(f"load average after: {os.getloadavg()[0]:.1f}")
    print_table(results, command, notes, args.rounds)
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
