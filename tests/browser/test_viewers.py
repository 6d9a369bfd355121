"""Mirador 4 and Universal Viewer 4 open Memoria's manifests in a real browser and draw tiles."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image, ImageStat

from tests.browser.conftest import ARTIFACTS

pytestmark = [pytest.mark.service, pytest.mark.slow]

TILE = re.compile(r"/iiif/[23]/(?P<image>[^/]+)/(?P<region>[^/]+)/(?P<size>[^/]+)/0/default\.jpg$")


def wait_for(what: str, check: Callable[[], Any], seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


def iiif_requests(driver: Any) -> list[tuple[str, int]]:
    entries = driver.execute_script(
        "return performance.getEntriesByType('resource')"
        ".map(e => [e.name, e.responseStatus || 0])")
    return [(url, status) for url, status in entries if "/iiif/" in url]


def tiles(driver: Any, image_id: str | None = None) -> list[tuple[str, int]]:
    out = []
    for url, status in iiif_requests(driver):
        m = TILE.search(url.split("?")[0])
        if m and m["region"] != "full" and (image_id is None or m["image"] == image_id):
            out.append((url, status))
    return out


def viewer_page(base: str, driver: Any, rid: str, viewer: str) -> None:
    """Open the item page with the chosen viewer."""
    driver.get(f"{base}/item/{rid}?viewer={viewer}")
    state = wait_for("the viewer to start", lambda: driver.execute_script(
        "const r = document.querySelector('[data-memoria-viewer]');"
        "return r && r.dataset.viewerReady"))
    assert state == "true", driver.get_log("browser")[-10:]


def drawn_canvas(driver: Any) -> Image.Image:
    """The OpenSeadragon canvas as pixels, once it shows more than a flat colour."""
    def shot() -> Image.Image | None:
        elements = driver.find_elements("css selector", ".openseadragon-canvas")
        visible = [e for e in elements if e.size["width"] > 100 and e.size["height"] > 100]
        if not visible:
            return None
        image = Image.open(io.BytesIO(visible[0].screenshot_as_png)).convert("RGB")
        spread = sum(ImageStat.Stat(image).stddev)
        colours = len(image.getcolors(1 << 20) or [])
        return image if spread > 20 and colours > 200 else None
    image: Image.Image = wait_for("the image to be drawn on the canvas", shot)
    return image


def zoom_in(driver: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin

    canvas = next(e for e in driver.find_elements("css selector", ".openseadragon-canvas")
                  if e.size["width"] > 100)
    for _ in range(4):
        ActionChains(driver).scroll_from_origin(ScrollOrigin.from_element(canvas), 0, -240)\
            .perform()
        time.sleep(0.3)


def assert_tiles_ok(driver: Any, image_id: str, at_least: int = 1) -> list[tuple[str, int]]:
    found = wait_for(f"tile requests for {image_id}",
                     lambda: [t for t in tiles(driver, image_id) if t[1] == 200]
                     if len([t for t in tiles(driver, image_id) if t[1] == 200]) >= at_least
                     else None)
    failed = [(u, s) for u, s in iiif_requests(driver) if s >= 400]
    assert not failed, failed
    result: list[tuple[str, int]] = found
    return result


def finest_scale(requests: list[tuple[str, int]]) -> float:
    """The largest output/region ratio among tile requests (how far the viewer zoomed in)."""
    best = 0.0
    for url, _ in requests:
        m = TILE.search(url)
        if not m or m["region"] == "full":
            continue
        region_w = int(m["region"].split(",")[2])
        size = m["size"].lstrip("^!").split(",")[0]
        if size.isdigit() and region_w:
            best = max(best, int(size) / region_w)
    return best


@pytest.mark.parametrize("viewer", ["mirador", "uv"])
def test_viewer_draws_tiles_and_zooms(demo_server: str, browser: Any, viewer: str) -> None:
    viewer_page(demo_server, browser, "demo-GZ-0001", viewer)
    first = assert_tiles_ok(browser, "GZ-0001")
    drawn_canvas(browser)
    browser.save_screenshot(str(ARTIFACTS / f"{viewer}-demo-GZ-0001.png"))
    before = finest_scale(first)
    zoom_in(browser)
    wait_for("tiles at a finer scale after zooming in",
             lambda: finest_scale(tiles(browser, "GZ-0001")) > before)
    assert_tiles_ok(browser, "GZ-0001")
    drawn_canvas(browser)
    browser.save_screenshot(str(ARTIFACTS / f"{viewer}-demo-GZ-0001-zoomed.png"))
    errors = [e for e in browser.get_log("browser")
              if e["level"] == "SEVERE" and "favicon" not in e["message"]]
    assert not [e for e in errors if "/iiif/" in e["message"]], errors


NEXT = {"mirador": "button[aria-label='Next item']", "uv": "button.next, a.next, .paging .next"}


@pytest.mark.parametrize("viewer", ["mirador", "uv"])
def test_multi_page_record_turns_pages(demo_server: str, browser: Any, viewer: str) -> None:
    # The series' manifest: its items' six images as canvases, one Range per item.
    viewer_page(demo_server, browser, "demo-GZ-S01", viewer)
    assert_tiles_ok(browser, "GZ-0001")
    drawn_canvas(browser)
    browser.save_screenshot(str(ARTIFACTS / f"{viewer}-demo-GZ-S01-page1.png"))
    button = wait_for("the next-page button", lambda: [
        b for b in browser.find_elements("css selector", NEXT[viewer]) if b.is_displayed()])
    button[0].click()
    assert_tiles_ok(browser, "GZ-0001-detail")
    drawn_canvas(browser)
    browser.save_screenshot(str(ARTIFACTS / f"{viewer}-demo-GZ-S01-page2.png"))


def test_switch_is_remembered_and_links_carry_content_state(demo_server: str,
                                                            browser: Any) -> None:
    import base64
    import json

    viewer_page(demo_server, browser, "demo-GZ-0002", "mirador")
    page = browser.current_url.split("?")[0]
    root = "document.querySelector('[data-memoria-viewer]')"
    assert browser.execute_script(f"return {root}.dataset.viewer") == "mirador"
    browser.find_element("css selector", "button[data-viewer='uv']").click()
    wait_for("Universal Viewer after the switch", lambda: browser.execute_script(
        f"return {root} && {root}.dataset.viewer === 'uv' && {root}.dataset.viewerReady"))
    browser.get(page)  # no ?viewer: the choice comes from localStorage
    wait_for("the remembered viewer", lambda: browser.execute_script(
        f"return {root} && {root}.dataset.viewerReady"))
    assert browser.execute_script(f"return {root}.dataset.viewer") == "uv"
    assert browser.execute_script("return localStorage.getItem('memoria.viewer')") == "uv"
    assert_tiles_ok(browser, "GZ-0002")
    links = [a.get_attribute("href") for a in
             browser.find_elements("css selector", "a[data-content-state]")]
    assert len(links) >= 2
    for href in links:
        encoded = href.split("iiif-content=", 1)[1]
        state = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        assert state["target"] == {"id": f"{demo_server}/iiif/3/manifest/demo-GZ-0002",
                                   "type": "Manifest"}
