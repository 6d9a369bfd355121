"""Child process for the storage crash and concurrency tests.

    python -m tests.archive.storage_writer loop ROOT WORK ROUND
    python -m tests.archive.storage_writer count ROOT WORK RECORD_ID N TAG
    python -m tests.archive.storage_writer crash ROOT WORK RECORD_ID STEP

`loop` writes kill_state() to KILL_OBJECTS forever (the parent kills it with SIGKILL);
`count` writes N distinct states to one object; `crash` writes one version and dies with
os._exit() just before the STEP-th step of the commit protocol.
"""

import json
import os
import random
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from archive.storage import Storage

KILL_OBJECTS = ("kill/a", "kill b ü", "../kill-c")
BIG_FILE_BYTES = 5 * 1024 * 1024
BIG_VARIANTS = 3


@cache
def big_file(round_no: int, variant: int, record_id: str) -> bytes:
    """A 5 MB file, different for every round, variant and object."""
    return random.Random(f"{round_no}/{variant}/{record_id}").randbytes(BIG_FILE_BYTES)


def kill_state(round_no: int, step: int, record_id: str) -> dict[str, bytes]:
    """The full state the loop writer writes at (round, step); meta.json names both."""
    meta = {"round": round_no, "step": step, "id": record_id}
    files = {
        "meta.json": json.dumps(meta).encode(),
        "master/big.bin": big_file(round_no, step % BIG_VARIANTS, record_id),
        "notes.txt": f"note {step}\n".encode() * (step % 7 + 1),
    }
    if step % 2 == 0:
        files["extra/sometimes.txt"] = b"present on even steps " * step
    return files


def crash_state(version: int) -> dict[str, bytes]:
    """The state the crash writer writes as its version-th version."""
    return {
        "meta.json": f'{{"version": {version}}}'.encode(),
        f"file-{version}.txt": b"x" * version,
    }


def run_loop(storage: Storage, round_no: int) -> None:
    print("ready", flush=True)
    step = 0
    while True:
        for record_id in KILL_OBJECTS:
            storage.write(record_id, kill_state(round_no, step, record_id), message=f"step {step}")
        step += 1


def run_count(storage: Storage, record_id: str, count: int, tag: str) -> None:
    for number in range(count):
        storage.write(record_id, {"writer.txt": f"{tag}-{number}".encode()}, message=tag)


def run_crash(storage: Storage, record_id: str, crash_before_step: int) -> None:
    steps = 0

    def crash_point(original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            nonlocal steps
            steps += 1
            if steps == crash_before_step:
                os._exit(137)
            return original(*args, **kwargs)

        return wrapper

    head = storage.head(record_id)
    next_version = int(head[1:]) + 1 if head else 1
    Storage._record_intent = crash_point(Storage._record_intent)  # type: ignore[method-assign]
    os.rename = crash_point(os.rename)
    os.replace = crash_point(os.replace)
    Path.unlink = crash_point(Path.unlink)  # type: ignore[method-assign]
    storage.write(record_id, crash_state(next_version), message="crash test")
    print(f"finished after {steps} steps", flush=True)


def main(argv: list[str]) -> None:
    mode, root, work = argv[0], Path(argv[1]), Path(argv[2])
    storage = Storage(root, work)
    storage.open()
    if mode == "loop":
        run_loop(storage, int(argv[3]))
    elif mode == "count":
        run_count(storage, argv[3], int(argv[4]), argv[5])
    elif mode == "crash":
        run_crash(storage, argv[3], int(argv[4]))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv[1:])
