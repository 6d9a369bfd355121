"""The SearchBackend protocol and the plain query/result types both backends speak."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Any, Protocol, runtime_checkable

from search.document import load_schema

MAX_PAGE_SIZE = 1000
MAX_RESULT_WINDOW = 10_000


class Sort(StrEnum):
    """Result orders; every field sort breaks ties by id, documents without a value come last."""

    RELEVANCE = "relevance"
    YEAR_ASC = "year_asc"
    YEAR_DESC = "year_desc"
    TITLE_ASC = "title_asc"
    TITLE_DESC = "title_desc"


@dataclass(frozen=True)
class FacetDef:
    """One facet from schemas/search/facets.json."""

    name: str
    field: str
    kind: str
    label: Mapping[str, str]
    size: int = 20
    interval: int = 100
    ranges: tuple[Mapping[str, Any], ...] = ()

    def range_bounds(self, key: str) -> tuple[float | None, float | None]:
        """The (from inclusive, to exclusive) bounds of one named range or histogram bucket."""
        if self.kind == "year_histogram":
            if not re.fullmatch(r"-?\d{1,6}", key) or int(key) % self.interval:
                raise ValueError(f"facet {self.name!r} has no bucket {key!r}")
            start = float(key)
            return start, start + self.interval
        for r in self.ranges:
            if r["key"] == key:
                return r.get("from"), r.get("to")
        raise ValueError(f"facet {self.name!r} has no range {key!r}")


@cache
def facet_defs() -> tuple[FacetDef, ...]:
    """All facet definitions, in display order."""
    out = []
    for f in load_schema("facets.json")["facets"]:
        out.append(FacetDef(
            name=f["name"], field=f["field"], kind=f["kind"], label=f["label"],
            size=int(f.get("size", 20)), interval=int(f.get("interval", 100)),
            ranges=tuple(f.get("ranges", ())),
        ))
    return tuple(out)


def facet_by_name(name: str) -> FacetDef:
    """Look a facet up by name; ValueError for an unknown one (filters come from users)."""
    for f in facet_defs():
        if f.name == name:
            return f
    raise ValueError(f"unknown facet {name!r}")


@dataclass(frozen=True)
class BBox:
    """A geographic box in WGS84 degrees; west > east crosses the antimeridian."""

    south: float
    west: float
    north: float
    east: float

    def __post_init__(self) -> None:
        if not (-90 <= self.south <= self.north <= 90):
            raise ValueError(f"bad latitudes in {self}")
        if not (-180 <= self.west <= 180 and -180 <= self.east <= 180):
            raise ValueError(f"bad longitudes in {self}")


@dataclass(frozen=True)
class SearchQuery:
    """What a user asks: text, facet choices, a year span, a box, an order and a page."""

    text: str = ""
    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)
    year_from: int | None = None
    year_to: int | None = None
    bbox: BBox | None = None
    # Only records below this one in the archival hierarchy (any depth).
    within: str | None = None
    sort: Sort = Sort.RELEVANCE
    page: int = 1
    size: int = 20
    search_after: tuple[Any, ...] | None = None
    facets: bool = True
    highlight: bool = True

    def __post_init__(self) -> None:
        # Frozen, but values from a web form arrive as plain strings and lists.
        object.__setattr__(self, "sort", Sort(self.sort))
        if not 0 <= self.size <= MAX_PAGE_SIZE:
            raise ValueError(f"size must be between 0 and {MAX_PAGE_SIZE}")
        if self.page < 1 or self.page * self.size > MAX_RESULT_WINDOW:
            raise ValueError(f"page must be >= 1 and page * size <= {MAX_RESULT_WINDOW}")
        if self.search_after is not None and self.sort is Sort.RELEVANCE:
            raise ValueError("search_after needs a field sort, not relevance")
        for name, keys in self.filters.items():
            facet = facet_by_name(name)
            if isinstance(keys, str) or not all(isinstance(k, str) for k in keys):
                raise ValueError(f"facet {name!r}: choices must be a list of strings")
            if facet.kind in ("year_histogram", "range"):
                for key in keys:
                    facet.range_bounds(key)


@dataclass(frozen=True)
class Hit:
    """One matching record."""

    id: str
    score: float | None
    highlights: Mapping[str, list[str]] = field(default_factory=dict)
    sort_values: tuple[Any, ...] | None = None
    # The indexed document without other_text.
    source: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)
    # Backend-private handle (a Tantivy DocAddress), kept for highlighting.
    address: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class FacetBucket:
    """One value of a facet and how many records have it."""

    key: str
    count: int
    selected: bool = False


@dataclass(frozen=True)
class FacetResult:
    """A facet's buckets, counted as if the facet's own choices were not made."""

    name: str
    buckets: list[FacetBucket]


@dataclass(frozen=True)
class SearchResult:
    """The answer to a SearchQuery."""

    hits: list[Hit]
    total: int
    facets: list[FacetResult] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        """The hit ids in order."""
        return [h.id for h in self.hits]

    def facet(self, name: str) -> dict[str, int]:
        """One facet's counts as a plain dict."""
        for f in self.facets:
            if f.name == name:
                return {b.key: b.count for b in f.buckets}
        raise KeyError(name)


