"""The `memoria` command's entry point: re-executes itself once with jemalloc preloaded.

The allocator cannot be chosen from inside a running process: the Rust libraries under
Memoria (Oxigraph's bulk loader, Tantivy) call malloc directly, and they spend much of it
there (an ingest's RDF store loads allocate and free millions of small sort keys). jemalloc
takes ~5 % off an ingest's CPU and a quarter off its peak memory (docs/benchmarks.md,
session 11), so the command starts Python again with it in LD_PRELOAD, the usual way to put
it under a program, when the library is installed (Debian: libjemalloc2).
MEMORIA_MALLOC=system keeps the C library's malloc. This module imports nothing heavy, so the
first start costs only an interpreter's start-up.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

MALLOC_ENV = "MEMORIA_MALLOC"  # "jemalloc" (the default) or "system"
# Set in the re-executed process, so it never re-executes again (even if jemalloc failed to
# load there: the dynamic loader only warns about a preload it cannot open).
PRELOADED_ENV = "MEMORIA_MALLOC_PRELOADED"
JEMALLOC_SONAME = "libjemalloc.so.2"
# Where Debian, Fedora and a source build put it; ctypes.util.find_library would run
# ldconfig (a process) on every command instead.
LIBRARY_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64",
                "/usr/lib", "/usr/local/lib")


def jemalloc_path(dirs: Sequence[str] = LIBRARY_DIRS) -> str | None:
    """The installed jemalloc shared library, or None."""
    for folder in dirs:
        path = os.path.join(folder, JEMALLOC_SONAME)
        if os.path.isfile(path):
            return path
    return None


def preload_environment(environ: Mapping[str, str], library: str | None) -> dict[str, str] | None:
    """The environment to re-execute with, or None to run on as this process is."""
    if environ.get(MALLOC_ENV, "jemalloc") != "jemalloc" or environ.get(PRELOADED_ENV):
        return None
    preload = environ.get("LD_PRELOAD", "")
    if library is None or "jemalloc" in preload:
        return None
    return {**environ, PRELOADED_ENV: "1",
            "LD_PRELOAD": f"{library} {preload}".strip()}


def malloc_in_use() -> str:
    """Which allocator this process runs on: "jemalloc" or "system"."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            return "jemalloc" if "libjemalloc" in maps.read() else "system"
    except OSError:
        return "system"


def reexec_with_jemalloc() -> None:
    """Replace this process by the same command under jemalloc, when that applies.

    The command is the interpreter's own command line (sys.orig_argv: its options, `-m` or
    `-c` and the script's arguments as given). Returns only when nothing needs to change.
    """
    environment = preload_environment(os.environ, jemalloc_path())
    if environment is None:
        return
    arguments = sys.orig_argv[1:]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *arguments], environment)  # noqa: S606 (this same program)


def run() -> None:
    """The `memoria` console script: jemalloc first, then the command line interface."""
    reexec_with_jemalloc()
    from archive.cli import main

    main()
