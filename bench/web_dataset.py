"""The 100,000-record instance for bench_web: a generated CSV in three languages, ingested once.

Run: .venv/bin/python -m bench.web_dataset [N]   (builds .cache/bench-web/home-N if missing)
"""

from __future__ import annotations

import csv
import os
import random
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench-web"
IMAGES = 12  # a handful of records carry images, so tiles come from a few pyramids

MAPPING = """
[source]
namespace = "bench"
id = "id"
provider = "Benchmark heritage office"
images_dir = "images"

[[column]]
name = "id"
kind = "identifier"
[[column]]
name = "parent"
kind = "parent"
[[column]]
name = "order"
kind = "order"
[[column]]
name = "level"
kind = "level"
[[column]]
name = "title_en"
to = "dc:title"
lang = "en"
[[column]]
name = "title_es"
to = "dc:title"
lang = "es"
[[column]]
name = "title_zh"
to = "dc:title"
lang = "zh-Hans"
[[column]]
name = "description_en"
to = "dc:description"
lang = "en"
[[column]]
name = "description_es"
to = "dc:description"
lang = "es"
[[column]]
name = "description_zh"
to = "dc:description"
lang = "zh-Hans"
[[column]]
name = "date"
to = "dcterms:created"
kind = "date"
[[column]]
name = "creator"
kind = "agent"
separator = "|"
[[column]]
name = "subjects"
kind = "concept"
separator = "|"
lang = "en"
[[column]]
name = "place"
kind = "place"
lat = "lat"
long = "lon"
[[column]]
name = "type"
kind = "type"
[[column]]
name = "rights"
kind = "rights"
[[column]]
name = "images"
kind = "image"
separator = "|"
"""

PLACES = [
    ("Guangzhou", "广州", 23.1291, 113.2644), ("Foshan", "佛山", 23.0215, 113.1214),
    ("Shamian Island", "沙面岛", 23.1077, 113.2420), ("Panyu", "番禺", 22.9380, 113.3840),
    ("Oaxaca de Juárez", "瓦哈卡", 17.0654, -96.7236), ("Mitla", "米特拉", 16.9264, -96.3597),
    ("Monte Albán", "阿尔班山", 17.0436, -96.7678), ("Teotitlán del Valle", "特奥蒂特兰", 17.0300,
                                                    -96.5210),
    ("San Francisco de Campeche", "坎佩切", 19.8454, -90.5237), ("Edzná", "埃兹纳", 19.5960,
                                                               -90.2290),
    ("Calakmul", "卡拉克穆尔", 18.1050, -89.8108), ("Ciudad del Carmen", "卡门城", 18.6490,
                                                    -91.8220),
]
SUBJECTS = [
    ("architecture", "arquitectura", "建筑"), ("ceramics", "cerámica", "陶瓷"),
    ("textiles", "textiles", "纺织品"), ("maps", "mapas", "地图"),
    ("religion", "religión", "宗教"), ("trade", "comercio", "贸易"),
    ("festivals", "fiestas", "节庆"), ("fortifications", "fortificaciones", "城防"),
    ("photography", "fotografía", "摄影"), ("archaeology", "arqueología", "考古"),
    ("markets", "mercados", "市场"), ("music", "música", "音乐"),
]
OBJECTS = [
    ("bastion", "baluarte", "棱堡"), ("ancestral hall", "salón ancestral", "祠堂"),
    ("church", "iglesia", "教堂"), ("market", "mercado", "市场"), ("rug", "tapete", "地毯"),
    ("vase", "jarrón", "花瓶"), ("street", "calle", "街道"), ("temple", "templo", "寺庙"),
    ("city wall", "muralla", "城墙"), ("procession", "procesión", "巡游"),
    ("teahouse", "casa de té", "茶楼"), ("pyramid", "pirámide", "金字塔"),
    ("embroidered robe", "huipil bordado", "绣袍"), ("harbour", "puerto", "港口"),
]
ADJ = [("old", "antiguo", "古老的"), ("painted", "pintado", "彩绘的"),
       ("restored", "restaurado", "修复的"), ("carved", "tallado", "雕刻的"),
       ("ruined", "en ruinas", "残存的"), ("festive", "festivo", "节日的")]
CREATORS = ["Unknown maker", "Taller de Oaxaca", "Maestro anónimo", "广州工匠", "Lai Afong",
            "John Thomson", "Guillermo Kahlo", "Teoberto Maler", "陈氏家族",
            "Ayuntamiento de Campeche", *[f"Photographer {i}" for i in range(40)]]
RIGHTS = ["https://creativecommons.org/publicdomain/zero/1.0/",
          "https://creativecommons.org/licenses/by/4.0/",
          "http://rightsstatements.org/vocab/InC/1.0/"]
FONDS = 40          # collections; each holds SERIES series of items
SERIES = 10


