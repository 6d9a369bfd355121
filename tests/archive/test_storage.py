"""Tests for archive.storage: an OCFL 1.1 storage root, checked with ocfl-py's validator."""

import fcntl
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from ocfl import StorageRoot
from ocfl.layout_0003_hash_and_id_n_tuple import Layout_0003_Hash_And_Id_N_Tuple
from ocfl.validator import Validator

from archive.storage import Storage, StorageError, VersionInfo, WriteResult
from tests.archive.storage_writer import KILL_OBJECTS, crash_state, kill_state

REPO = Path(__file__).resolve().parents[2]
VALIDATE_CLI = Path(sys.executable).parent / "ocfl-validate.py"
HOSTILE_IDS = [
    "../../etc/passwd",
    "/absolute/id",
    "ark:/12345/x y?z#frag",
    "ümlaut and 漢字",
    "a" * 300,
    "%2e%2e",
    "line\nbreak\x00nul",
    "C:\\windows\\path",
    ".",
]


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    store = Storage(tmp_path / "root", tmp_path / "work", fsync=False)
    store.open()
    return store


def object_dirs(root: Path) -> list[Path]:
    return sorted(path.parent for path in root.rglob("0=ocfl_object_1.1"))


def run_validator_cli(root: Path) -> subprocess.CompletedProcess[str]:
    # ocfl-py 2.1's root mode exits 0 even when objects inside are invalid (it only counts
    # traversal errors), so every object directory is passed as well.
    paths = [str(root), *(str(path) for path in object_dirs(root))]
    return subprocess.run(
        [sys.executable, str(VALIDATE_CLI), "-q", *paths],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_validator_cli_passes(root: Path) -> None:
    """The official OCFL validator's command line finds no error in the root or its objects."""
    result = run_validator_cli(root)
    assert result.returncode == 0 and "[E" not in result.stdout, result.stdout + result.stderr


def assert_valid_root(root: Path) -> None:
    store = StorageRoot(root=str(root))
    assert store.validate(log_warnings=False), store.log
    assert store.errors == []
    assert store.good_objects == store.num_objects


def count_files_with_content(root: Path, data: bytes) -> int:
    return sum(1 for path in root.rglob("*") if path.is_file() and path.read_bytes() == data)


def run_writer(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.archive.storage_writer", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# ---------------------------------------------------------------------------- opening


def test_constructor_touches_nothing_and_open_creates_root(tmp_path: Path) -> None:
    store = Storage(tmp_path / "root", tmp_path / "work")
    assert not (tmp_path / "root").exists()
    assert not (tmp_path / "work").exists()
    store.open()
    root = tmp_path / "root"
    assert (root / "0=ocfl_1.1").read_text() == "ocfl_1.1\n"
    layout = json.loads((root / "ocfl_layout.json").read_text())
    assert layout["extension"] == "0003-hash-and-id-n-tuple-storage-layout"
    config_file = root / "extensions/0003-hash-and-id-n-tuple-storage-layout/config.json"
    config = json.loads(config_file.read_text())
    assert config == {
        "extensionName": "0003-hash-and-id-n-tuple-storage-layout",
        "digestAlgorithm": "sha256",
        "tupleSize": 3,
        "numberOfTuples": 1,
    }
    assert (tmp_path / "work").is_dir()
    store.open()  # idempotent on an existing root
    assert_valid_root(root)


def test_use_before_open_raises(tmp_path: Path) -> None:
    store = Storage(tmp_path / "root", tmp_path / "work")
    with pytest.raises(StorageError, match="open"):
        store.head("x")


def test_open_rejects_work_dir_inside_root(tmp_path: Path) -> None:
    store = Storage(tmp_path / "root", tmp_path / "root" / "work")
    with pytest.raises(StorageError, match="inside the storage root"):
        store.open()


def test_open_rejects_non_ocfl_directory(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "someone-elses-file.txt").write_text("hi")
    with pytest.raises(StorageError, match="not an OCFL storage root"):
        Storage(tmp_path / "root", tmp_path / "work").open()


def test_unknown_digest_rejected(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="digest"):
        Storage(tmp_path / "root", tmp_path / "work", digest="md5")


# ----------------------------------------------------------------------- write / read


def test_write_read_state_versions_head(storage: Storage) -> None:
    created = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert storage.head("rec-1") is None
    assert not storage.exists("rec-1")
    first = storage.write(
        "rec-1",
        {"source.xml": b"<a/>", "meta/record.ttl": b"<x> <y> <z> ."},
        message="ingest",
        user_name="Ada",
        user_address="mailto:ada@example.org",
        created=created,
    )
    assert first == WriteResult("rec-1", "v1", True)
    second = storage.write("rec-1", {"source.xml": b"<b/>"}, message="edit")
    assert second == WriteResult("rec-1", "v2", True)
    assert storage.head("rec-1") == "v2"
    assert storage.exists("rec-1")
    assert storage.read("rec-1", "source.xml") == b"<b/>"
    assert storage.read("rec-1", "source.xml", "v1") == b"<a/>"
    assert storage.state("rec-1", "v1") == {
        "source.xml": hashlib.sha512(b"<a/>").hexdigest(),
        "meta/record.ttl": hashlib.sha512(b"<x> <y> <z> .").hexdigest(),
    }
    assert storage.state("rec-1") == {"source.xml": hashlib.sha512(b"<b/>").hexdigest()}
    versions = storage.versions("rec-1")
    assert versions[0] == VersionInfo("v1", created, "ingest", "Ada", "mailto:ada@example.org")
    assert [v.version for v in versions] == ["v1", "v2"]
    assert versions[1].message == "edit"
    assert versions[1].user_name == "memoria"
    assert versions[1].created.tzinfo is not None
    assert storage.content_path("rec-1", "source.xml").read_bytes() == b"<b/>"
    assert list(storage.ids()) == ["rec-1"]


def test_inventory_is_ocfl_1_1(storage: Storage) -> None:
    storage.write("rec", {"a.txt": b"a"}, message="m", user_address="mailto:x@example.org")
    [object_dir] = object_dirs(storage.root)
    inventory = json.loads((object_dir / "inventory.json").read_bytes())
    assert inventory["type"] == "https://ocfl.io/1.1/spec/#inventory"
    assert inventory["digestAlgorithm"] == "sha512"
    assert inventory["manifest"] == {hashlib.sha512(b"a").hexdigest(): ["v1/content/a.txt"]}
    assert inventory["versions"]["v1"]["user"] == {
        "name": "memoria",
        "address": "mailto:x@example.org",
    }
    assert inventory["versions"]["v1"]["created"].endswith("Z")
    sidecar = (object_dir / "inventory.json.sha512").read_text().split()
    assert sidecar == [
        hashlib.sha512((object_dir / "inventory.json").read_bytes()).hexdigest(),
        "inventory.json",
    ]
    assert (object_dir / "v1" / "inventory.json").read_bytes() == (
        object_dir / "inventory.json"
    ).read_bytes()


def test_sha256_digest_option(tmp_path: Path) -> None:
    store = Storage(tmp_path / "root", tmp_path / "work", digest="sha256", fsync=True)
    store.open()
    store.write("rec", {"a.txt": b"a"}, message="m")
    assert store.state("rec") == {"a.txt": hashlib.sha256(b"a").hexdigest()}
    [object_dir] = object_dirs(store.root)
    assert (object_dir / "inventory.json.sha256").is_file()
    assert run_validator_cli(store.root).returncode == 0


def test_unchanged_state_writes_nothing(storage: Storage) -> None:
    files = {"a.txt": b"same", "b/c.json": b"{}"}
    storage.write("rec", files, message="first")
    [object_dir] = object_dirs(storage.root)
    before = sorted(str(p) for p in object_dir.rglob("*"))
    result = storage.write("rec", dict(files), message="again")
    assert result == WriteResult("rec", "v1", False)
    assert sorted(str(p) for p in object_dir.rglob("*")) == before
    assert not (object_dir / "v2").exists()
    assert len(storage.versions("rec")) == 1


def test_same_bytes_under_a_new_name_is_a_change(storage: Storage) -> None:
    storage.write("rec", {"a.txt": b"same"}, message="first")
    result = storage.write("rec", {"renamed.txt": b"same"}, message="rename")
    assert result.changed and result.version == "v2"
    assert storage.content_path("rec", "renamed.txt") == storage.content_path("rec", "a.txt", "v1")


def test_big_file_is_stored_once_across_versions(storage: Storage, tmp_path: Path) -> None:
    big = random.Random(1).randbytes(2 * 1024 * 1024)
    master = tmp_path / "master.tif"
    master.write_bytes(big)
    storage.write("rec", {"master.tif": master, "meta.ttl": b"v1"}, message="ingest")
    storage.write("rec", {"master.tif": master, "meta.ttl": b"v2"}, message="metadata edit")
    # Passing the stored file itself back in is the cheap way to keep a master.
    kept = storage.content_path("rec", "master.tif")
    storage.write("rec", {"master.tif": kept, "meta.ttl": b"v3"}, message="metadata edit")
    assert storage.head("rec") == "v3"
    assert count_files_with_content(storage.root, big) == 1
    assert storage.content_path("rec", "master.tif", "v3").relative_to(
        object_dirs(storage.root)[0]
    ) == Path("v1/content/master.tif")
    assert storage.read("rec", "master.tif", "v3") == big


def test_duplicate_content_within_a_version_is_stored_once(storage: Storage) -> None:
    storage.write("rec", {"a.bin": b"dup" * 1000, "b.bin": b"dup" * 1000}, message="m")
    assert count_files_with_content(storage.root, b"dup" * 1000) == 1
    assert storage.read("rec", "b.bin") == b"dup" * 1000


def test_removed_file_stays_readable_in_old_version(storage: Storage) -> None:
    storage.write("rec", {"keep.txt": b"k", "drop.txt": b"gone later"}, message="v1")
    storage.write("rec", {"keep.txt": b"k"}, message="v2")
    assert "drop.txt" not in storage.state("rec")
    assert storage.read("rec", "drop.txt", "v1") == b"gone later"
    with pytest.raises(StorageError, match=r"drop\.txt"):
        storage.read("rec", "drop.txt")


def test_empty_state_is_a_valid_version(storage: Storage) -> None:
    storage.write("rec", {"a.txt": b"a"}, message="v1")
    assert storage.write("rec", {}, message="withdrawn").version == "v2"
    assert storage.state("rec") == {}
    assert run_validator_cli(storage.root).returncode == 0


def test_reading_what_does_not_exist_raises(storage: Storage) -> None:
    with pytest.raises(StorageError, match="no object"):
        storage.read("nope", "a.txt")
    storage.write("rec", {"a.txt": b"a"}, message="m")
    with pytest.raises(StorageError, match="no version"):
        storage.state("rec", "v9")


def test_naive_created_is_rejected(storage: Storage) -> None:
    with pytest.raises(StorageError, match="timezone"):
        storage.write("rec", {"a": b"a"}, message="m", created=datetime(2024, 1, 1))
    assert not storage.exists("rec")


def test_created_keeps_its_offset(storage: Storage) -> None:
    created = datetime(2024, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=2)))
    storage.write("rec", {"a": b"a"}, message="m", created=created)
    assert storage.versions("rec")[0].created == created
    assert run_validator_cli(storage.root).returncode == 0


