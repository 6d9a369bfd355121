"""A researcher's path through the demo in headless Chromium, from a search to a printed label."""

from __future__ import annotations

import io
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image

from tests.browser.conftest import ARTIFACTS, REPO, print_pdf, save_screenshot
from tests.browser.test_viewers import drawn_canvas, wait_for

pytestmark = [pytest.mark.service, pytest.mark.slow]

TRANSLATIONS = REPO / "archive" / "translations"


def query_of(driver: Any) -> dict[str, list[str]]:
    """The current URL's query parameters."""
    return parse_qs(urlsplit(driver.current_url).query)


def hit_ids(driver: Any) -> list[str]:
    """Record ids of the results on the page, in order."""
    return [e.get_attribute("data-id") for e in driver.find_elements("css selector", "li.hit")]


def total(driver: Any) -> int:
    """The result count in the toolbar heading ("1–20 of 43 results" -> 43)."""
    text = driver.find_element("css selector", "#results-heading").text
    digits = [int(t.replace(",", "").replace(".", "")) for t in
              text.replace("–", " ").split() if t.replace(",", "").replace(".", "").isdigit()]
    assert digits, f"no count in {text!r}"
    return digits[-1]


def navigated(driver: Any, old_url: str) -> bool:
    """True once a new page has loaded."""
    return (driver.current_url != old_url
            and driver.execute_script("return document.readyState") == "complete")


def wait_page(driver: Any, old_url: str, what: str) -> None:
    """Wait until the browser has left old_url and finished loading the new page."""
    wait_for(what, lambda: navigated(driver, old_url), 30)


def translated(locale: str, message: str) -> str:
    """A UI message in a locale, from the message catalogue in the repository."""
    from babel.support import Translations

    text: str = Translations.load(str(TRANSLATIONS), [locale]).gettext(message)
    assert text != message, f"{message!r} is not translated in the {locale} catalogue"
    return text


def facet_checkbox(driver: Any, facet: str, key: str | None = None) -> Any:
    """A facet's checkbox (for key, or its first unchecked value)."""
    boxes = driver.find_elements("css selector", f"#facet-{facet} input[type=checkbox]")
    boxes = [b for b in boxes if (key is None and not b.is_selected())
             or b.get_attribute("value") == key]
    assert boxes, f"no checkbox in facet {facet!r} for {key!r}"
    return boxes[0]


def click_facet(driver: Any, facet: str, key: str | None = None) -> None:
    """Tick a facet value the way a reader does (its label), and wait for the new results."""
    box = facet_checkbox(driver, facet, key)
    label = driver.find_element("css selector", f"label[for='{box.get_attribute('id')}']")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", label)
    old = driver.current_url
    label.click()
    wait_page(driver, old, f"the search to narrow by {facet}")


def brush_years(driver: Any, year_from: int, year_to: int) -> None:
    """Drag across the year histogram from one year to another with the mouse."""
    from selenium.webdriver.common.action_chains import ActionChains

    svg = wait_for("the histogram", lambda: driver.find_elements(
        "css selector", "#year-histogram svg"))[0]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", svg)

    def offset(year: int) -> int:
        """Pixels from the SVG's centre (Selenium's origin for elements) to a year's x."""
        px: float = driver.execute_script("""
            const svg = arguments[0], year = arguments[1];
            const lo = +svg.getAttribute('aria-valuemin'), hi = +svg.getAttribute('aria-valuemax') + 1;
            const W = svg.viewBox.baseVal.width, PAD = 14;
            const pt = svg.createSVGPoint();
            pt.x = PAD + (year - lo) / (hi - lo) * (W - 2 * PAD); pt.y = 0;
            const r = svg.getBoundingClientRect();
            return pt.matrixTransform(svg.getScreenCTM()).x - (r.left + r.width / 2);""",
            svg, year)
        return round(px)

    old = driver.current_url
    ActionChains(driver).move_to_element_with_offset(svg, offset(year_from), 0)\
        .click_and_hold().pause(0.2).move_to_element_with_offset(svg, offset(year_to), 0)\
        .pause(0.2).release().perform()
    wait_page(driver, old, "the search to narrow to the brushed years")


