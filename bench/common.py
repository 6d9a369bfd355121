"""Shared helpers for the benchmarks: timing, percentiles, peak memory and table printing."""

from __future__ import annotations

import os
import platform
import resource
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime


def percentile(samples: Sequence[float], pct: float) -> float:
    """The pct-th percentile of samples (nearest rank)."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(samples: Sequence[float]) -> float:
    """The median of samples."""
    return statistics.median(samples) if samples else float("nan")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    """A one-line description of the machine the figures come from."""
    return f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a Markdown table with a heading that names date and machine."""
    print(f"\n### {title}\n")
    print(f"{datetime.now(UTC):%Y-%m-%d}, {machine()}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(f"{c:,.1f}" if isinstance(c, float) else str(c) for c in row)
              + " |")
