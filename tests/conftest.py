"""Shared fixtures in the Flask tutorial's style: settings, app, client, runner, sample data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from archive.settings import Settings, load_settings
from archive.web import create_app

SHARED = Path(os.environ.get("MEMORIA_SHARED", Path(__file__).resolve().parents[2] / "shared"))
CORPUS = SHARED / "corpus"
BASE_URL = "http://memoria.test"

SAMPLE_MAPPING = """
[source]
namespace = "museo"
id = "inv"
provider = "Museo de prueba"

[[column]]
name = "inv"
kind = "identifier"

[[column]]
name = "titulo"
to = "dc:title"
lang = "es"

[[column]]
name = "title"
to = "dc:title"
lang = "en"

[[column]]
name = "fecha"
kind = "date"

[[column]]
name = "autor"
kind = "agent"
separator = "|"

[[column]]
name = "temas"
kind = "concept"
lang = "es"
separator = "|"

[[column]]
name = "lugar"
kind = "place"
lat = "lat"
long = "lon"

[[column]]
name = "derechos"
kind = "rights"

[[column]]
name = "padre"
kind = "parent"

[[column]]
name = "orden"
kind = "order"

[[column]]
name = "nivel"
kind = "level"

[[column]]
name = "imagen"
kind = "image"
separator = "|"
"""

SAMPLE_CSV = """inv,titulo,title,fecha,autor,temas,lugar,lat,lon,derechos,padre,orden,nivel,imagen
F1,Fondo Oaxaca,Oaxaca fonds,siglo XIX,,,Oaxaca,17.0654,-96.7236,CC0,,1,fonds,
S1,Serie de templos,Temples series,1570-1608,,templos,Oaxaca,17.0654,-96.7236,CC0,F1,1,series,
I1,Templo de Santo Domingo,Church of Santo Domingo,ca. 1575,Orden de Predicadores,templos|barroco,Oaxaca de Juárez,17.0659,-96.7233,https://creativecommons.org/licenses/by/4.0/,S1,1,item,I1.jpg
I2,"Basílica de la Soledad, fachada",Basilica of La Soledad,1682-1690,,templos,Oaxaca de Juárez,17.0612,-96.7316,CC0,S1,2,item,I2.png
"""


def write_image(path: Path, size: tuple[int, int] = (640, 480), color: str = "teal") -> Path:
    """Write a real image file for a test."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings of a fresh instance in a temporary home."""
    return load_settings({"home": str(tmp_path / "home"), "base_url": BASE_URL, "fsync": False},
                         environ={})


@pytest.fixture
def sample_source(tmp_path: Path) -> Path:
    """A folder with a small CSV, its mapping file and its images."""
    folder = tmp_path / "source"
    folder.mkdir()
    (folder / "records.csv").write_text(SAMPLE_CSV, encoding="utf-8")
    (folder / "mapping.toml").write_text(SAMPLE_MAPPING, encoding="utf-8")
    write_image(folder / "I1.jpg", (800, 600))
    write_image(folder / "I2.png", (300, 500), "orange")
    return folder


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    """The web app of the temporary instance."""
    app = create_app(settings)
    app.config["TESTING"] = True
    yield app
    app.extensions["memoria"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the app."""
    return app.test_client()


class MemoriaRunner:
    """Runs `memoria` commands against the temporary instance."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runner = CliRunner()

    def invoke(self, *args: str):  # type: ignore[no-untyped-def]
        """Run one command; returns click's Result."""
        from archive.cli import main

        env = {"MEMORIA_BASE_URL": self.settings.base_url, "MEMORIA_FSYNC": "no"}
        return self.runner.invoke(main, ["--home", str(self.settings.home), *args], env=env,
                                  catch_exceptions=False)


@pytest.fixture
def runner(settings: Settings) -> MemoriaRunner:
    """A runner for `memoria` commands on the temporary instance."""
    return MemoriaRunner(settings)