def image_names() -> list[str]:
    """The file names of the few generated images."""
    return [f"img-{i:02d}.jpg" for i in range(IMAGES)]


def _write_images(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(3)
    for name in image_names():
        if (folder / name).exists():
            continue
        img = Image.new("RGB", (2400, 1600), tuple(rng.randint(0, 255) for _ in range(3)))
        draw = ImageDraw.Draw(img)
        for _ in range(60):
            x, y = rng.randint(0, 2400), rng.randint(0, 1600)
            draw.ellipse((x, y, x + rng.randint(40, 400), y + rng.randint(40, 300)),
                         fill=tuple(rng.randint(0, 255) for _ in range(3)))
        img.save(folder / name, quality=85)


def _row(rng: random.Random, i: int, parent: str, level: str, order: int,
         images: str) -> list[object]:
    place, place_zh, lat, lon = rng.choice(PLACES)
    obj, adj = rng.choice(OBJECTS), rng.choice(ADJ)
    subjects = rng.sample(SUBJECTS, rng.randint(1, 3))
    year = rng.randint(1550, 1995)
    date = rng.choice([str(year), f"ca. {year}", f"{year}-{year + rng.randint(1, 30)}",
                       f"{year}-{rng.randint(1, 12):02d}"])
    return [
        f"W{i:06d}", parent, order, level,
        f"{adj[0].capitalize()} {obj[0]} in {place}, no. {i}",
        f"{obj[1].capitalize()} {adj[1]} de {place}, núm. {i}",
        f"{place_zh}{adj[2]}{obj[2]}（第{i}号）",
        f"A {adj[0]} {obj[0]} photographed in {place}; part of a survey of "
        f"{subjects[0][0]} and {rng.choice(SUBJECTS)[0]} in the region.",
        f"Un {obj[1]} {adj[1]} en {place}, parte de un registro de "
        f"{subjects[0][1]} y {rng.choice(SUBJECTS)[1]} de la región.",
        f"{place_zh}的一处{adj[2]}{obj[2]}，属于当地{subjects[0][2]}与"
        f"{rng.choice(SUBJECTS)[2]}的调查记录。",
        date, "|".join(rng.sample(CREATORS, rng.randint(1, 2))),
        "|".join(s[0] for s in subjects), place, lat, lon,
        rng.choice(["IMAGE", "IMAGE", "TEXT"]), rng.choice(RIGHTS), images,
    ]


def _image_of(i: int, names: list[str]) -> str:
    """The image of row i: each file once (an image id names one record's image), every 997th."""
    return names[i // 997] if i % 997 == 0 and i // 997 < len(names) else ""


def write_csv(path: Path, n: int, seed: int = 11) -> None:
    """N rows: FONDS collections > SERIES series each > items; a few items carry images.

    The items that do not divide evenly go at the end, into the last series.
    """
    rng = random.Random(seed)
    header = ["id", "parent", "order", "level", "title_en", "title_es", "title_zh",
              "description_en", "description_es", "description_zh", "date", "creator",
              "subjects", "place", "lat", "lon", "type", "rights", "images"]
    names = image_names()
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        i = 0
        for f in range(FONDS):
            fonds_id = f"W{i:06d}"
            w.writerow(_row(rng, i, "", "collection", f + 1, ""))
            i += 1
            for s in range(SERIES):
                series_id = f"W{i:06d}"
                w.writerow(_row(rng, i, fonds_id, "series", s + 1, ""))
                i += 1
                per_series = (n - FONDS * (SERIES + 1)) // (FONDS * SERIES)
                for k in range(per_series):
                    w.writerow(_row(rng, i, series_id, "item", k + 1, _image_of(i, names)))
                    i += 1
        k = per_series
        while i < n:
            k += 1
            w.writerow(_row(rng, i, series_id, "item", k, _image_of(i, names)))
            i += 1


def home_for(n: int) -> Path:
    """The cached instance directory for N records."""
    return CACHE / f"home-{n}"


def build(n: int) -> Path:
    """Ingest N generated records into the cached home once (at low priority); return it."""
    home = home_for(n)
    done = home / ".bench-complete"
    if done.exists():
        return home
    src = CACHE / f"src-{n}"
    _write_images(src / "images")
    (src / "mapping.toml").write_text(MAPPING, encoding="utf-8")
    if not (src / "data.csv").exists():
        write_csv(src / "data.csv", n)
    memoria = str(Path(sys.executable).parent / "memoria")
    env = {**os.environ, "MEMORIA_BASE_URL": "http://127.0.0.1:8000"}
    subprocess.run(["nice", "-n", "15", memoria, "--home", str(home), "ingest",
                    str(src / "data.csv"), "--mapping", str(src / "mapping.toml")],
                   check=True, env=env)
    done.write_text(str(n), encoding="utf-8")
    return home


if __name__ == "__main__":
    print(build(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
