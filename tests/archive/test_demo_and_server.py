"""The demo builds, ingests and is served by the real production server on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from archive.service import Archive
from archive.settings import load_settings

MEMORIA = Path(sys.executable).parent / "memoria"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, timeout: float = 30.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return bytes(resp.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.mark.slow
def test_demo_builds_ingests_and_serves(tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    port = free_port()
    env = {**os.environ, "MEMORIA_HOME": str(home), "MEMORIA_FSYNC": "no",
           "MEMORIA_BASE_URL": f"http://127.0.0.1:{port}"}
    built = subprocess.run([str(MEMORIA), "demo", "--no-serve"], env=env, capture_output=True,
                           text=True, timeout=600, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "+ 0 rejected" in built.stdout
    settings = load_settings(environ=env)
    with Archive(settings).open() as archive:
        ids = archive.ids()
        assert len(ids) >= 30
        assert {"demo-GZ", "demo-OAX", "demo-CAM"} <= set(ids)
        largest = 0
        for rid in ids:
            for name in archive.storage.state(rid):
                if name.startswith("files/"):
                    with Image.open(archive.storage.content_path(rid, name)) as img:
                        largest = max(largest, *img.size)
        assert largest >= 8000
    server = subprocess.Popen([str(MEMORIA), "serve", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert b'"status":"ok"' in wait_for(f"http://127.0.0.1:{port}/healthz").replace(b" ", b"")
        page = wait_for(f"http://127.0.0.1:{port}/item/demo-GZ-0001").decode()
        assert "陈家祠" in page or "Chen Clan" in page
        turtle = urllib.request.Request(f"http://127.0.0.1:{port}/item/demo-OAX-0005",
                                        headers={"Accept": "text/turtle"})
        with urllib.request.urlopen(turtle, timeout=10) as resp:
            assert resp.headers["Content-Type"].startswith("text/turtle")
            assert f"http://127.0.0.1:{port}/item/demo-OAX-0005" in resp.read().decode()
        # An ingest while the server holds the RDF store is queued and picked up by the server.
        extra = tmp_path / "extra"
        extra.mkdir()
        Image.new("RGB", (64, 64), "red").save(extra / "late-arrival.jpg")
        late = subprocess.run([str(MEMORIA), "ingest", str(extra)], env=env, capture_output=True,
                              text=True, timeout=120, check=False)
        assert late.returncode == 0, late.stdout + late.stderr
        deadline = time.monotonic() + 15
        while b"late-arrival" not in wait_for(f"http://127.0.0.1:{port}/item/files-late-arrival"):
            assert time.monotonic() < deadline
            time.sleep(0.5)
        deadline = time.monotonic() + 15
        while b'"pending":0' not in wait_for(f"http://127.0.0.1:{port}/healthz").replace(b" ", b""):
            assert time.monotonic() < deadline, "the server did not sync the queued record"
            time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=20)
