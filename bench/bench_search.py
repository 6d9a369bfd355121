"""Search backends side by side: indexing docs/s, size, memory, and p50/p99 per query kind.

Run: .venv/bin/python -m bench.bench_search [N ...] [--no-es] [--no-tantivy] [--keep-es]
     [--queries Q] [--warm-up R] [--warm-up-max M]
Each N (default 100000) is generated once and loaded into both backends, then timed on four
query kinds: (a) a keyword plus five facet choices, (b) a facet-only browse, (c) a Chinese
keyword, (d) a date range plus a geo box. Titles, descriptions and keywords are real English,
Spanish and Chinese words from the shared corpus drawn with their corpus frequencies
(bench/search_text.py), so a few keywords are common and most are rare. Every query counts
all facets and (with text) highlights; facet-count caches are cleared before each timed
pass, so only repeats within the pass (as on a real browse page) are served from them.
Before the first timed pass each backend answers R rounds (default 2) of Q other queries of
every kind (other seeds, caches cleared after): a server that has only indexed runs its search
code interpreted until the JVM has compiled it, which doubled Elasticsearch's first pass
(docs/benchmarks.md); a serving index is warm. Both backends get the same R rounds; a local
Elasticsearch then gets more (up to --warm-up-max, default WARM_MAX) until its JIT compiler threads
used at most JIT_QUIET of the server's other CPU in the last round. After 2 rounds they still
took 18-27 ms of CPU per timed search at 1M, on the two cores the search runs on, and the
server's own CPU per search fell by a third over the next rounds as the rest of its
per-request code got compiled (docs/benchmarks.md, 2026-11-22, session 8); a server under
hours of traffic has compiled it all. The server's CPU per timed query (JIT apart) is
reported with the latencies.
Elasticsearch is measured when MEMORIA_ES_URL (default http://127.0.0.1:9200) answers;
start it with scripts/es.sh start. --keep-es keeps the Elasticsearch index of N documents
(alias memoria-benchkeep-N) and reuses it in later runs while it was built from the same
es-index.json and segment count (no indexing figures then), for query-only iterations.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.common import percentile, print_table
from bench.search_text import corpus_vocabularies, han_keyword, han_text, words_from
from search.backend import BBox, SearchBackend, SearchQuery, Sort
from search.document import fold, geo_cell, suggest_words
from search.es_backend import ElasticsearchBackend, schema_stamp
from search.tantivy_backend import TantivyBackend

SUBJECTS = [f"subject {i}" for i in range(300)]
CREATORS = [f"Creator {i}" for i in range(2000)]
PROVIDERS = [f"Provider {i}" for i in range(25)]
COLLECTIONS = [f"coll-{i}" for i in range(40)]
CENTURIES = [str(c) for c in range(1300, 2001, 100)]
# A local JVM server is warm when its JIT compiler threads used at most this share of the CPU
# its other threads used in a warm-up round (see the module docstring). At 25 % they still took
# 6-10 ms of CPU per timed search at 1M (docs/benchmarks.md, session 8): not yet a server in
# its steady state.
JIT_QUIET = 0.10
WARM_MAX = 30  # rounds at most
KINDS = {
    "a": "keyword + 5 facets",
    "b": "facet browse",
    "c": "Chinese keyword",
    "d": "date range + geo box",
}


def generate(n: int, seed: int = 42) -> list[dict[str, Any]]:
    """N search documents shaped like record_document's, in three languages."""
    rng = random.Random(seed)
    vocab = corpus_vocabularies()
    pools = {lang: vocab[lang].pool(rng) for lang in ("zh", "es", "en")}
    docs = []
    for i in range(n):
        lang = rng.choice(("zh", "es", "en"))
        if lang == "zh":
            title = han_text(pools["zh"], rng, 4, 10)
            desc = han_text(pools["zh"], rng, 20, 80)
        else:
            title = " ".join(words_from(pools[lang], rng, rng.randint(2, 6))).capitalize()
            desc = " ".join(words_from(pools[lang], rng, rng.randint(10, 40)))
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
            "level": "item", "order": None, "parent_id": None, "ancestors": [],
            "collection": COLLECTIONS[i % 40], "language": [lang],
            "rights": "http://creativecommons.org/publicdomain/mark/1.0/",
            "data_provider": rng.choice(PROVIDERS), "provider": "Memoria",
            "thumbnail": None, "image_count": 0, "has_image": False, "identifier": [],
            "suggest": sorted(set(suggest_words(title))),
            "other_text": "\n".join([*creators, *subjects]),
        })
    return docs


