"""scripts/es.sh keeps a port's data across stop and start, and purge removes it."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ES_SCRIPT = REPO / "scripts" / "es.sh"

pytestmark = [pytest.mark.service, pytest.mark.slow]


def _free_port_pair() -> int:
    """A port whose transport neighbour (port + 100) is free as well."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 100 > 65535:
            continue
        with socket.socket() as t:
            try:
                t.bind(("127.0.0.1", port + 100))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of ports")


def es(command: str, port: int, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MEMORIA_ES_PORT": str(port), "MEMORIA_ES_HEAP_MIN": "256m",
           "MEMORIA_ES_HEAP_MAX": "512m"}
    return subprocess.run(["bash", str(ES_SCRIPT), command], env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_purge_removes_the_instance_dir_that_stop_keeps() -> None:
    cache = Path(os.environ.get("MEMORIA_ES_CACHE", REPO / ".cache" / "elasticsearch"))
    port = _free_port_pair()
    instance = cache / f"instance-{port}"
    try:
        started = es("start", port, cache)
        assert started.returncode == 0, started.stderr
        assert es("stop", port, cache).returncode == 0
        assert (instance / "data").is_dir(), "stop keeps the indices for the next start"
        purged = es("purge", port, cache)
        assert purged.returncode == 0, purged.stderr
        assert not instance.exists()
        assert "removed" in purged.stderr
    finally:
        es("purge", port, cache)
