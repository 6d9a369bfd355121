"""The production server's worker processes: one primary writes, readers use store snapshots."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyoxigraph as ox
import pytest

from archive import server
from archive.server import PrimaryLock, Snapshots

MEMORIA = Path(sys.executable).parent / "memoria"
MAPPING = """
[source]
namespace = "w"
id = "id"
[[column]]
name = "id"
kind = "identifier"
[[column]]
name = "parent"
kind = "parent"
[[column]]
name = "title"
to = "dc:title"
lang = "en"
"""


def test_snapshot_is_an_independent_read_only_copy(tmp_path: Path) -> None:
    """A published snapshot opens read-only and keeps its content while the store changes."""
    store = ox.Store(str(tmp_path / "rdf"))
    g = ox.NamedNode("http://example.org/g")
    store.add(ox.Quad(ox.NamedNode("http://example.org/a"), ox.NamedNode("http://example.org/p"),
                      ox.Literal("one"), g))
    snaps = Snapshots(tmp_path / "snaps")
    first = snaps.publish(store)
    store.add(ox.Quad(ox.NamedNode("http://example.org/b"), ox.NamedNode("http://example.org/p"),
                      ox.Literal("two"), g))
    second = snaps.publish(store)
    assert snaps.latest() == second and snaps.all() == [first, second]
    assert len(ox.Store.read_only(str(first))) == 1
    assert len(ox.Store.read_only(str(second))) == 2


def test_prune_keeps_the_newest_and_waits_out_the_grace(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Old snapshots go only once a newer one has existed for the grace period."""
    store = ox.Store(str(tmp_path / "rdf"))
    snaps = Snapshots(tmp_path / "snaps")
    made = [snaps.publish(store) for _ in range(4)]
    assert snaps.all() == made  # all young: nothing removed yet
    monkeypatch.setattr(server, "SNAPSHOT_GRACE_SECONDS", 0.0)
    snaps.prune()
    assert snaps.all() == made[-server.KEEP_SNAPSHOTS:]


def test_one_process_holds_the_primary_lock(tmp_path: Path) -> None:
    """A second holder in another process is refused while the first lives."""
    lock = tmp_path / "server-primary.lock"
    held = PrimaryLock(lock)
    assert held.acquire()
    other = subprocess.run(
        [sys.executable, "-c", "import sys; from pathlib import Path; "
         "from archive.server import PrimaryLock; "
         f"sys.exit(0 if PrimaryLock(Path({str(lock)!r})).acquire() else 3)"],
        check=False)
    assert other.returncode == 3
    assert held.path == lock


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except OSError:
        return 0, b""  # not listening yet


@pytest.mark.slow
def test_two_workers_serve_and_see_a_record_ingested_meanwhile(tmp_path: Path) -> None:
    """With 2 workers every answer is right, and a record ingested later reaches them all."""
    home, port = tmp_path / "home", _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MEMORIA_HOME": str(home), "MEMORIA_FSYNC": "no",
           "MEMORIA_BASE_URL": base, "MEMORIA_WORKERS": "2"}
    (tmp_path / "map.toml").write_text(MAPPING, encoding="utf-8")
    (tmp_path / "a.csv").write_text("id,parent,title\nF,,Fonds\nF-1,F,First thing\n"
                                    "F-2,F,Second thing\n", encoding="utf-8")
    subprocess.run([str(MEMORIA), "ingest", str(tmp_path / "a.csv"), "--mapping",
                    str(tmp_path / "map.toml")], env=env, check=True, capture_output=True)
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([str(MEMORIA), "serve", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while _get(f"{base}/healthz")[0] != 200:
            assert proc.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(0.3)
        # Requests land on both workers; every one sees the RDF store (children come from it).
        for _ in range(30):
            status, body = _get(f"{base}/item/w-F.json")
            assert status == 200
            assert {"w-F-1", "w-F-2"} <= set(json.dumps(json.loads(body)).split('"')), body[:300]
        snapshots = home / "rdf-snapshots"
        assert [p for p in snapshots.iterdir() if p.name.isdigit()]

        (tmp_path / "b.csv").write_text("id,parent,title\nF-3,F,Third thing\n", encoding="utf-8")
        subprocess.run([str(MEMORIA), "ingest", str(tmp_path / "b.csv"), "--mapping",
                        str(tmp_path / "map.toml")], env=env, check=True, capture_output=True)
        # Within a few sync intervals every worker finds it and lists it under its fonds.
        deadline = time.monotonic() + 60
        while True:
            found = [_get(f"{base}/search?q=third") for _ in range(10)]
            listed = [_get(f"{base}/item/w-F.json") for _ in range(10)]
            if (all(s == 200 and b'"w-F-3"' in b for s, b in found)
                    and all(s == 200 and b'"w-F-3"' in b for s, b in listed)):
                break
            assert time.monotonic() < deadline, "the new record did not reach every worker"
            time.sleep(0.5)
        assert "Booting worker" in (tmp_path / "serve.log").read_text()
        assert (tmp_path / "serve.log").read_text().count("Booting worker") == 2
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
