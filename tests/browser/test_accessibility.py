"""axe-core (from npm) finds no serious or critical violations on the researcher's pages, en and zh."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import describe_violations, run_axe, save_screenshot

pytestmark = [pytest.mark.service, pytest.mark.slow]

BLOCKING = {"serious", "critical"}
ITEM = "demo-GZ-0001"
COLLECTION = "demo-GZ"


def _first_link(driver: Any, base: str, page: str, css: str) -> str:
    """The path of the first link matching css on a page (how a reader would get there)."""
    driver.get(f"{base}{page}")
    links = [a.get_attribute("href") for a in driver.find_elements("css selector", css)]
    links = [h for h in links if h and h.startswith(base)]
    assert links, f"no link matching {css!r} on {page}"
    parts = urlsplit(links[0])
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _path(driver: Any, base: str, name: str) -> str:
    if name == "home":
        return "/"
    if name == "search":
        return "/search?q=&f.type=IMAGE"
    if name == "item":
        return f"/item/{ITEM}"
    if name == "collection":
        return f"/collection/{COLLECTION}"
    if name == "place":
        return _first_link(driver, base, "/places", "main a[href*='/place']:not([href$='/places'])")
    if name == "timeline":
        return _first_link(driver, base, f"/collection/{COLLECTION}", "main a[href*='/timeline']")
    if name == "labels":
        return f"/labels?id={ITEM}&id=demo-OAX-0001&id=demo-CAM-0001"
    raise ValueError(name)


def _settle(driver: Any) -> None:
    """Wait for the page's scripts (maps, histogram, viewer) to finish their first drawing."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if driver.execute_script("return document.readyState") == "complete":
            break
        time.sleep(0.2)
    time.sleep(1.5)


@pytest.mark.parametrize("lang", ["en", "zh-Hans"])
@pytest.mark.parametrize("name", ["home", "search", "item", "collection", "place", "timeline",
                                  "labels"])
def test_no_serious_violations(demo_server: str, module_browser: Any, name: str,
                               lang: str) -> None:
    """The page, in this language, passes axe-core with no serious or critical violation."""
    driver = module_browser
    driver.delete_all_cookies()
    path = _path(driver, demo_server, name)
    sep = "&" if "?" in path else "?"
    driver.get(f"{demo_server}{path}{sep}lang={lang}")
    _settle(driver)
    assert driver.execute_script("return document.documentElement.lang") == lang
    save_screenshot(driver, f"a11y-{name}-{lang}")
    violations = run_axe(driver)
    blocking = [v for v in violations if v.get("impact") in BLOCKING]
    assert not blocking, (f"{path} ({lang}): axe-core found\n{describe_violations(blocking)}")
