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
    home = tmp_path / "home"
    proc, base, env = _serve(tmp_path, workers=2)
    try:
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


def _serve(tmp_path: Path, workers: int, extra: dict[str, str] | None = None
           ) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    """Ingest the first CSV and start `memoria serve`; wait until it answers."""
    home, port = tmp_path / "home", _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MEMORIA_HOME": str(home), "MEMORIA_FSYNC": "no",
           "MEMORIA_BASE_URL": base, "MEMORIA_WORKERS": str(workers), **(extra or {})}
    env.pop("MEMORIA_PAGE_CACHE_MB", None)  # the default: on
    (tmp_path / "map.toml").write_text(MAPPING, encoding="utf-8")
    (tmp_path / "a.csv").write_text("id,parent,title\nF,,Fonds\nF-1,F,First thing\n"
                                    "F-2,F,Second thing\n", encoding="utf-8")
    subprocess.run([str(MEMORIA), "ingest", str(tmp_path / "a.csv"), "--mapping",
                    str(tmp_path / "map.toml")], env=env, check=True, capture_output=True)
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([str(MEMORIA), "serve", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 120
    while _get(f"{base}/healthz")[0] != 200:
        assert proc.poll() is None and time.monotonic() < deadline, \
            (tmp_path / "serve.log").read_text()[-3000:]
        time.sleep(0.3)
    return proc, base, env


def _served(tmp_path: Path, path: str) -> list[tuple[str, str]]:
    """(worker pid, page-cache outcome) of every logged GET of path, in order."""
    lines = (tmp_path / "serve.log").read_text(encoding="utf-8").splitlines()
    return [(line.split()[-2], line.split()[-1].removeprefix("page-cache=")) for line in lines
            if f'"GET {path} HTTP' in line and "page-cache=" in line]


def _until_both_workers(tmp_path: Path, base: str, path: str, want: bytes
                        ) -> list[tuple[str, str]]:
    """GET path until both workers have answered it (each answer must hold want)."""
    deadline = time.monotonic() + 60
    while len({pid for pid, _ in _served(tmp_path, path)}) < 2:
        status, body = _get(f"{base}{path}")
        assert status == 200 and want in body, body[:300]
        assert time.monotonic() < deadline, _served(tmp_path, path)
    return _served(tmp_path, path)


@pytest.mark.slow
def test_a_page_rendered_by_one_worker_is_served_by_the_other(tmp_path: Path) -> None:
    """Two gunicorn workers share kept pages, and an ingest makes both render afresh."""
    proc, base, env = _serve(tmp_path, workers=2)
    try:
        # Both workers reach the primary's first snapshot (until then a reader bypasses).
        deadline = time.monotonic() + 60
        while len({pid for pid, c in _served(tmp_path, "/search?q=warm") if c == "hit"}) < 2:
            assert _get(f"{base}/search?q=warm")[0] == 200
            assert time.monotonic() < deadline, _served(tmp_path, "/search?q=warm")
        path = "/search?q=second"
        served = _until_both_workers(tmp_path, base, path, b'"w-F-2"')
        # One worker rendered it once; every other answer, from either worker, was kept.
        assert [c for _, c in served].count("miss") == 1, served
        renderer = next(pid for pid, c in served if c == "miss")
        assert any(c == "hit" and pid != renderer for pid, c in served), served
        assert {c for _, c in served} <= {"miss", "hit"}, served
        assert (tmp_path / "home" / "cache" / "pages").is_dir()

        # A correction: the same record with a new title, through a real ingest.
        (tmp_path / "b.csv").write_text("id,parent,title\nF-2,F,Second corrected\n",
                                        encoding="utf-8")
        subprocess.run([str(MEMORIA), "ingest", str(tmp_path / "b.csv"), "--mapping",
                        str(tmp_path / "map.toml")], env=env, check=True, capture_output=True)
        item, found = "/item/w-F-2.json", "/search?q=corrected&format=json"
        deadline = time.monotonic() + 60
        while True:  # within a few sync beats every worker answers with the correction
            answers = [_get(f"{base}{item}") for _ in range(10)]
            searches = [_get(f"{base}{found}") for _ in range(10)]
            if (all(s == 200 and b"Second corrected" in b for s, b in answers)
                    and all(s == 200 and b'"w-F-2"' in b for s, b in searches)):
                break
            assert time.monotonic() < deadline, (answers[-1], searches[-1])
            time.sleep(0.5)
        before = len(_served(tmp_path, item))
        for _ in range(20):  # and never the old page again, from either worker
            status, body = _get(f"{base}{item}")
            assert status == 200 and b"Second corrected" in body and b"Second thing" not in body
        # Both workers on the new data: the new page is kept once and served from the cache.
        deadline = time.monotonic() + 10
        while len(_served(tmp_path, item)) < before + 20 and time.monotonic() < deadline:
            time.sleep(0.2)  # the access log is written after the answer
        after = [c for _, c in _served(tmp_path, item)[before:]]
        assert len(after) == 20 and after.count("miss") <= 1 and "bypass" not in after, after
    finally:
        proc.terminate()
        proc.wait(30)


def test_workers_name_the_newest_data_alike_and_a_stale_reader_stays_out(tmp_path: Path
                                                                         ) -> None:
    """The page-cache token: the same in the primary and a caught-up reader, none in between."""
    from archive.settings import load_settings
    from archive.site.page_cache import data_token
    from ingest.mapping import load_mapping
    from ingest.pipeline import run_batch
    from ingest.registry import get_reader

    settings = load_settings({"home": str(tmp_path / "home"), "fsync": False}, environ={})
    (tmp_path / "map.toml").write_text(MAPPING, encoding="utf-8")
    mapping = load_mapping(tmp_path / "map.toml")
    primary = server.PrimaryArchive(settings).open()
    reader: server.ReaderArchive | None = None
    try:
        def ingest(name: str, text: str) -> None:
            (tmp_path / name).write_text(text, encoding="utf-8")
            report = run_batch(primary, get_reader("csv"), tmp_path / name,
                               options={"mapping": mapping})
            assert not getattr(report, "errors", None), report

        ingest("a.csv", "id,parent,title\nF,,Fonds\nF-1,F,First thing\n")
        primary.sync()  # publishes the first snapshot
        reader = server.ReaderArchive(settings).open()
        reader.sync()
        first = data_token(primary)
        assert first is not None and first[0] == "shared"
        assert data_token(reader) == first

        primary.rdf.remove_graph("http://example.org/no-such-graph")  # any write
        assert data_token(primary) is None  # written, not yet published
        primary.sync()  # publishes it
        assert data_token(primary) not in (None, first)
        ingest("b.csv", "id,parent,title\nF-1,F,First thing, corrected\n")
        primary.sync()
        second = data_token(primary)
        assert second is not None and second != first
        assert data_token(reader) is None  # still on the older snapshot: no shared pages
        reader.sync()
        assert data_token(reader) == second
    finally:
        if reader is not None:
            reader.close()
        primary.close()


@pytest.mark.slow
def test_a_busy_worker_leaves_new_connections_to_the_idle_one(tmp_path: Path) -> None:
    """A worker with a request in hand stops listening, so the next connection goes to the
    other worker; with keep-alive each connection then stays where it landed."""
    proc, base, _ = _serve(tmp_path, workers=2)
    port = int(base.rsplit(":", 1)[1])
    try:
        _until_both_workers(tmp_path, base, "/healthz", b"")
        for round_ in range(5):
            # Two connections, the first silent (a request in hand for its worker).
            first = socket.create_connection(("127.0.0.1", port))
            time.sleep(0.3)
            second = socket.create_connection(("127.0.0.1", port))
            time.sleep(0.3)
            for sock, name in ((first, "a"), (second, "b")):
                sock.sendall(f"GET /healthz?{round_}{name} HTTP/1.1\r\nHost: x\r\n"
                             f"Connection: close\r\n\r\n".encode())
            for sock in (first, second):
                assert sock.recv(65536).startswith(b"HTTP/1.1 200"), round_
                sock.close()
            deadline = time.monotonic() + 10
            while True:
                pids = {name: _served(tmp_path, f"/healthz?{round_}{name}")
                        for name in "ab"}
                if all(pids.values()) or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert pids["a"] and pids["b"], pids
            assert pids["a"][0][0] != pids["b"][0][0], (round_, pids)
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.mark.slow
def test_a_kept_alive_connection_is_closed_after_its_last_answer(tmp_path: Path) -> None:
    """MEMORIA_SERVER_CONNECTION_REQUESTS answers on one connection, the last with
    "Connection: close"; the client reconnects and carries on."""
    import http.client

    proc, base, _ = _serve(tmp_path, workers=2,
                          extra={"MEMORIA_SERVER_CONNECTION_REQUESTS": "3"})
    port = int(base.rsplit(":", 1)[1])
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        closes = []
        for _ in range(3):
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            assert resp.status == 200
            resp.read()
            closes.append((resp.getheader("Connection") or "").lower())
        assert closes == ["keep-alive", "keep-alive", "close"], closes
        assert conn.sock is None  # http.client closed it, as the answer asked
        conn.request("GET", "/healthz")  # a new connection
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        proc.terminate()
        proc.wait(30)


def test_the_access_logger_writes_gunicorns_own_line() -> None:
    """AccessLogger's few atoms give the same ACCESS_LOG_FORMAT line as gunicorn's many."""
    import datetime

    from gunicorn.config import Config
    from gunicorn.glogging import Logger, SafeAtoms

    class Resp:
        def __init__(self) -> None:
            self.status, self.sent = "200 OK", 1234
            self.headers = [("Content-Type", "text/html"), ("X-Page-Cache", "hit")]

    class Req:
        def __init__(self) -> None:
            self.headers = [("HOST", "x"), ("USER-AGENT", 'wrk "4"')]

    environ = {"REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD": "GET",
               "RAW_URI": '/search?q="a"', "SERVER_PROTOCOL": "HTTP/1.1",
               "HTTP_USER_AGENT": 'wrk "4"', "PATH_INFO": "/search", "QUERY_STRING": "q=a"}
    ours, theirs = server.AccessLogger(Config()), Logger(Config())
    took = datetime.timedelta(microseconds=1500)
    lines = [server.ACCESS_LOG_FORMAT % SafeAtoms(log.atoms(Resp(), Req(), environ, took))
             for log in (ours, theirs)]
    assert lines[0] == lines[1]
    assert 'page-cache=hit' in lines[0] and '"GET /search?q=\\"a\\" HTTP/1.1" 200 1234' in lines[0]
    bare = Resp()
    bare.headers.pop()
    assert (server.ACCESS_LOG_FORMAT % SafeAtoms(ours.atoms(bare, Req(), environ, took))
            ).endswith("page-cache=-")
