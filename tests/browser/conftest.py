"""A real Memoria server with the demo and a real headless Chromium (Debian's), for viewer tests.

Nothing here skips: without Chromium, chromedriver or Selenium the tests fail and say why.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = Path(os.environ.get("MEMORIA_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("MEMORIA_CHROMEDRIVER", "/usr/bin/chromedriver"))
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-quic", "--window-size=1280,1000",
                  "--disable-dev-shm-usage"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_up(url: str, proc: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"the server did not answer {url} in {seconds:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`memoria demo --no-serve` in a temporary home, then the app served on 127.0.0.1."""
    vendor = REPO / "archive" / "static" / "vendor"
    bundles = [vendor / "mirador" / "mirador.min.js", vendor / "uv" / "umd" / "UV.js"]
    if not all(b.is_file() for b in bundles):
        pytest.fail("the viewer bundles are missing from archive/static/vendor/: "
                    "run scripts/build-viewers.sh (needs node and npm)")
    home = tmp_path_factory.mktemp("browser") / "home"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MEMORIA_HOME": str(home), "MEMORIA_BASE_URL": base,
           "MEMORIA_FSYNC": "no"}
    memoria = Path(sys.executable).with_name("memoria")
    subprocess.run([str(memoria), "demo", "--no-serve"], env=env, cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL, timeout=600)
    log = home / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(memoria), "serve", "--port", str(port)], env=env,
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_up(f"{base}/healthz", proc, log, 180)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium driven by chromedriver, with a fresh profile."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(f"browser tests need {', '.join(missing)} "
                    "(apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        pytest.fail(f"browser tests need Selenium (pip install 'selenium>=4.20,<5'): {exc}")
    profile = tempfile.mkdtemp(prefix="memoria-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    # Viewers load many scripts; keep every request's timing so that tile requests are seen.
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                           {"source": "performance.setResourceTimingBufferSize(100000);"})
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