def pan_map(driver: Any, dx: int) -> None:
    """Drag the map facet sideways, then apply "Search this area"."""
    from selenium.webdriver.common.action_chains import ActionChains

    node = wait_for("the map facet", lambda: [
        e for e in driver.find_elements("css selector", "#search-map")
        if driver.execute_script("return !!arguments[0].memoriaMap", e)])[0]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", node)
    time.sleep(0.5)
    ActionChains(driver).move_to_element(node).click_and_hold().pause(0.2)\
        .move_by_offset(dx // 2, 0).pause(0.1).move_by_offset(dx - dx // 2, 0).pause(0.2)\
        .release().perform()
    button = wait_for("the search-this-area button", lambda: [
        b for b in driver.find_elements("css selector", "#search-area") if b.is_displayed()])[0]
    old = driver.current_url
    button.click()
    wait_page(driver, old, "the search to narrow to the map's area")


def decode_qr(png: bytes) -> str:
    """The text of the one QR code in a PNG."""
    import zxingcpp

    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("L"))
    assert len(found) == 1, f"expected one QR code, found {len(found)}"
    text: str = found[0].text
    return text


def pdf_text(pdf: bytes) -> str:
    """All the text of a PDF."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def test_researcher_path(demo_server: str, browser: Any) -> None:
    """Search, two facets, a brushed year range, a panned map, an item, languages, QR, labels."""
    driver, base = browser, demo_server

    # Search from the home page's search box (an empty search: everything).
    driver.get(f"{base}/")
    boxes = [b for b in driver.find_elements("css selector", "main form[role=search] "
                                             "input[type=search]") if b.is_displayed()]
    assert boxes, f"no search box on the home page: {driver.page_source[:300]}"
    box = boxes[0]
    old = driver.current_url
    box.submit()
    wait_page(driver, old, "the search page")
    assert urlsplit(driver.current_url).path == "/search"
    everything = total(driver)
    assert everything >= 40
    save_screenshot(driver, "path-1-search")

    # Narrow by two facets.
    click_facet(driver, "type", "IMAGE")
    after_type = total(driver)
    assert 0 < after_type < everything
    assert query_of(driver)["f.type"] == ["IMAGE"]
    rights = facet_checkbox(driver, "rights").get_attribute("value")
    click_facet(driver, "rights", rights)
    after_rights = total(driver)
    assert 0 < after_rights < after_type
    assert facet_checkbox(driver, "type", "IMAGE").is_selected()
    assert facet_checkbox(driver, "rights", rights).is_selected()

    # Brush the year histogram across the early modern centuries.
    brush_years(driver, 1500, 1800)
    params = query_of(driver)
    year_from, year_to = int(params["from"][0]), int(params["to"][0])
    assert abs(year_from - 1500) <= 10 and abs(year_to - 1800) <= 10, params
    after_years = total(driver)
    assert 0 < after_years <= after_rights
    assert params["f.type"] == ["IMAGE"] and params["f.rights"] == [rights]
    save_screenshot(driver, "path-2-facets-and-years")

    # Pan the map west (drag right) until Guangzhou leaves it, then search this area.
    before_map = hit_ids(driver)
    pan_map(driver, 160)
    params = query_of(driver)
    assert "bbox" in params, driver.current_url
    south, west, north, east = (float(v) for v in params["bbox"][0].split(","))
    assert south < north and west < east
    after_map = total(driver)
    assert after_map <= after_years
    assert params["from"] == [str(year_from)], "the map kept the brushed years"
    if east < 113:  # Guangzhou's longitude: out of view, so its records are gone
        assert not [h for h in hit_ids(driver) if h.startswith("demo-GZ")], before_map
    save_screenshot(driver, "path-3-map-area")

    # Open an item with an image from the results; the viewer draws it.
    hits = driver.find_elements("css selector", "li.hit")
    with_image = [h for h in hits if h.find_elements("css selector", ".hit-thumb img")]
    assert with_image, "no result with a thumbnail"
    rid = with_image[0].get_attribute("data-id")
    old = driver.current_url
    with_image[0].find_element("css selector", ".hit-title a").click()
    wait_page(driver, old, "the item page")
    assert urlsplit(driver.current_url).path == f"/item/{rid}"
    ready = wait_for("the viewer to start", lambda: driver.execute_script(
        "const r = document.querySelector('[data-memoria-viewer]');"
        "return r && r.dataset.viewerReady"))
    assert ready == "true", driver.get_log("browser")[-10:]
    drawn_canvas(driver)
    save_screenshot(driver, "path-4-item")

    # Switch to Chinese, then to Spanish: the interface follows.
    for tag, locale in (("zh-Hans", "zh_Hans"), ("es", "es")):
        link = driver.find_element("css selector", f"nav.languages a[hreflang='{tag}']")
        old = driver.current_url
        link.click()
        wait_page(driver, old, f"the page in {tag}")
        assert driver.execute_script("return document.documentElement.lang") == tag
        nav = driver.find_element("css selector", "nav.primary").text
        assert translated(locale, "Search") in nav, nav
        cite = driver.find_element("css selector", "#cite-h").text
        assert cite == translated(locale, "Cite this item")
        assert urlsplit(driver.current_url).path == f"/item/{rid}"
        save_screenshot(driver, f"path-5-item-{tag}")

    # The QR code decodes back to the item's permanent URL.
    with urllib.request.urlopen(f"{base}/item/{rid}/qr.png", timeout=30) as resp:
        assert resp.headers["Content-Type"] == "image/png"
        png = resp.read()
    (ARTIFACTS / f"qr-{rid}.png").write_bytes(png)
    assert decode_qr(png) == f"{base}/item/{rid}"

    # Print the label sheet of this item and two others.
    driver.get(f"{base}/labels?id={rid}&id=demo-OAX-0001&id=demo-CAM-0001&langs=en&lang=en")
    titles = [e.text for e in driver.find_elements("css selector", ".label-title")]
    assert len(titles) >= 3 and all(titles), titles
    save_screenshot(driver, "path-6-labels")
    pdf = print_pdf(driver)
    assert pdf.startswith(b"%PDF") and len(pdf) > 2000
    Path(ARTIFACTS / "labels.pdf").write_bytes(pdf)
    text = " ".join(pdf_text(pdf).split())
    for title in titles:
        words = title.split()[:3]
        assert " ".join(words) in text, (title, text[:500])


def test_facets_by_keyboard(demo_server: str, browser: Any) -> None:
    """Tab reaches a facet checkbox, Space ticks it, and the results narrow."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    driver = browser
    driver.get(f"{demo_server}/search?q=")
    everything = total(driver)
    driver.find_element("css selector", "#q").click()
    for _ in range(80):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        focused = driver.switch_to.active_element
        if (focused.get_attribute("type") == "checkbox"
                and (focused.get_attribute("name") or "").startswith("f.")):
            break
    else:
        raise AssertionError("Tab never reached a facet checkbox")
    name, value = focused.get_attribute("name"), focused.get_attribute("value")
    old = driver.current_url
    ActionChains(driver).send_keys(Keys.SPACE).perform()
    wait_page(driver, old, "the search to narrow after Space")
    assert query_of(driver)[name] == [value]
    narrowed = total(driver)
    assert 0 < narrowed < everything
    box = driver.find_element("css selector", f"input[name='{name}'][value='{value}']")
    assert box.is_selected()
    save_screenshot(driver, "keyboard-facet")
