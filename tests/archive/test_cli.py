"""The `memoria` command: init, ingest exit codes, fixity, and storage that validates as OCFL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from archive.settings import load_settings

OCFL_VALIDATE = Path(sys.executable).parent / "ocfl-validate.py"


def ingest_sample(runner, source: Path, *extra: str):  # type: ignore[no-untyped-def]
    return runner.invoke("ingest", str(source / "records.csv"), "--mapping",
                         str(source / "mapping.toml"), *extra)


def test_init_writes_the_instance_file(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke("init", "--base-url", "https://memoria.campeche.example")
    assert result.exit_code == 0, result.output
    home = runner.settings.home
    assert (home / "storage" / "0=ocfl_1.1").is_file()
    assert load_settings({"home": str(home)}, environ={}).base_url == \
        "https://memoria.campeche.example"


def test_ingest_reports_and_exit_codes(runner, sample_source: Path) -> None:  # type: ignore[no-untyped-def]
    ok = ingest_sample(runner, sample_source)
    assert ok.exit_code == 0, ok.output
    assert "4 read = 4 accepted (4 created) + 0 rejected" in ok.output
    (sample_source / "records.csv").write_text(
        (sample_source / "records.csv").read_text() + "X9,Roto,Broken,1900\n")
    bad = ingest_sample(runner, sample_source, "--json")
    assert bad.exit_code == 3
    report = json.loads(bad.output)
    assert report["counts"] == {"input": 5, "accepted": 4, "rejected": 1, "unchanged": 4}
    assert report["rejected"][0]["position"] == "line 6"


def test_csv_without_mapping_is_a_usage_error(runner, sample_source: Path) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke("ingest", str(sample_source / "records.csv"))
    assert result.exit_code == 2
    assert "needs a mapping file" in result.output


def test_dry_run_command_stores_nothing(runner, sample_source: Path) -> None:  # type: ignore[no-untyped-def]
    result = ingest_sample(runner, sample_source, "--dry-run")
    assert result.exit_code == 0
    assert "(dry run)" in result.output
    assert not any((runner.settings.home / "storage").glob("*/*/*/*/0=ocfl_object_1.1"))


def ocfl_validate(root: Path) -> subprocess.CompletedProcess[str]:
    """Run ocfl-py's validator on the root and on every object in it.

    ocfl-py 2.1's storage-root check counts invalid objects but still exits 0, so each object
    directory is also named on the command line, where its verdict sets the exit code.
    """
    objects = sorted(str(p.parent) for p in root.rglob("0=ocfl_object_1.1"))
    return subprocess.run([sys.executable, str(OCFL_VALIDATE), str(root), *objects],
                          capture_output=True, text=True, check=False)


def test_storage_is_valid_ocfl_after_ingest(runner, sample_source: Path) -> None:  # type: ignore[no-untyped-def]
    assert ingest_sample(runner, sample_source).exit_code == 0
    csv_path = sample_source / "records.csv"
    csv_path.write_text(csv_path.read_text().replace("Oaxaca fonds", "The Oaxaca fonds"))
    assert ingest_sample(runner, sample_source).exit_code == 0
    root = runner.settings.storage_root
    result = ocfl_validate(root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("is VALID") == 4
    # The validator is not a rubber stamp: a changed byte makes it fail.
    stored = next(root.rglob("v1/content/record.csv"))
    stored.write_bytes(stored.read_bytes() + b"x")
    broken = ocfl_validate(root)
    assert broken.returncode == 1
    assert "INVALID" in broken.stdout


def test_fixity_finds_changed_missing_and_untracked(runner, sample_source: Path) -> None:  # type: ignore[no-untyped-def]
    assert ingest_sample(runner, sample_source).exit_code == 0
    clean = runner.invoke("fixity")
    assert clean.exit_code == 0, clean.output
    storage = runner.settings.storage_root
    image = next(storage.rglob("v1/content/I1.jpg"))
    image.write_bytes(image.read_bytes()[:-10] + b"0123456789")
    source = next(storage.rglob("v1/content/I2.png"))
    source.unlink()
    (image.parent / "stray.txt").write_text("who put this here?")
    result = runner.invoke("fixity", "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["changed"][0]["path"].endswith("I1.jpg")
    assert report["missing"][0]["path"].endswith("I2.png")
    assert report["untracked"][0]["path"].endswith("stray.txt")