def test_non_bytes_content_is_rejected(storage: Storage) -> None:
    with pytest.raises(StorageError, match="bytes or a Path"):
        storage.write("rec", {"a.txt": "text"}, message="m")  # type: ignore[dict-item]


# ------------------------------------------------------------------- validator, layout


def test_official_validator_passes_after_many_writes(tmp_path: Path) -> None:
    store = Storage(tmp_path / "root", tmp_path / "work")
    store.open()
    rng = random.Random(7)
    ids = [f"memoria:record/{n}" for n in range(40)] + HOSTILE_IDS
    for round_no in range(4):
        for record_id in ids:
            files = {"source.xml": f"<r n='{rng.randrange(3)}'/>".encode(), "rdf/r.ttl": b"x"}
            if round_no % 2:
                files[f"extra/{round_no}.json"] = b"{}"
            store.write(record_id, files, message=f"round {round_no}")
    result = run_validator_cli(store.root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[E" not in result.stdout
    assert result.stdout.count(" is VALID") == len(ids)
    assert sorted(store.ids()) == sorted(ids)
    assert_valid_root(store.root)


def test_layout_paths_match_ocfl_py(storage: Storage) -> None:
    reference = Layout_0003_Hash_And_Id_N_Tuple()
    config_file = storage.root / "extensions/0003-hash-and-id-n-tuple-storage-layout/config.json"
    config = json.loads(config_file.read_text())
    reference.check_tuple_size(config["tupleSize"])
    reference.check_number_of_tuples(config["numberOfTuples"])
    for record_id in HOSTILE_IDS:
        storage.write(record_id, {"a.txt": record_id.encode("utf-8")}, message="m")
        expected = storage.root / reference.identifier_to_path(record_id)
        assert (expected / "inventory.json").is_file(), record_id
        assert storage.content_path(record_id, "a.txt").is_relative_to(storage.root.resolve())
    assert len(object_dirs(storage.root)) == len(HOSTILE_IDS)
    assert sorted(storage.ids()) == sorted(HOSTILE_IDS)


def test_root_made_with_three_tuples_keeps_them(tmp_path: Path) -> None:
    """A root whose layout config names three tuple levels (the old default) keeps them."""
    store = Storage(tmp_path / "root", tmp_path / "work", fsync=False)
    store.open()
    config_file = store.root / "extensions/0003-hash-and-id-n-tuple-storage-layout/config.json"
    config = {**json.loads(config_file.read_text()), "numberOfTuples": 3}
    config_file.write_text(json.dumps(config))
    store = Storage(tmp_path / "root", tmp_path / "work", fsync=False)
    store.open()
    store.write("deep", {"a.txt": b"a"}, message="m")
    reference = Layout_0003_Hash_And_Id_N_Tuple()
    assert (store.root / reference.identifier_to_path("deep") / "inventory.json").is_file()
    assert len(reference.identifier_to_path("deep").split("/")) == 4
    assert_valid_root(store.root)


def test_content_files_by_name_unless_names_collide(storage: Storage) -> None:
    """Content files sit directly in content/ by file name; colliding names mirror paths."""
    storage.write("flat", {"metadata/record.ttl": b"r", "source/record.csv": b"s"}, message="m")
    storage.write("deep", {"a/x.txt": b"1", "b/x.txt": b"2"}, message="m")
    storage.write("flat", {"metadata/record.ttl": b"r2", "source/record.csv": b"s"},
                  message="m")
    object_dir = storage.content_path("flat", "source/record.csv").parents[2]
    assert storage.content_path("flat", "source/record.csv") == object_dir / "v1/content/record.csv"
    assert storage.content_path("flat", "metadata/record.ttl") == object_dir / "v2/content/record.ttl"
    assert storage.read("flat", "metadata/record.ttl", "v1") == b"r"
    assert storage.content_path("deep", "a/x.txt").as_posix().endswith("v1/content/a/x.txt")
    assert storage.read("deep", "b/x.txt") == b"2"
    assert storage.fixity().ok()
    assert_validator_cli_passes(storage.root)


def test_readable_id_in_directory_name(storage: Storage) -> None:
    storage.write("photo-1923_001", {"a.txt": b"a"}, message="m")
    [object_dir] = object_dirs(storage.root)
    assert object_dir.name == "photo-1923_001"


@pytest.mark.parametrize("record_id", ["", 42, "bad\ud800surrogate"])
def test_unusable_record_ids_raise(storage: Storage, record_id: object) -> None:
    with pytest.raises(StorageError, match="record id"):
        storage.write(record_id, {"a": b"a"}, message="m")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "logical_path",
    [
        "/etc/passwd",
        "../escape.txt",
        "a/../../escape.txt",
        "./a.txt",
        "a/./b.txt",
        "a//b.txt",
        "a/",
        "",
        "a\\b.txt",
        "..\\..\\win.txt",
        "nul\x00byte",
        "tab\there",
        "new\nline",
        "del\x7fchar",
        "c1\x85control",
        "line\u2028separator",
        "x" * 1025,
        ("d/" * 600) + "f",
        "y" * 256,
        "bad\ud800surrogate",
        "..",
        ".",
    ],
)
def test_hostile_logical_paths_raise(storage: Storage, logical_path: str) -> None:
    with pytest.raises(StorageError):
        storage.write("rec", {logical_path: b"evil"}, message="m")
    assert not storage.exists("rec")
    assert list((storage.work_dir / "staging").iterdir()) == []


def test_conflicting_logical_paths_raise(storage: Storage) -> None:
    with pytest.raises(StorageError, match="conflicts"):
        storage.write("rec", {"a": b"file", "a/b": b"file under a"}, message="m")


def test_unusual_but_legal_logical_paths_work(storage: Storage) -> None:
    files = {
        "with space/ü漢字.txt": b"1",
        ".hidden": b"2",
        "...three-dots": b"3",
        "a" * 255: b"4",
        "%2e%2e/x": b"5",
    }
    storage.write("rec", files, message="m")
    for path, data in files.items():
        assert storage.read("rec", path) == data
    assert run_validator_cli(storage.root).returncode == 0


# ---------------------------------------------------------------------------- fixity


def test_fixity_clean_root_is_ok(storage: Storage) -> None:
    storage.write("a", {"x.txt": b"x", "y.txt": b"y"}, message="m")
    storage.write("a", {"x.txt": b"x2"}, message="m")
    storage.write("b", {"z.txt": b"z"}, message="m")
    report = storage.fixity()
    assert report.ok()
    assert report.checked >= 4
    assert storage.fixity(["b"]).ok()


def test_fixity_finds_changed_missing_and_untracked(storage: Storage) -> None:
    storage.write("a", {"x.txt": b"x", "y.txt": b"y"}, message="m")
    storage.write("b", {"z.txt": b"z"}, message="m")
    storage.content_path("a", "x.txt").write_bytes(b"bit rot")
    storage.content_path("a", "y.txt").unlink()
    stray = storage.content_path("b", "z.txt").parent / "stray.bin"
    stray.write_bytes(b"who put this here")
    report = storage.fixity()
    assert not report.ok()
    [changed] = report.changed
    assert (changed.record_id, changed.path) == ("a", "v1/content/x.txt")
    assert changed.expected == hashlib.sha512(b"x").hexdigest()
    assert changed.actual == hashlib.sha512(b"bit rot").hexdigest()
    [missing] = report.missing
    assert (missing.record_id, missing.path) == ("a", "v1/content/y.txt")
    assert missing.expected == hashlib.sha512(b"y").hexdigest()
    assert missing.actual is None
    [untracked] = report.untracked
    assert (untracked.record_id, untracked.path) == ("b", "v1/content/stray.bin")
    only_b = storage.fixity(["b"])
    assert only_b.changed == [] and only_b.missing == [] and len(only_b.untracked) == 1


def test_fixity_detects_tampered_inventory(storage: Storage) -> None:
    storage.write("a", {"x.txt": b"x"}, message="m")
    [object_dir] = object_dirs(storage.root)
    inventory = object_dir / "inventory.json"
    inventory.write_bytes(inventory.read_bytes().replace(b'"m"', b'"forged"'))
    report = storage.fixity()
    assert [problem.path for problem in report.changed] == ["inventory.json"]


# ------------------------------------------------------------------------ concurrency


def test_two_processes_writing_one_object_make_a_linear_history(tmp_path: Path) -> None:
    root, work = tmp_path / "root", tmp_path / "work"
    Storage(root, work).open()
    count = 25
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.archive.storage_writer",
                "count",
                str(root),
                str(work),
                "shared",
                str(count),
                tag,
            ],
            cwd=REPO,
        )
        for tag in ("left", "right")
    ]
    assert [writer.wait(timeout=60) for writer in writers] == [0, 0]
    storage = Storage(root, work)
    storage.open()
    versions = storage.versions("shared")
    assert [v.version for v in versions] == [f"v{n}" for n in range(1, 2 * count + 1)]
    history = [storage.read("shared", "writer.txt", v.version).decode() for v in versions]
    for tag in ("left", "right"):
        assert [h for h in history if h.startswith(tag)] == [f"{tag}-{n}" for n in range(count)]
    assert_valid_root(root)


