"""Build the configured search backend from plain settings values (nothing connects here)."""

from __future__ import annotations

from pathlib import Path

from search.backend import SearchBackend

BACKENDS = ("tantivy", "elasticsearch")


def create_backend(kind: str, index_dir: str | Path | None = None,
                   elasticsearch_url: str = "http://127.0.0.1:9200",
                   alias: str = "memoria") -> SearchBackend:
    """The backend named by the `search` setting: tantivy (needs index_dir) or elasticsearch."""
    if kind == "tantivy":
        if index_dir is None:
            raise ValueError("the tantivy search backend needs an index directory")
        from search.tantivy_backend import TantivyBackend

        return TantivyBackend(index_dir)
    if kind == "elasticsearch":
        from search.es_backend import ElasticsearchBackend

        return ElasticsearchBackend(elasticsearch_url, alias=alias)
    raise ValueError(f"search backend {kind!r} is not one of {', '.join(BACKENDS)}")
