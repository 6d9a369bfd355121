"""The app keeps no session: no session cookie is read or set, on pages or their cached copies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, session
from flask.sessions import NullSession

from archive.web import NoSessions
from tests.site.item_fixtures import make_loaded_app


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = make_loaded_app(tmp_path, images=False)
    yield app
    app.extensions["memoria"].close()


def test_pages_set_no_session_cookie(app: Flask) -> None:
    """A page, a kept copy of it and a language switch answer without a session cookie."""
    assert isinstance(app.session_interface, NoSessions)
    client = app.test_client()
    for path in ("/search?q=", "/search?q=", "/search?q=&lang=es"):
        resp = client.get(path)
        assert resp.status_code == 200
        cookies = resp.headers.getlist("Set-Cookie")
        assert not any(c.startswith(app.config["SESSION_COOKIE_NAME"] + "=") for c in cookies)
    # The language choice is still remembered in its own cookie.
    assert any(c.startswith("memoria_lang=es") for c in resp.headers.getlist("Set-Cookie"))


def test_the_session_is_the_null_session(app: Flask) -> None:
    """Code that tried to keep something in the session would fail loudly, not silently."""
    with app.test_client() as client:
        client.get("/search?q=")
        assert isinstance(session._get_current_object(), NullSession)  # type: ignore[attr-defined]
        with pytest.raises(RuntimeError):
            session["x"] = 1