def _keyword(rng: random.Random) -> tuple[str, str]:
    # Keywords are content words drawn with their corpus frequencies: common ones often.
    vocab = corpus_vocabularies()
    lang = rng.choice(("zh", "es", "en"))
    if lang == "zh":
        return han_keyword(vocab["zh"], rng), lang
    return vocab[f"{lang}-content"].sample(rng, 1)[0], lang


def queries(kind: str, n: int, seed: int = 7) -> list[SearchQuery]:
    """N queries of one kind (a, b, c or d), all counting facets, 20 hits a page."""
    rng = random.Random(f"{seed}-{kind}")
    out = []
    for _ in range(n):
        if kind == "a":
            text, lang = _keyword(rng)
            q = SearchQuery(text=text, filters={
                "type": [rng.choice(("IMAGE", "TEXT"))], "language": [lang],
                "provider": rng.sample(PROVIDERS, 3), "century": rng.sample(CENTURIES, 3),
                "collection": rng.sample(COLLECTIONS, 10)})
        elif kind == "b":
            filters = {"provider": [rng.choice(PROVIDERS)]}
            if rng.random() < 0.5:
                filters["type"] = [rng.choice(("IMAGE", "TEXT"))]
            q = SearchQuery(filters=filters,
                            sort=rng.choice((Sort.RELEVANCE, Sort.YEAR_ASC, Sort.TITLE_ASC)))
        elif kind == "c":
            q = SearchQuery(text=han_keyword(corpus_vocabularies()["zh"], rng))
        else:
            start = rng.randint(1300, 1900)
            south, west = rng.uniform(-60, 40), rng.uniform(-179, 140)
            q = SearchQuery(year_from=start, year_to=start + rng.randint(20, 150),
                            bbox=BBox(south, west, south + rng.uniform(10, 30),
                                      west + rng.uniform(10, 40)),
                            sort=Sort.YEAR_ASC)
        out.append(q)
    return out