def test_lock_is_per_object(storage: Storage) -> None:
    storage.write("a", {"x": b"0"}, message="m")
    [lock_file] = [p for p in (storage.work_dir / "locks").rglob("*.lock") if p.stem != "root"]
    done: dict[str, bool] = {}

    def write(record_id: str) -> None:
        storage.write(record_id, {"x": b"1"}, message="m")
        done[record_id] = True

    holder = os.open(lock_file, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        blocked = threading.Thread(target=write, args=("a",))
        free = threading.Thread(target=write, args=("b",))
        blocked.start()
        free.start()
        free.join(timeout=5)
        time.sleep(0.2)
        assert done == {"b": True}
        assert storage.head("a") == "v1"
    finally:
        os.close(holder)
    blocked.join(timeout=5)
    assert done == {"a": True, "b": True}
    assert storage.head("a") == "v2"


# ---------------------------------------------------------------------- crash safety


def assert_recovered(root: Path, work: Path) -> Storage:
    storage = Storage(root, work)
    storage.open()
    assert list((work / "journal").iterdir()) == []
    assert list((work / "staging").iterdir()) == []
    assert_valid_root(root)
    return storage


@pytest.mark.parametrize("existing_versions", [0, 2])
@pytest.mark.parametrize("crash_before_step", [1, 2, 3, 4, 5])
def test_crash_at_every_commit_step_leaves_old_or_new(
    tmp_path: Path, existing_versions: int, crash_before_step: int
) -> None:
    root, work = tmp_path / "root", tmp_path / "work"
    storage = Storage(root, work)
    storage.open()
    for version in range(1, existing_versions + 1):
        storage.write("rec", crash_state(version), message="before")
    result = run_writer("crash", str(root), str(work), "rec", str(crash_before_step))
    crashed = result.returncode == 137
    steps_in_commit = 3 if existing_versions == 0 else 5
    assert crashed == (crash_before_step <= steps_in_commit), result.stdout + result.stderr
    recovered = assert_recovered(root, work)
    head = recovered.head("rec")
    # Before the publishing rename the old version stands; after it, the new one.
    published = crash_before_step > 2 or not crashed
    expected_version = existing_versions + 1 if published else existing_versions
    assert head == (f"v{expected_version}" if expected_version else None)
    if head is not None:
        expected = crash_state(expected_version)
        assert recovered.state("rec") == {
            path: hashlib.sha512(data).hexdigest() for path, data in expected.items()
        }
        assert all(recovered.read("rec", path) == data for path, data in expected.items())
    else:
        assert object_dirs(root) == []
        assert [
            p
            for p in root.iterdir()
            if p.name not in {"0=ocfl_1.1", "ocfl_layout.json", "extensions"}
        ] == []


@pytest.mark.slow
def test_kill_9_at_random_moments_never_leaves_a_mix(tmp_path: Path) -> None:
    root, work = tmp_path / "root", tmp_path / "work"
    Storage(root, work).open()
    rng = random.Random(20240501)
    for round_no in range(6):
        writer = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.archive.storage_writer",
                "loop",
                str(root),
                str(work),
                str(round_no),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.9))
        writer.send_signal(signal.SIGKILL)
        assert writer.wait(timeout=10) == -signal.SIGKILL
        writer.stdout.close()
        storage = assert_recovered(root, work)
        for record_id in KILL_OBJECTS:
            if storage.exists(record_id):
                assert_head_is_a_whole_written_state(storage, record_id)
    total_versions = sum(len(storage.versions(r)) for r in KILL_OBJECTS if storage.exists(r))
    assert total_versions >= 6
    result = run_validator_cli(root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[E" not in result.stdout


def assert_head_is_a_whole_written_state(storage: Storage, record_id: str) -> None:
    meta = json.loads(storage.read(record_id, "meta.json"))
    expected = kill_state(meta["round"], meta["step"], record_id)
    assert set(storage.state(record_id)) == set(expected)
    for path, data in expected.items():
        assert storage.read(record_id, path) == data, (record_id, path)
    numbers = [int(v.version[1:]) for v in storage.versions(record_id)]
    assert numbers == list(range(1, len(numbers) + 1))
    [object_dir] = [
        d
        for d in object_dirs(storage.root)
        if json.loads((d / "inventory.json").read_bytes())["id"] == record_id
    ]
    validator = Validator(check_digests=True)
    assert validator.validate_object(str(object_dir)), str(validator)


def test_open_removes_stray_staging_only_when_its_writer_is_gone(storage: Storage) -> None:
    storage.write("rec", {"a": b"a"}, message="m")
    [lock_file] = [p for p in (storage.work_dir / "locks").rglob("*.lock") if p.stem != "root"]
    stray = storage.work_dir / "staging" / f"{lock_file.stem}-deadbeef"
    (stray / "v2" / "content").mkdir(parents=True)
    (stray / "v2" / "content" / "half-written.bin").write_bytes(b"\0" * 10)
    holder = os.open(lock_file, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        storage.open()
        assert stray.exists()  # a live writer holds the object's lock
    finally:
        os.close(holder)
    storage.open()
    assert not stray.exists()
    assert storage.head("rec") == "v1"


def test_missing_source_file_raises_and_leaves_nothing(storage: Storage, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot read"):
        storage.write("rec", {"a.tif": tmp_path / "does-not-exist.tif"}, message="m")
    assert not storage.exists("rec")
    assert list((storage.work_dir / "staging").iterdir()) == []
    assert list((storage.work_dir / "journal").iterdir()) == []


def test_running_writer_finishes_a_dead_writers_commit(tmp_path: Path) -> None:
    root, work = tmp_path / "root", tmp_path / "work"
    storage = Storage(root, work)
    storage.open()
    storage.write("rec", crash_state(1), message="v1")
    # The child dies after renaming v2 into the object, before the root inventory is updated.
    assert run_writer("crash", str(root), str(work), "rec", "3").returncode == 137
    assert storage.head("rec") == "v1"
    assert storage.write("rec", {"after.txt": b"after"}, message="v3").version == "v3"
    assert storage.read("rec", "meta.json", "v2") == crash_state(2)["meta.json"]
    assert storage.read("rec", "after.txt") == b"after"
    assert_recovered(root, work)
