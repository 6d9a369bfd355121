"""Search backends: indexing docs/s and query latency p50/p99 at N generated documents.

Run: .venv/bin/python -m bench.bench_search [N] [--no-es]
Elasticsearch is measured when MEMORIA_ES_URL (default http://127.0.0.1:9200) answers;
start it with scripts/es.sh start.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import peak_rss_mb, percentile, print_table
from search.backend import BBox, SearchBackend, SearchQuery, Sort
from search.document import fold, geo_cell, suggest_words
from search.es_backend import ElasticsearchBackend
from search.tantivy_backend import TantivyBackend

HAN = "缂丝花鸟图轴紫天鹿青碧山水八仙东方朔偷桃绣芙蓉双鸭柿红盘绦朵宋锦乾隆龙袍吉服"
ES_WORDS = ("pintura descripción relación geográfica mapa ciudad iglesia río camino pueblo "
            "oaxaqueño México Guatemala Tlaxcala diócesis acuarela").split()
EN_WORDS = ("map church river road town painting description watercolor landscape diocese "
            "embroidered robe silk scroll").split()
SUBJECTS = [f"subject {i}" for i in range(300)]
CREATORS = [f"Creator {i}" for i in range(2000)]
PROVIDERS = [f"Provider {i}" for i in range(25)]


def generate(n: int, seed: int = 42) -> list[dict[str, Any]]:
    """N search documents shaped like record_document's, in three languages."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        lang = rng.choice(("zh", "es", "en"))
        if lang == "zh":
            title = "".join(rng.choice(HAN) for _ in range(rng.randint(4, 10)))
            desc = "".join(rng.choice(HAN) for _ in range(rng.randint(20, 80)))
        else:
            words = ES_WORDS if lang == "es" else EN_WORDS
            title = " ".join(rng.choice(words) for _ in range(rng.randint(2, 6))).capitalize()
            desc = " ".join(rng.choice(words) for _ in range(rng.randint(10, 40)))
        year = rng.randint(1300, 2000) if rng.random() < 0.8 else None
        loc = ({"lat": round(rng.uniform(-60, 70), 4), "lon": round(rng.uniform(-179, 179), 4)}
               if rng.random() < 0.6 else None)
        creators = rng.sample(CREATORS, rng.randint(0, 2))
        subjects = rng.sample(SUBJECTS, rng.randint(1, 3))
        docs.append({
            "id": f"bench-{i:07d}", "uri": f"https://memoria.example.org/item/bench-{i:07d}",
            "title": {lang: [title]}, "title_display": title, "title_sort": fold(title),
            "description": {lang: [desc]}, "creator": creators, "contributor": [],
            "subject": subjects, "place": [], "location": loc,
            "geo_cell": geo_cell(loc["lat"], loc["lon"]) if loc else None,
            "year_begin": year, "year_end": year + rng.randint(0, 20) if year else None,
            "date_label": str(year) if year else None, "type": rng.choice(("IMAGE", "TEXT")),
            "level": "item", "order": None, "parent_id": None,
            "collection": f"coll-{i % 40}", "language": [lang],
            "rights": "http://creativecommons.org/publicdomain/mark/1.0/",
            "data_provider": rng.choice(PROVIDERS), "provider": "Memoria",
            "thumbnail": None, "image_count": 0, "has_image": False, "identifier": [],
            "suggest": sorted(set(suggest_words(title))),
            "all_text": "\n".join([title, desc, *creators, *subjects]),
        })
    return docs


def queries(seed: int = 7, n: int = 200) -> list[SearchQuery]:
    """A mix of text, facet, year, box and sorted queries, all with facets counted."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        kind = rng.random()
        text = rng.choice([
            "".join(rng.choice(HAN) for _ in range(2)), rng.choice(ES_WORDS),
            rng.choice(EN_WORDS), f"{rng.choice(ES_WORDS)} {rng.choice(ES_WORDS)}", ""])
        filters: dict[str, list[str]] = {}
        if kind < 0.4:
            filters["provider"] = rng.sample(PROVIDERS, 2)
        if kind < 0.2:
            filters["subject"] = [rng.choice(SUBJECTS)]
        year_from = rng.randint(1300, 1900) if rng.random() < 0.3 else None
        bbox = BBox(0, -120, 50, -60) if rng.random() < 0.1 else None
        sort = Sort.YEAR_ASC if rng.random() < 0.2 else Sort.RELEVANCE
        out.append(SearchQuery(text=text, filters=filters, year_from=year_from, bbox=bbox,
                               sort=sort, size=20))
    return out


def measure(name: str, backend: SearchBackend, docs: list[dict[str, Any]],
            load: Callable[[list[dict[str, Any]]], int]) -> list[object]:
    """Index the docs, then time each query; one table row."""
    start = time.perf_counter()
    load(docs)
    backend.refresh()
    index_s = time.perf_counter() - start
    assert backend.count() == len(docs)
    qs = queries()
    for q in qs[:20]:
        backend.search(q)
    times = []
    for q in qs:
        t = time.perf_counter()
        backend.search(q)
        times.append((time.perf_counter() - t) * 1000)
    return [name, len(docs), round(len(docs) / index_s), index_s,
            percentile(times, 50), percentile(times, 99)]


def main(argv: list[str]) -> None:
    """Run the benchmark and print a table."""
    n = int(next((a for a in argv if a.isdigit()), "100000"))
    docs = generate(n)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tv = TantivyBackend(Path(tmp) / "index")
        rows.append(measure("tantivy", tv, docs, tv.index))
        tv.close()
    if "--no-es" not in argv:
        url = os.environ.get("MEMORIA_ES_URL", "http://127.0.0.1:9200")
        es = ElasticsearchBackend(url, alias="memoria-bench", request_timeout=120)
        if not es.health().ok:
            sys.exit(f"Elasticsearch not reachable at {url}; start scripts/es.sh or --no-es")
        try:
            rows.append(measure("elasticsearch", es, docs, es.rebuild))
        finally:
            for index in es.client.indices.get(index="memoria-bench-*").body:
                es.client.indices.delete(index=index)
            es.close()
    print_table(f"Search backends, {n:,} documents (200 queries, facets on)",
                ["backend", "docs", "docs/s", "index s", "query p50 ms", "query p99 ms"],
                rows)
    print(f"\npeak RSS {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
