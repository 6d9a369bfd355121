"""The researcher's pages: each module adds its routes to the app with plain endpoint names."""

from __future__ import annotations

from importlib import import_module

from flask import Flask

# Each module has `register(app)`; endpoint names are plain ("search", "item", ...) so that
# templates say url_for("item", name=...) wherever they live.
PAGE_MODULES = (
    "archive.site.i18n",
    "archive.site.security",
    "archive.site.home",
    "archive.site.search_page",
    "archive.site.item_page",
    "archive.site.collections_page",
    "archive.site.places_page",
    "archive.site.labels_page",
    # Last: its check runs after the safety limits, and it keeps a page before the other
    # after-request hooks add the headers they add to every response (a kept one too).
    "archive.site.page_cache",
)


def register_site(app: Flask) -> None:
    """Attach i18n, the safety headers and every page to the app."""
    for name in PAGE_MODULES:
        import_module(name).register(app)
