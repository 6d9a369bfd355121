"""Checks on the demo collection: records.csv, mapping.toml and the procedural images."""

from __future__ import annotations

import csv
import re
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from archive.demo.images import BIG_IMAGE, demo_dir, generate_images, image_names, image_size

COLUMNS = [
    "identifier",
    "parent",
    "order",
    "level",
    "title_en",
    "title_zh",
    "title_es",
    "description_en",
    "description_zh",
    "description_es",
    "date",
    "creator",
    "subjects_en",
    "place",
    "latitude",
    "longitude",
    "type",
    "rights",
    "images",
]
RIGHTS = {
    "https://creativecommons.org/publicdomain/zero/1.0/",
    "https://creativecommons.org/licenses/by/4.0/",
    "http://rightsstatements.org/vocab/InC/1.0/",
}
HAN = re.compile(r"[\u4e00-\u9fff]")


def _rows() -> list[dict[str, str]]:
    with (demo_dir() / "records.csv").open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=","))


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return _rows()


def _items(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in rows if r["level"] == "item"]


def test_header_and_shape(rows: list[dict[str, str]]) -> None:
    with (demo_dir() / "records.csv").open(encoding="utf-8-sig", newline="") as fh:
        header = next(csv.reader(fh))
    assert header == COLUMNS
    assert 36 <= len(rows) <= 45
    for row in rows:
        assert None not in row, f"extra cells in {row.get('identifier')}"
        assert all(v is not None for v in row.values()), f"short row {row['identifier']}"


def test_identifiers_unique_and_well_formed(rows: list[dict[str, str]]) -> None:
    ids = [r["identifier"] for r in rows]
    assert len(ids) == len(set(ids))
    for ident in ids:
        assert re.fullmatch(r"(GZ|OAX|CAM)(-S\d{2}|-\d{4})?", ident), ident


def test_cities_balanced(rows: list[dict[str, str]]) -> None:
    counts = Counter(r["identifier"].split("-")[0] for r in rows)
    assert set(counts) == {"GZ", "OAX", "CAM"}
    for n in counts.values():
        assert len(rows) / 3 - 3 <= n <= len(rows) / 3 + 3


def test_hierarchy(rows: list[dict[str, str]]) -> None:
    by_id = {r["identifier"]: r for r in rows}
    roots = [r for r in rows if not r["parent"]]
    assert sorted(r["identifier"] for r in roots) == ["CAM", "GZ", "OAX"]
    assert all(r["level"] in ("collection", "fonds") for r in roots)
    for row in rows:
        assert row["level"] in ("collection", "fonds", "series", "item")
        if row["parent"]:
            assert row["parent"] in by_id, f"{row['identifier']}: no parent {row['parent']}"
            assert row["parent"] != row["identifier"]
        if row["level"] == "series":
            assert by_id[row["parent"]]["level"] in ("collection", "fonds")
        if row["level"] == "item":
            assert by_id[row["parent"]]["level"] == "series"
    # order: distinct positive integers 1..n among siblings
    siblings: dict[str, list[int]] = {}
    for row in rows:
        siblings.setdefault(row["parent"], []).append(int(row["order"]))
    for parent, orders in siblings.items():
        assert sorted(orders) == list(range(1, len(orders) + 1)), parent
    assert len([r for r in rows if r["level"] == "series"]) >= 3


def test_titles_and_languages(rows: list[dict[str, str]]) -> None:
    for row in rows:
        assert row["title_en"].strip(), row["identifier"]
        assert row["description_en"].strip(), row["identifier"]
        if row["identifier"].startswith("GZ"):
            assert HAN.search(row["title_zh"]), row["identifier"]
        else:
            assert row["title_es"].strip(), row["identifier"]
    zh = sum(1 for r in rows if HAN.search(r["description_zh"]))
    es = sum(1 for r in rows if r["description_es"].strip())
    assert zh >= 10 and es >= 20


def test_items_rights_places_types_images(rows: list[dict[str, str]]) -> None:
    items = _items(rows)
    assert len(items) >= 27
    for row in rows:
        assert row["rights"] in RIGHTS, row["identifier"]
        assert row["type"] in ("IMAGE", "TEXT", "3D", "SOUND", "VIDEO"), row["identifier"]
    for row in items:
        ident = row["identifier"]
        assert re.fullmatch(r"https?://\S+/", row["rights"]), ident
        assert row["place"].strip(), ident
        lat, long = float(row["latitude"]), float(row["longitude"])
        assert -90 <= lat <= 90 and -180 <= long <= 180, ident
        # coarse sanity: each city's items lie in its own region
        if ident.startswith("GZ"):
            assert 22.5 < lat < 23.5 and 113 < long < 114, ident
        elif ident.startswith("OAX"):
            assert 16 < lat < 18 and -97.5 < long < -96, ident
        else:
            assert 17.5 < lat < 21 and -91 < long < -89, ident
        images = [n for n in row["images"].split("|") if n]
        assert 1 <= len(images) <= 2, ident
        assert all(n.startswith(ident) and n.endswith(".jpg") for n in images), ident
        subjects = [s for s in row["subjects_en"].split("|") if s.strip()]
        assert len(subjects) >= 3, ident
    used = Counter(r["rights"] for r in rows)
    assert len(used) == 3


def test_mapping_matches_csv(rows: list[dict[str, str]]) -> None:
    with (demo_dir() / "mapping.toml").open("rb") as fh:
        mapping = tomllib.load(fh)
    source = mapping["source"]
    assert re.fullmatch(r"[a-z0-9]+", source["namespace"])
    assert source["id"] == "identifier"
    assert source["delimiter"] == ","
    columns = {c["name"]: c for c in mapping["column"]}
    coords = {c.get("lat") for c in columns.values()} | {c.get("long") for c in columns.values()}
    assert set(COLUMNS) == set(columns) | (coords - {None})
    assert columns["title_zh"]["lang"] == "zh-Hans"
    assert columns["subjects_en"]["separator"] == "|"
    assert columns["place"]["kind"] == "place"
    for col in columns.values():
        if "to" in col:
            assert re.fullmatch(r"(dc|dcterms|edm|skos):\w+", col["to"]), col


def test_image_names_cover_items(rows: list[dict[str, str]]) -> None:
    names = image_names()
    assert len(names) == len(set(names))
    assert BIG_IMAGE in names
    assert {n for r in rows for n in r["images"].split("|") if n} == set(names)
    for name in names:
        w, h = image_size(name)
        if name == BIG_IMAGE:
            assert max(w, h) >= 8000
        else:
            assert 2000 <= max(w, h) <= 3000


def test_generate_images(tmp_path: Path) -> None:
    names = ["GZ-0001.jpg", "OAX-0003-detail.jpg", BIG_IMAGE]
    paths = generate_images(tmp_path, names)
    assert [p.name for p in paths] == names
    for path in paths:
        with Image.open(path) as im:
            assert im.format == "JPEG"
            assert im.mode == "RGB"
            assert im.size == image_size(path.name)
            if path.name == BIG_IMAGE:
                assert max(im.size) >= 8000
            else:
                assert 2000 <= max(im.size) <= 3000
            im.load()
    # deterministic: same name, same bytes
    again = generate_images(tmp_path / "again", ["GZ-0001.jpg"])
    assert again[0].read_bytes() == paths[0].read_bytes()


def test_generate_images_rejects_paths(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate_images(tmp_path, ["../escape.jpg"])
