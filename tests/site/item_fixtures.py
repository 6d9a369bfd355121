"""A small archive for the item page, citation, QR and label tests: a fonds, a series, items."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from flask import Flask

from archive.settings import load_settings
from archive.web import create_app
from ingest.mapping import load_mapping
from ingest.pipeline import run_batch
from ingest.registry import get_reader
from tests.conftest import BASE_URL, SAMPLE_MAPPING, write_image

MAPPING = SAMPLE_MAPPING + """
[[column]]
name = "titulo_zh"
to = "dc:title"
lang = "zh-Hans"
"""

# Catalogue text an attacker might write: script tags, a javascript: URL, a bidi override,
# and every character BibTeX treats specially.
HOSTILE_TITLE = ("Evil </script><script>alert(1)</script> {x} 100% & $y$ #1 a_b ^ ~ \\ "
                 "\u202egnp.exe")
COLUMNS = ["inv", "titulo", "title", "titulo_zh", "fecha", "autor", "temas", "lugar", "lat",
           "lon", "derechos", "padre", "orden", "nivel", "imagen"]
ROWS = [
    ["F1", "Fondo Oaxaca", "Oaxaca fonds", "瓦哈卡全宗", "siglo XIX", "", "", "Oaxaca",
     "17.0654", "-96.7236", "CC0", "", "1", "fonds", ""],
    ["S1", "Serie de templos", "Temples series", "", "1570-1608", "", "templos", "Oaxaca",
     "17.0654", "-96.7236", "CC0", "F1", "1", "series", ""],
    ["I1", "Templo de Santo Domingo", "Church of Santo Domingo", "圣多明各教堂", "ca. 1575",
     "Orden de Predicadores", "templos|barroco", "Oaxaca de Juárez", "17.0659", "-96.7233",
     "https://creativecommons.org/licenses/by/4.0/", "S1", "1", "item", "I1.jpg"],
    ["I2", "Basílica de la Soledad, fachada", "Basilica of La Soledad", "", "1682-1690",
     "Pérez, Juana", "templos", "Oaxaca de Juárez", "17.0612", "-96.7316",
     "http://rightsstatements.org/vocab/InC/1.0/", "S1", "2", "item", "I2.png"],
    ["I3", "javascript:alert(1)", HOSTILE_TITLE, "", "1700", "Orden de Predicadores", "templos",
     "Oaxaca", "17.0654", "-96.7236", "CC0", "S1", "3", "item", ""],
    ["I4", "Mercado de la Merced", "La Merced market", "", "1900", "", "mercados",
     "Ciudad de México", "19.4260", "-99.1240", "CC0", "", "", "item", ""],
]


def csv_text() -> str:
    """The records as CSV."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(ROWS)
    return out.getvalue()


def make_loaded_app(tmp: Path, images: bool = True) -> Flask:
    """A fresh instance under `tmp` with the records ingested (images only if asked)."""
    source = tmp / "source"
    source.mkdir(parents=True)
    rows = csv_text() if images else csv_text().replace("I1.jpg", "").replace("I2.png", "")
    (source / "records.csv").write_text(rows, encoding="utf-8")
    (source / "mapping.toml").write_text(MAPPING, encoding="utf-8")
    if images:
        write_image(source / "I1.jpg", (800, 600))
        write_image(source / "I2.png", (300, 500), "orange")
    settings = load_settings({"home": str(tmp / "home"), "base_url": BASE_URL, "fsync": False},
                             environ={})
    app = create_app(settings)
    app.config["TESTING"] = True
    report = run_batch(app.extensions["memoria"], get_reader("csv"), source / "records.csv",
                       options={"mapping": load_mapping(source / "mapping.toml"),
                                "images_dir": source})
    assert not getattr(report, "errors", None), report
    return app
