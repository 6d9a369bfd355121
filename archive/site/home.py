"""The home page: collections, a search box, a map of places, recent additions."""

from __future__ import annotations

from flask import Flask, Response

from archive.site.i18n import preferred_languages
from archive.site.pages import get_archive, render_page
from archive.views import record_view


def register(app: Flask) -> None:
    """Attach the home page."""

    @app.get("/", endpoint="home")
    def home() -> Response:
        archive = get_archive()
        langs = preferred_languages()
        top = []
        for rid in archive.ids()[:500]:
            record = archive.get(rid)
            if record is None or record.withdrawn:
                continue
            view = record_view(archive, record, langs)
            if not view["breadcrumb"]:
                top.append(view)
        return render_page("home.html", {"records": top})
