"""Shared fixtures: real corpus images, generated masters, pyramids, a Flask app and server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from iiif.cache import DerivativeCache
from iiif.image_request import Limits
from iiif.image_routes import create_image_blueprint, directory_resolver
from iiif.pyramid import build_pyramid
from tests.conftest import SHARED

CORPUS_IMAGES = SHARED / "corpus" / "images"
VALIDATOR_DIR = SHARED / "iiif" / "image-validator"
VALIDATOR_ID = "67352ccc-d1b0-11e1-89ae-279075081939"
VALIDATOR_PNG = VALIDATOR_DIR / f"{VALIDATOR_ID}.png"
VALIDATOR_JP2 = VALIDATOR_DIR / f"{VALIDATOR_ID}.jp2"
BRUEGEL = CORPUS_IMAGES / "met_bruegel_harvesters.jpeg"
HIBISCUS = CORPUS_IMAGES / "met_tiffany_hibiscus.png"
FERNS = CORPUS_IMAGES / "indian-ferns_title_multipage.tif"
PEMBROKE = CORPUS_IMAGES / "sbb_pembroke_1766_p10.tif"


@pytest.fixture(scope="session")
def pyramid_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of pyramids: the validator image and the corpus images."""
    root = tmp_path_factory.mktemp("pyramids")
    build_pyramid(VALIDATOR_PNG, root / VALIDATOR_ID)
    build_pyramid(BRUEGEL, root / "bruegel")
    build_pyramid(FERNS, root / "ferns")
    build_pyramid(HIBISCUS, root / "hibiscus")
    return root


def make_app(
    root: Path, cache_dir: Path, base: Callable[[], str] = lambda: "http://localhost"
) -> Flask:
    """A tiny Flask app carrying the image blueprint over a directory of pyramids."""
    app = Flask(__name__)
    bp = create_image_blueprint(
        directory_resolver(root),
        base_url=base,
        cache=DerivativeCache(cache_dir, max_bytes=64 * 1024 * 1024),
        limits=Limits(max_area=25_000_000),
    )
    app.register_blueprint(bp)
    return app


@pytest.fixture(scope="session")
def app(pyramid_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The test app (base URL http://localhost)."""
    return make_app(pyramid_root, tmp_path_factory.mktemp("cache"))


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    """A Flask test client."""
    return app.test_client()


@pytest.fixture(scope="session")
def live_server(pyramid_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real threaded HTTP server on 127.0.0.1; yields 'host:port'."""
    holder: dict[str, str] = {}
    cache_dir = tmp_path_factory.mktemp("live-cache")
    app = make_app(pyramid_root, cache_dir, lambda: holder["base"])
    server = make_server("127.0.0.1", 0, app, threaded=True)
    host = f"127.0.0.1:{server.server_port}"
    holder["base"] = f"http://{host}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        server.shutdown()
        thread.join(5)
