"""The `memoria` command runs under jemalloc when it is installed (archive/launch.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from archive.launch import (
    MALLOC_ENV,
    PRELOADED_ENV,
    jemalloc_path,
    malloc_in_use,
    preload_environment,
)

LIBRARY = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
# A Python process that goes through the launcher, then says which allocator it runs on.
PROBE = ("import sys; from archive.launch import reexec_with_jemalloc, malloc_in_use; "
         "reexec_with_jemalloc(); print(malloc_in_use(), sys.flags.dont_write_bytecode)")


def _probe(**environ: str) -> str:
    env = {k: v for k, v in os.environ.items()
           if k not in (MALLOC_ENV, PRELOADED_ENV, "LD_PRELOAD")}
    # -B: the interpreter's own options survive the second start too.
    done = subprocess.run([sys.executable, "-B", "-c", PROBE], capture_output=True,
                          text=True, timeout=60, env={**env, **environ}, check=True)
    return done.stdout.strip()


def test_jemalloc_is_installed_for_the_suite() -> None:
    # scripts/setup-test-services.sh installs libjemalloc2; the tests below need it.
    assert jemalloc_path() is not None, "libjemalloc2 is missing: run `make setup-test`"


def test_a_launched_process_runs_on_jemalloc() -> None:
    assert _probe() == "jemalloc 1"


def test_memoria_malloc_system_keeps_the_c_library_malloc() -> None:
    assert _probe(**{MALLOC_ENV: "system"}) == "system 1"


def test_the_memoria_command_goes_through_the_launcher(tmp_path: Path) -> None:
    command = Path(sys.executable).with_name("memoria")
    env = {k: v for k, v in os.environ.items() if k not in (PRELOADED_ENV, "LD_PRELOAD")}
    done = subprocess.run([str(command), "--home", str(tmp_path / "home"), "settings", "--json"],
                          capture_output=True, text=True, timeout=60, env=env, check=True)
    assert json.loads(done.stdout)["home"] == str(tmp_path / "home")


def test_preload_environment_rules() -> None:
    assert preload_environment({}, None) is None  # not installed: run on as is
    assert preload_environment({}, LIBRARY) == {PRELOADED_ENV: "1", "LD_PRELOAD": LIBRARY}
    # Another preload is kept, after jemalloc.
    assert preload_environment({"LD_PRELOAD": "libx.so"}, LIBRARY)["LD_PRELOAD"] == (
        f"{LIBRARY} libx.so")
    # Already there, already re-executed once, or switched off: no second start.
    assert preload_environment({"LD_PRELOAD": LIBRARY}, LIBRARY) is None
    assert preload_environment({PRELOADED_ENV: "1"}, LIBRARY) is None
    assert preload_environment({MALLOC_ENV: "system"}, LIBRARY) is None


def test_this_test_process_reports_its_allocator() -> None:
    expected = "jemalloc" if "jemalloc" in os.environ.get("LD_PRELOAD", "") else "system"
    assert malloc_in_use() == expected