@dataclass(frozen=True)
class Health:
    """Whether the backend can serve, and what it says about itself."""

    ok: bool
    backend: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class SearchBackend(Protocol):
    """What the archive needs from a search engine."""

    def index(self, documents: Iterable[Mapping[str, Any]]) -> int:
        """Add or replace documents (by id); return how many were indexed."""
        ...

    def delete(self, ids: Iterable[str]) -> None:
        """Remove documents by id; unknown ids are ignored."""
        ...

    def search(self, query: SearchQuery) -> SearchResult:
        """Run a query."""
        ...

    def suggest(self, prefix: str, size: int = 10) -> list[tuple[str, int]]:
        """Title words starting with a prefix, with how many records have them."""
        ...

    def term_counts(self, query: SearchQuery, field: str, keys: Sequence[str] | None = None,
                    size: int = 100) -> dict[str, int]:
        """How many matching records have each value of a keyword field (only `keys` if given)."""
        ...

    def year_counts(self, query: SearchQuery, interval: int = 1) -> dict[int, int]:
        """How many matching records begin in each span of `interval` years (non-empty only)."""
        ...

    def count(self, query: SearchQuery | None = None) -> int:
        """How many documents match (all of them without a query)."""
        ...

    def reset(self) -> None:
        """Drop every document and start from an empty index."""
        ...

    def refresh(self) -> None:
        """Make everything indexed so far visible to searches."""
        ...

    def health(self) -> Health:
        """Report whether the backend can serve."""
        ...

    def close(self) -> None:
        """Release files, threads and connections."""
        ...


_CLAUSE = re.compile(r'"([^"]*)"|(\S+)')


def query_clauses(text: str) -> list[str]:
    """Split user text into clauses: quoted phrases and words, all of which must match."""
    clauses = []
    for phrase, word in _CLAUSE.findall(text[:1000]):
        clause = (phrase or word).strip()
        if clause:
            clauses.append(clause)
    return clauses[:32]


# Keyword fields term_counts may count (the browse pages' trees, places and collections).
COUNTABLE_FIELDS = frozenset({"ancestors", "parent_id", "collection", "place", "geo_cell",
                              "level", "type"})


def check_countable(field: str, size: int) -> None:
    """Refuse a field term_counts does not count, or an unreasonable number of buckets."""
    if field not in COUNTABLE_FIELDS:
        raise ValueError(f"cannot count values of {field!r}")
    if not 1 <= size <= MAX_RESULT_WINDOW:
        raise ValueError(f"size must be between 1 and {MAX_RESULT_WINDOW}")


_HAN_ONLY = re.compile(r"(?:[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]"
                       r"|[^\w])+")


def han_only(clause: str) -> bool:
    """Whether a clause's words are all Han characters.

    Both stemming analyzers leave Han characters (one token each) untouched, so such a clause
    matches the English and the Spanish copy of the text alike: one copy need be searched."""
    return bool(_HAN_ONLY.fullmatch(clause))


def year_histogram_key(value: float) -> str:
    """The bucket key string both backends report for a histogram bucket."""
    return str(int(value))


def selected_keys(query: SearchQuery, name: str) -> set[str]:
    """The values chosen for one facet."""
    return set(query.filters.get(name, ()))


def finish_buckets(facet: FacetDef, counts: Mapping[str, int], chosen: set[str]
                   ) -> list[FacetBucket]:
    """Order buckets the same way in both backends and keep chosen ones visible."""
    if facet.kind == "range":
        order = [r["key"] for r in facet.ranges]
        keys = [k for k in order if counts.get(k, 0) > 0 or k in chosen]
    elif facet.kind == "year_histogram":
        keys = sorted((k for k in counts if counts[k] > 0), key=float)
    else:
        ranked = sorted((k for k in counts if counts[k] > 0), key=lambda k: (-counts[k], k))
        keys = ranked[:facet.size]
    keys += sorted(k for k in chosen if k not in keys)
    return [FacetBucket(k, counts.get(k, 0), k in chosen) for k in keys]
