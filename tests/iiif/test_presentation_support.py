"""Shared fixtures of the Presentation tests: the demo, the IIIF corpus and the sample CSV
ingested once per session, each served by the real app with the Presentation blueprint."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from archive.demo.images import demo_dir, generate_images
from archive.service import Archive
from archive.settings import Settings, load_settings
from archive.web import create_app
from ingest.iiif_reader import IiifManifestReader
from ingest.mapping import load_mapping
from ingest.pipeline import run_batch
from ingest.registry import get_reader
from tests.conftest import BASE_URL, CORPUS, SAMPLE_CSV, SAMPLE_MAPPING, write_image

IIIF_CORPUS = CORPUS / "iiif"


def instance(home: Path, page_size: int = 100) -> Settings:
    """Settings of a temporary instance."""
    return load_settings({"home": str(home), "base_url": BASE_URL, "fsync": False,
                          "iiif_page_size": page_size}, environ={})


def presentation_app(settings: Settings) -> Flask:
    """The real app (create_app registers the Presentation blueprint)."""
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


def ingest_demo(settings: Settings) -> None:
    """Ingest the demo collection the way `memoria demo` does."""
    folder = settings.home / "demo-source"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo_dir() / "records.csv", folder / "records.csv")
    generate_images(folder)
    with Archive(settings).open() as archive:
        report = run_batch(archive, get_reader("folder"), folder, options={
            "mapping": load_mapping(demo_dir() / "mapping.toml"),
            "sidecar": folder / "records.csv"})
    assert not report.rejected, report.rejected


def ingest_corpus(settings: Settings, folder: Path) -> None:
    """Ingest every IIIF manifest of the corpus, and the small CSV with a hierarchy."""
    with Archive(settings).open() as archive:
        for path in sorted(IIIF_CORPUS.glob("*.json")):
            report = run_batch(archive, IiifManifestReader(), path)
            assert not report.rejected, (path, report.rejected)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "records.csv").write_text(SAMPLE_CSV, encoding="utf-8")
        (folder / "mapping.toml").write_text(SAMPLE_MAPPING, encoding="utf-8")
        write_image(folder / "I1.jpg", (800, 600))
        write_image(folder / "I2.png", (300, 500), "orange")
        report = run_batch(archive, get_reader("csv"), folder / "records.csv", options={
            "mapping": load_mapping(folder / "mapping.toml"), "images_dir": folder})
        assert not report.rejected, report.rejected


@pytest.fixture(scope="session")
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The demo collection, ingested once, behind the real app."""
    settings = instance(tmp_path_factory.mktemp("demo") / "home")
    ingest_demo(settings)
    app = presentation_app(settings)
    yield app
    app.extensions["memoria"].close()


@pytest.fixture(scope="session")
def corpus_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The IIIF corpus and the sample CSV, ingested once, behind the real app."""
    root = tmp_path_factory.mktemp("corpus")
    settings = instance(root / "home")
    ingest_corpus(settings, root / "csv")
    app = presentation_app(settings)
    yield app
    app.extensions["memoria"].close()


BOOK_MAPPING = """
[source]
namespace = "lib"
id = "inv"
provider = "Biblioteca de prueba"

[[column]]
name = "inv"
kind = "identifier"

[[column]]
name = "titulo"
to = "dc:title"
lang = "es"

[[column]]
name = "titulo_zh"
to = "dc:title"
lang = "zh-Hant"

[[column]]
name = "nota"
to = "dc:description"

[[column]]
name = "fecha"
kind = "date"

[[column]]
name = "lugar"
kind = "place"
lat = "lat"
long = "lon"

[[column]]
name = "tipo"
kind = "type"

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

BOOK_CSV = """inv,titulo,titulo_zh,nota,fecha,lugar,lat,lon,tipo,derechos,padre,orden,nivel,imagen
F1,Fondo de la biblioteca,圖書館全宗,,siglo XVII,,,,TEXT,InC,,1,fonds,
B1,Libro de horas,時禱書,Un libro sin idioma declarado,1605,Sevilla,37.3891,-5.9845,TEXT,http://rightsstatements.org/vocab/NoC-US/1.0/,F1,1,file,B1-p1.jpg|B1-p2.jpg|B1-p3.jpg
B2,Grabado suelto,,,1650,,,,IMAGE,CC BY 4.0,F1,2,item,B2.jpg
P1,Hoja 1,,,,,,,IMAGE,CC0,F1,3,item,P1.jpg
P2,Hoja 2,,,,,,,IMAGE,CC0,F1,4,item,P2.jpg
P3,Hoja 3,,,,,,,IMAGE,CC0,F1,5,item,P3.jpg
P4,Hoja 4,,,,,,,IMAGE,CC0,F1,6,item,P4.jpg
P5,Sin imagen,,,,,,,TEXT,CC0,F1,7,item,
"""


def ingest_books(settings: Settings, folder: Path) -> None:
    """A fonds with a three-page book, a print and loose sheets (one without an image)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "records.csv").write_text(BOOK_CSV, encoding="utf-8")
    (folder / "mapping.toml").write_text(BOOK_MAPPING, encoding="utf-8")
    colours = ["navy", "maroon", "olive", "teal", "purple", "gray", "green", "orange"]
    names = ["B1-p1", "B1-p2", "B1-p3", "B2", "P1", "P2", "P3", "P4"]
    for n, (name, colour) in enumerate(zip(names, colours, strict=True)):
        write_image(folder / f"{name}.jpg", (600 + 10 * n, 800), colour)
    with Archive(settings).open() as archive:
        report = run_batch(archive, get_reader("csv"), folder / "records.csv", options={
            "mapping": load_mapping(folder / "mapping.toml"), "images_dir": folder})
    assert not report.rejected, report.rejected


@pytest.fixture
def book_app(tmp_path: Path) -> Iterator[Flask]:
    """A fresh instance holding the book fonds, collections and changes paged three a page."""
    settings = instance(tmp_path / "home", page_size=3)
    ingest_books(settings, tmp_path / "books")
    app = presentation_app(settings)
    yield app
    app.extensions["memoria"].close()


def reingest_books(archive: Archive, folder: Path, csv_text: str) -> list[str]:
    """Ingest a changed book CSV again (same images); the ids of the records it updated."""
    src = Path(archive.settings.home).parent / "books"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mapping.toml").write_text(BOOK_MAPPING, encoding="utf-8")
    (folder / "records.csv").write_text(csv_text, encoding="utf-8")
    for image in src.glob("*.jpg"):
        (folder / image.name).write_bytes(image.read_bytes())
    report = run_batch(archive, get_reader("csv"), folder / "records.csv",
                       options={"mapping": load_mapping(folder / "mapping.toml"),
                                "images_dir": folder})
    return [r.record_id for r in report.accepted if r.action == "updated"]
