"""A real Memoria server with the demo and a real headless Chromium (Debian's), for browser tests.

Nothing here skips: without Chromium, chromedriver or Selenium the tests fail and say why.
MEMORIA_BROWSER_BASE=http://127.0.0.1:PORT points the tests at a demo server already running
(built with that base URL), to save the demo build while developing.
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
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = Path(os.environ.get("MEMORIA_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("MEMORIA_CHROMEDRIVER", "/usr/bin/chromedriver"))
# Tall enough that the item page's viewer (below the record's images) is wholly in view, so
# that wheel zooms and element screenshots act on the viewer, not on a clipped part of it.
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-quic", "--window-size=1280,1600",
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
    running = os.environ.get("MEMORIA_BROWSER_BASE")
    if running:
        yield running.rstrip("/")
        return
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


@contextmanager
def chromium() -> Iterator[Any]:
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


@pytest.fixture
def browser() -> Iterator[Any]:
    """A fresh headless Chromium for one test."""
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def module_browser() -> Iterator[Any]:
    """One headless Chromium shared by a module's tests (cookies cleared between uses)."""
    with chromium() as driver:
        yield driver

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"


def run_axe(driver: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the current page (the script injected, not served)."""
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `npm ci` in the repository")
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    driver.set_script_timeout(120)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(r.violations)).catch(e => done([{id: 'axe-error', impact: 'critical',"
        " help: String(e), nodes: []}]));")
    violations: list[dict[str, Any]] = result
    return violations


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """Violations as readable lines: impact, rule, help and the first few offending nodes."""
    lines = []
    for v in violations:
        lines.append(f"[{v.get('impact')}] {v['id']}: {v.get('help')}")
        for node in v.get("nodes", [])[:5]:
            lines.append(f"    {node.get('target')}: {node.get('failureSummary', '')[:300]}")
    return "\n".join(lines)


def save_screenshot(driver: Any, name: str, full_page: bool = False) -> Path:
    """A PNG of the viewport (or of the whole page) in test-artifacts/browser/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if full_page:
        import base64

        metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics["cssContentSize"]
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"],
                     "height": min(size["height"], 4000), "scale": 1}})
        path.write_bytes(base64.b64decode(shot["data"]))
    else:
        driver.save_screenshot(str(path))
    return path


def print_pdf(driver: Any) -> bytes:
    """The current page printed to PDF by Chromium (print CSS applies)."""
    import base64

    result = driver.execute_cdp_cmd("Page.printToPDF", {
        "printBackground": True, "preferCSSPageSize": True})
    return base64.b64decode(result["data"])