def _rss_kb(pid: int | str = "self", key: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak(pid: int | str = "self") -> None:
    # Writing 5 to clear_refs resets the kernel's peak-RSS mark (VmHWM) to the current RSS.
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def clear_caches(backend: SearchBackend) -> None:
    """Forget cached facet counts (Tantivy's LRU, Elasticsearch's shard request cache)."""
    if isinstance(backend, TantivyBackend):
        backend.facet_cache.clear()
    elif isinstance(backend, ElasticsearchBackend):
        # The query cache too (off in es-index.json; an older index may have it): a second run
        # of the same queries must not find their filters cached by the first.
        backend.client.indices.clear_cache(index=backend.alias, request=True, query=True)


def server_cpu_ms(pid: int | None) -> tuple[float, float]:
    """CPU ms a local server process has used: (its JIT compiler threads, all its other
    threads), from /proc; (0, 0) without a pid."""
    jit = work = 0.0
    if not pid:
        return jit, work
    tick = 1000 / os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # a thread that ended
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        ms = (int(fields[11]) + int(fields[12])) * tick  # utime + stime
        if name.startswith(("C1 CompilerThre", "C2 CompilerThre")):
            jit += ms
        else:
            work += ms
    return jit, work


def time_queries(backend: SearchBackend, qs: list[SearchQuery],
                 warm_up: list[SearchQuery], server_pid: int | None = None
                 ) -> tuple[list[float], tuple[float, float]]:
    """Latency of each query in ms, after warm-up queries and with no facet counts cached;
    with the server's CPU ms per query over them (JIT threads, the others)."""
    for q in warm_up:
        backend.search(q)
    clear_caches(backend)
    times = []
    cpu0 = server_cpu_ms(server_pid)
    for q in qs:
        t = time.perf_counter()
        backend.search(q)
        times.append((time.perf_counter() - t) * 1000)
    cpu1 = server_cpu_ms(server_pid)
    per_query = tuple((b - a) / len(qs) for a, b in zip(cpu0, cpu1, strict=True))
    return times, (per_query[0], per_query[1])


def warm_backend(backend: SearchBackend, n_queries: int, rounds: int,
                 server_pid: int | None = None, max_rounds: int = WARM_MAX
                 ) -> tuple[float, int, float]:
    """Answer rounds of n_queries queries of every kind (seeds the timed passes never use),
    in full and without facets or highlights as the timed passes ask: `rounds` of them, and
    for a local server more (up to max_rounds) until its JIT compiler threads used at most
    JIT_QUIET of its other threads' CPU in the last one; then forget cached counts.
    Seconds taken, rounds run, and the last round's JIT share."""
    start = time.perf_counter()
    r, share = 0, 0.0
    while r < rounds or (rounds and server_pid and share > JIT_QUIET and r < max_rounds):
        cpu0 = server_cpu_ms(server_pid)
        for kind in KINDS:
            for q in queries(kind, n_queries, seed=100 + r):
                backend.search(q)
                backend.search(replace(q, facets=False, highlight=False))
        cpu1 = server_cpu_ms(server_pid)
        r += 1
        jit, work = (b - a for a, b in zip(cpu0, cpu1, strict=True))
        share = jit / work if work else 0.0
        if server_pid:
            print(f"warm-up round {r}: server CPU {work / 1000:.1f} s, its JIT {share:.0%} of "
                  "that", flush=True)
    clear_caches(backend)
    return time.perf_counter() - start, r, share


def measure(backend: SearchBackend, docs: list[dict[str, Any]] | int,
            load: Callable[[Iterable[dict[str, Any]]], int], size_bytes: Callable[[], int],
            n_queries: int, server_pid: int | None = None,
            warm_rounds: int = 2, warm_max: int = WARM_MAX) -> dict[str, Any]:
    """Index the docs (a number: reuse the index holding that many), then time every query
    kind; one result row as a dict."""
    rss0 = _rss_kb()
    _reset_peak()
    if server_pid:
        _reset_peak(server_pid)
    n = docs if isinstance(docs, int) else len(docs)
    index_s = float("nan")
    if not isinstance(docs, int):
        start = time.perf_counter()
        load(docs)
        backend.refresh()
        index_s = time.perf_counter() - start
    assert backend.count() == n, (backend.count(), n)
    row: dict[str, Any] = {"docs": n, "docs/s": n / index_s,
                           "index s": index_s, "size MB": size_bytes() / 1e6}
    row["warm-up s"], row["warm-up rounds"], row["warm-up JIT share"] = warm_backend(
        backend, n_queries, warm_rounds, server_pid, warm_max)
    for kind in KINDS:
        qs, warm_up = queries(kind, n_queries), queries(kind, 10, seed=8)
        times, row[f"{kind} server cpu"] = time_queries(backend, qs, warm_up, server_pid)
        row[f"{kind} p50"], row[f"{kind} p99"] = percentile(times, 50), percentile(times, 99)
        # What the facets are counted over: the words, span and box without facet choices.
        matched = [backend.count(replace(q, filters={})) for q in qs]
        row[f"{kind} matched"] = (percentile(matched, 50), percentile(matched, 99))
        # Where the time goes: the same queries without facet counts, and without highlights.
        few = qs[:max(10, n_queries // 4)]
        row[f"{kind} hits only p50"] = percentile(time_queries(
            backend, [replace(q, facets=False, highlight=False) for q in few], warm_up)[0], 50)
        row[f"{kind} no highlight p50"] = percentile(time_queries(
            backend, [replace(q, highlight=False) for q in few], warm_up)[0], 50)
    peak = _rss_kb(server_pid, "VmHWM") if server_pid else _rss_kb("self", "VmHWM") - rss0
    row["peak MB"] = peak / 1024
    return row


def _es_pid(es: ElasticsearchBackend) -> int | None:
    nodes = es.client.nodes.info(node_id="_local", metric="process").body["nodes"]
    pid = next(iter(nodes.values())).get("process", {}).get("id")
    return int(pid) if pid and Path(f"/proc/{pid}").exists() else None


def server_jvm(es: ElasticsearchBackend) -> str:
    """The server's JVM in a few words: Java version and vendor, garbage collector, heap,
    and the processors it sizes its thread pools for (what an A/B of scripts/es.sh's JVM
    settings changes)."""
    node = next(iter(es.client.nodes.info(node_id="_local", metric="jvm,os").body["nodes"]
                     .values()))
    jvm, os_info = node.get("jvm", {}), node.get("os", {})
    gc = ", ".join(jvm.get("gc_collectors", [])) or "?"
    heap = jvm.get("mem", {}).get("heap_max_in_bytes", 0) / 2**30
    return (f"Java {jvm.get('version', '?')} ({jvm.get('vm_vendor', '?')}), GC {gc}, "
            f"heap {heap:.1f} GB, {os_info.get('allocated_processors', '?')} processors")


def _segments(es: ElasticsearchBackend) -> int:
    shards = es.client.indices.segments(index=es.alias).body["indices"].values()
    return sum(len(copy["segments"]) for index in shards
               for copies in index["shards"].values() for copy in copies)


def _reusable(es: ElasticsearchBackend, n: int) -> bool:
    """Whether the kept index holds n documents built from today's schema and segments."""
    stamps = es.index_stamps() if es._current() else {}
    return (len(stamps) == 1 and set(stamps.values()) == {schema_stamp()}
            and es.count() == n and _segments(es) == es.segments)


def run(n: int, n_queries: int, with_es: bool, with_tantivy: bool = True,
        keep_es: bool = False, warm_rounds: int = 2, warm_max: int = WARM_MAX
        ) -> list[tuple[str, dict[str, Any]]]:
    """Both backends (or either) on n generated documents."""
    url = os.environ.get("MEMORIA_ES_URL", "http://127.0.0.1:9200")
    es = ElasticsearchBackend(url, alias=f"memoria-benchkeep-{n}" if keep_es
                              else "memoria-bench", request_timeout=300)
    if with_es and not es.health().ok:
        sys.exit(f"Elasticsearch not reachable at {url}; start scripts/es.sh or --no-es")
    reuse = with_es and keep_es and _reusable(es, n)
    docs: list[dict[str, Any]] = []
    if with_tantivy or (with_es and not reuse):
        t = time.perf_counter()
        docs = generate(n)
        print(f"generated {n:,} documents in {time.perf_counter() - t:.0f} s", flush=True)
    rows = []
    if with_tantivy:
        with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
            path = Path(tmp) / "index"
            tv = TantivyBackend(path)
            rows.append(("Tantivy", measure(tv, docs, tv.index, lambda: _dir_bytes(path),
                                            n_queries, warm_rounds=warm_rounds,
                                            warm_max=warm_max)))
            tv.close()
        print(rows[-1], flush=True)
    if with_es:
        def es_size() -> int:
            stats = es.client.indices.stats(index=es.alias, metric="store").body
            return int(stats["_all"]["primaries"]["store"]["size_in_bytes"])

        if reuse:
            print(f"reusing {es._current()[0]} ({n:,} documents)", flush=True)
        jvm = server_jvm(es)
        print(f"Elasticsearch on {jvm}", flush=True)
        try:
            rows.append(("Elasticsearch", measure(es, n if reuse else docs, es.rebuild,
                                                  es_size, n_queries, _es_pid(es),
                                                  warm_rounds, warm_max)))
            rows[-1][1]["jvm"] = jvm
        finally:
            if not keep_es:
                for index in es.client.indices.get(index="memoria-bench-*").body:
                    es.client.indices.delete(index=index)
            es.close()
        print(rows[-1], flush=True)
    return rows


def main(argv: list[str]) -> None:
    """Run the benchmark for each N and print one table with both backends and the ratio."""
    if "--help" in argv or "-h" in argv:
        print(__doc__)
        return
    n_queries = int(argv[argv.index("--queries") + 1]) if "--queries" in argv else 100
    warm_rounds = int(argv[argv.index("--warm-up") + 1]) if "--warm-up" in argv else 2
    warm_max = int(argv[argv.index("--warm-up-max") + 1]) if "--warm-up-max" in argv else WARM_MAX
    skip = {argv.index(o) + 1 for o in ("--queries", "--warm-up", "--warm-up-max") if o in argv}
    sizes = [int(a) for i, a in enumerate(argv) if a.isdigit() and i not in skip] or [100_000]
    load_before = os.getloadavg()
    results = []
    for n in sizes:
        results.append((n, run(n, n_queries, "--no-es" not in argv,
                               "--no-tantivy" not in argv, "--keep-es" in argv,
                               warm_rounds, warm_max)))
    kinds = list(KINDS)
    header = ["documents", "backend", "docs/s", "index s", "size MB", "peak MB",
              "warm-up s (rounds)"]
    header += [f"({k}) {KINDS[k]} p50 / p99 ms" for k in kinds]
    table = []
    for n, rows in results:
        for name, r in rows:
            table.append([f"{n:,}", name, f"{r['docs/s']:,.0f}", f"{r['index s']:,.0f}",
                          f"{r['size MB']:,.0f}", f"{r['peak MB']:,.0f}",
                          f"{r['warm-up s']:,.0f} ({r['warm-up rounds']})"]
                         + [f"{r[k + ' p50']:.1f} / {r[k + ' p99']:.1f}" for k in kinds])
        if len(rows) == 2:
            (_, t), (_, e) = rows
            table.append([f"{n:,}", "ratio ES / Tantivy", f"{e['docs/s'] / t['docs/s']:.2f}",
                          "", f"{e['size MB'] / t['size MB']:.2f}", "", ""]
                         + [f"{e[k + ' p50'] / t[k + ' p50']:.2f} / "
                            f"{e[k + ' p99'] / t[k + ' p99']:.2f}" for k in kinds])
    print_table(f"Search backends ({n_queries} queries a kind, all facets counted)",
                header, table)
    parts = [["documents", "backend"] + [f"({k}) full / no highlight / hits only p50 ms"
                                         for k in kinds]]
    for n, rows in results:
        for name, r in rows:
            parts.append([f"{n:,}", name] + [
                f"{r[k + ' p50']:.1f} / {r[k + ' no highlight p50']:.1f} / "
                f"{r[k + ' hits only p50']:.1f}" for k in kinds])
    print_table("Where the time goes (p50)", parts[0], parts[1:])
    cpu = [["documents", "last warm-up round JIT share"]
           + [f"({k}) work / JIT ms" for k in kinds]]
    for n, rows in results:
        for name, r in rows:
            if name == "Elasticsearch":
                cpu.append([f"{n:,}", f"{r['warm-up JIT share']:.0%}"] + [
                    f"{r[k + ' server cpu'][1]:.1f} / {r[k + ' server cpu'][0]:.1f}"
                    for k in kinds])
    if len(cpu) > 1:
        print_table("Elasticsearch server CPU per timed query (its JIT compiler threads apart)",
                    cpu[0], cpu[1:])
    matched = [["documents"] + [f"({k}) p50 / p99" for k in kinds]]
    for n, rows in results:
        if not rows:
            continue
        r = rows[0][1]
        matched.append([f"{n:,}"] + [f"{r[k + ' matched'][0]:,.0f} / {r[k + ' matched'][1]:,.0f}"
                                     for k in kinds])
    print_table("Documents matched by the words, years and box alone (what facets count over)",
                matched[0], matched[1:])
    for _n, rows in results:
        for name, r in rows:
            if "jvm" in r:
                print(f"\n{name} on {r['jvm']}")
    print(f"\nload average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}; "
          "peak MB: Tantivy = growth of the bench process while indexing and querying, "
          "Elasticsearch = peak RSS of the server JVM")


if __name__ == "__main__":
    main(sys.argv[1:])
