"""Group commit (Storage.write_many): one durability point per group, old-or-new after a crash.

The child process mode (`python -m tests.archive.test_batch_storage crash ROOT WORK STEP
[ahead]`) writes one group and dies with os._exit() just before the STEP-th step of the
protocol (recording an intent, a filesystem sync, a rename, a replace, an unlink); with
`ahead`, the group's new objects are staged ahead first (Storage.prestage), as ingest workers do.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from archive.storage import Storage, StorageError, WriteRequest
from tests.archive.test_storage import (
    assert_recovered,
    assert_validator_cli_passes,
    object_dirs,
    run_validator_cli,
)

REPO = Path(__file__).resolve().parents[2]
# id -> versions already stored before the crashing group writes one more.
GROUP = {"new-a": 0, "old-b": 1, "old-c": 2, "new d ü": 0}


def group_state(record_id: str, version: int) -> dict[str, bytes]:
    """The full state of version `version` of an object of the group."""
    return {
        "meta.json": json.dumps({"id": record_id, "version": version}).encode(),
        f"data/file-{version}.txt": f"{record_id} {version}\n".encode() * version,
        "same.txt": b"kept across versions\n",
    }


def setup(root: Path, work: Path) -> Storage:
    storage = Storage(root, work)
    storage.open()
    for record_id, versions in GROUP.items():
        for version in range(1, versions + 1):
            storage.write(record_id, group_state(record_id, version), message="before")
    return storage


def group_requests() -> list[WriteRequest]:
    return [
        WriteRequest(record_id, group_state(record_id, versions + 1), message="group")
        for record_id, versions in GROUP.items()
    ]


def run_crash(root: Path, work: Path, crash_before_step: int, ahead: bool = False) -> None:
    storage = Storage(root, work)
    storage.open()
    steps: list[str] = []
    requests = group_requests()
    area = storage.open_staging_area()
    if ahead:
        name = area.__enter__()
        requests = [replace(r, staged=storage.prestage(r, name)) for r in requests]

    def crash_point(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            steps.append(name)
            if len(steps) == crash_before_step:
                os._exit(137)
            return original(*args, **kwargs)

        return wrapper

    Storage._record_group_intent = crash_point(  # type: ignore[method-assign]
        "intent", Storage._record_group_intent)
    Storage._sync_filesystem = crash_point(  # type: ignore[method-assign]
        "sync", Storage._sync_filesystem)
    os.rename = crash_point("rename", os.rename)
    os.replace = crash_point("replace", os.replace)
    Path.unlink = crash_point("unlink", Path.unlink)  # type: ignore[method-assign]
    storage.write_many(requests)
    if ahead:
        area.__exit__(None, None, None)
    staged = sum(r.staged is not None for r in requests)
    print(f"staged {staged}, finished after {len(steps)} steps: {' '.join(steps)}", flush=True)


def run_loop(root: Path, work: Path, round_no: int) -> None:
    storage = Storage(root, work)
    storage.open()
    print("ready", flush=True)
    step = 0
    while True:
        storage.write_many([
            WriteRequest(f"loop-{n}", loop_state(round_no, step, n), message=f"step {step}")
            for n in range(20)
        ])
        step += 1


def loop_state(round_no: int, step: int, number: int) -> dict[str, bytes]:
    meta = {"round": round_no, "step": step, "n": number}
    files = {"meta.json": json.dumps(meta).encode(), "body.txt": b"%d " % step * 500}
    if step % 2:
        files["odd.txt"] = b"odd step"
    return files


def run_child(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.archive.test_batch_storage", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )


def digests(state: dict[str, bytes]) -> dict[str, str]:
    return {path: hashlib.sha512(data).hexdigest() for path, data in state.items()}


# ------------------------------------------------------------------------------ tests


def test_write_many_writes_each_object_like_write(tmp_path: Path) -> None:
    storage = setup(tmp_path / "root", tmp_path / "work")
    results = storage.write_many(group_requests())
    assert [(r.record_id, r.version, r.changed) for r in results] == [
        (record_id, f"v{versions + 1}", True) for record_id, versions in GROUP.items()
    ]
    for record_id, versions in GROUP.items():
        assert storage.state(record_id) == digests(group_state(record_id, versions + 1))
    # The same states again: nothing is written, every result says unchanged.
    again = storage.write_many(group_requests())
    assert [r.changed for r in again] == [False] * len(GROUP)
    assert_recovered(tmp_path / "root", tmp_path / "work")
    assert_validator_cli_passes(tmp_path / "root")


def test_objects_staged_ahead_are_published_as_write_many_would_write_them(
    tmp_path: Path,
) -> None:
    plain = setup(tmp_path / "plain" / "root", tmp_path / "plain" / "work")
    storage = setup(tmp_path / "root", tmp_path / "work")
    with storage.open_staging_area() as area:
        requests = [replace(r, staged=storage.prestage(r, area)) for r in group_requests()]
        # Only new objects are staged ahead; an existing one is planned as usual.
        assert [r.record_id for r in requests if r.staged] == ["new-a", "new d ü"]
        # A writer that is not the group's (open() recovers) leaves a live area alone.
        Storage(tmp_path / "root", tmp_path / "work").open()
        assert (tmp_path / "work" / "staging" / area).is_dir()
        results = storage.write_many(requests)
        # Every staged object was published; what is left is the area's one namaste file.
        [left] = (tmp_path / "work" / "staging" / area).iterdir()
        assert left.name.startswith("namaste-")
    assert not (tmp_path / "work" / "staging" / area).exists()
    # The new objects' namaste files are one inode (hard links), with the namaste's bytes.
    namastes = [storage._object_dir(rid) / "0=ocfl_object_1.1" for rid in ("new-a", "new d ü")]
    assert [p.read_bytes() for p in namastes] == [b"ocfl_object_1.1\n"] * 2
    assert namastes[0].stat().st_ino == namastes[1].stat().st_ino
    assert namastes[0].stat().st_nlink == 2  # the area's own link went with the area
    assert [(r.record_id, r.version, r.changed) for r in results] == [
        (r.record_id, r.version, r.changed) for r in plain.write_many(group_requests())]
    for record_id in GROUP:
        assert storage.state(record_id) == plain.state(record_id)
        assert [(v.version, v.message, v.user_name) for v in storage.versions(record_id)] == [
            (v.version, v.message, v.user_name) for v in plain.versions(record_id)]
    assert_recovered(tmp_path / "root", tmp_path / "work")
    assert_validator_cli_passes(tmp_path / "root")


def test_an_object_made_meanwhile_is_updated_not_replaced_by_its_staged_copy(
    tmp_path: Path,
) -> None:
    storage = Storage(tmp_path / "root", tmp_path / "work", fsync=False)
    storage.open()
    request = WriteRequest("late", {"a.txt": b"staged"}, message="group")
    with storage.open_staging_area() as area:
        request = replace(request, staged=storage.prestage(request, area))
        assert request.staged is not None
        storage.write("late", {"a.txt": b"first"}, message="another writer")
        [result] = storage.write_many([request])
    assert (result.version, result.changed) == ("v2", True)
    assert storage.read("late", "a.txt", "v1") == b"first"
    assert storage.read("late", "a.txt") == b"staged"
    assert list((tmp_path / "work" / "staging").iterdir()) == []


def test_open_removes_a_staging_area_whose_owner_is_gone(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "root", tmp_path / "work", fsync=False)
    storage.open()
    # What a dead owner leaves: an area with a staged object, its lock file unlocked.
    area = tmp_path / "work" / "staging" / "0123abcd.pre"
    area.mkdir()
    assert storage.prestage(WriteRequest("x", {"a": b"1"}, message="m"), area.name) is not None
    lock_file = tmp_path / "work" / "locks" / "area-0123abcd.lock"
    lock_file.touch()
    # And one whose owner removed its lock file already (it was removing the area).
    (tmp_path / "work" / "staging" / "4567.pre" / "x").mkdir(parents=True)
    assert_recovered(tmp_path / "root", tmp_path / "work")
    assert not lock_file.exists()
    assert not storage.exists("x")


def test_a_tuple_directory_gone_since_it_was_seen_is_made_again(tmp_path: Path) -> None:
    # write_many remembers the tuple directories it made or saw; a recovery may prune one
    # that is empty meanwhile: the rename into place then fails, and the directory is made.
    storage = Storage(tmp_path / "root", tmp_path / "work", fsync=False)
    storage.open()
    parents = [storage._object_dir(rid).parent for rid in ("seen-1", "seen-2")]
    storage._parents.update(str(p.relative_to(tmp_path / "root")) for p in parents)
    assert not any(p.exists() for p in parents)
    with storage.open_staging_area() as area:
        ahead = WriteRequest("seen-1", {"a.txt": b"ahead"}, message="m")
        ahead = replace(ahead, staged=storage.prestage(ahead, area))
        results = storage.write_many([ahead, WriteRequest("seen-2", {"a.txt": b"plain"},
                                                          message="m")])
    assert [(r.version, r.changed) for r in results] == [("v1", True), ("v1", True)]
    assert storage.read("seen-1", "a.txt") == b"ahead"
    assert storage.read("seen-2", "a.txt") == b"plain"
    assert_validator_cli_passes(tmp_path / "root")


def test_write_many_refuses_an_id_twice_and_writes_nothing(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "root", tmp_path / "work", fsync=False)
    storage.open()
    with pytest.raises(StorageError, match="twice"):
        storage.write_many([WriteRequest("x", {"a": b"1"}, message="m"),
                            WriteRequest("x", {"a": b"2"}, message="m")])
    assert object_dirs(tmp_path / "root") == []
    assert list((tmp_path / "work" / "staging").iterdir()) == []


def test_a_bad_file_in_the_group_writes_nothing(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "root", tmp_path / "work", fsync=False)
    storage.open()
    with pytest.raises(StorageError):
        storage.write_many([WriteRequest("ok", {"a": b"1"}, message="m"),
                            WriteRequest("bad", {"a": tmp_path / "missing"}, message="m")])
    assert object_dirs(tmp_path / "root") == []
    assert list((tmp_path / "work" / "journal").iterdir()) == []


@pytest.mark.parametrize("ahead", [False, True])
def test_crash_at_every_step_of_a_group_leaves_each_object_old_or_new(
    tmp_path: Path, ahead: bool
) -> None:
    mode = ["ahead"] if ahead else []
    dry = tmp_path / "dry"
    setup(dry / "root", dry / "work")
    finished = run_child("crash", str(dry / "root"), str(dry / "work"), "100000", *mode)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    # The group's two new objects were staged ahead (and published from there).
    assert finished.stdout.startswith(f"staged {2 if ahead else 0},"), finished.stdout
    names = finished.stdout.split(":", 1)[1].split()
    steps = len(names)
    # One intent for the group, two syncs, and a rename (and for an old object a replace of
    # each root inventory file) per object.
    assert names.count("intent") == 1 and names.count("sync") == 2
    assert names.count("rename") == len(GROUP)
    first_sync = names.index("sync") + 1
    last_publication = max(n for n, name in enumerate(names, 1) if name in ("rename", "replace"))
    for crash_before_step in range(1, steps + 1):
        here = tmp_path / f"s{crash_before_step}"
        root, work = here / "root", here / "work"
        setup(root, work)
        result = run_child("crash", str(root), str(work), str(crash_before_step), *mode)
        assert result.returncode == 137, result.stdout + result.stderr
        recovered = assert_recovered(root, work)
        published_all = crash_before_step > last_publication  # only the intent's unlink remains
        for record_id, versions in GROUP.items():
            head = recovered.head(record_id)
            assert head in ({f"v{versions}", f"v{versions + 1}"} if versions else
                            {None, "v1"}), (crash_before_step, record_id, head)
            if published_all:
                assert head == f"v{versions + 1}"
            if head is None:
                continue
            number = int(head[1:])
            expected = group_state(record_id, number)
            assert recovered.state(record_id) == digests(expected)
            assert all(recovered.read(record_id, p) == d for p, d in expected.items())
            assert [int(v.version[1:]) for v in recovered.versions(record_id)] == list(
                range(1, number + 1))
        if crash_before_step <= first_sync:
            # Before the first sync completes nothing is published.
            assert all(recovered.head(r) == (f"v{v}" if v else None) for r, v in GROUP.items())
        assert "[E" not in run_validator_cli(root).stdout


@pytest.mark.slow
def test_kill_9_during_group_writes_never_leaves_a_mix(tmp_path: Path) -> None:
    root, work = tmp_path / "root", tmp_path / "work"
    Storage(root, work).open()
    rng = random.Random(20261121)
    for round_no in range(4):
        writer = subprocess.Popen(
            [sys.executable, "-m", "tests.archive.test_batch_storage", "loop", str(root),
             str(work), str(round_no)],
            cwd=REPO, stdout=subprocess.PIPE, text=True,
        )
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.8))
        writer.send_signal(signal.SIGKILL)
        assert writer.wait(timeout=10) == -signal.SIGKILL
        writer.stdout.close()
        storage = assert_recovered(root, work)
        for number in range(20):
            record_id = f"loop-{number}"
            if not storage.exists(record_id):
                continue
            meta = json.loads(storage.read(record_id, "meta.json"))
            expected = loop_state(meta["round"], meta["step"], number)
            assert storage.state(record_id) == digests(expected)
    assert_validator_cli_passes(root)


if __name__ == "__main__":
    mode, child_root, child_work = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    if mode == "crash":
        run_crash(child_root, child_work, int(sys.argv[4]), sys.argv[5:] == ["ahead"])
    elif mode == "loop":
        run_loop(child_root, child_work, int(sys.argv[4]))
