"""The ingest progress bar: drawn on a terminal (a real pseudo-terminal), silent elsewhere."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from archive.cli import main
from archive.settings import Settings
from tests.ingest.test_streaming_memory import lido_file

MEMORIA = Path(sys.executable).with_name("memoria")


def run_on_terminal(args: list[str], env: dict[str, str], out: Path) -> tuple[str, str, int]:
    """Run the CLI with stderr on a pseudo-terminal; return (terminal text, stdout, status)."""
    master, slave = pty.openpty()
    # stdout to a file, not a pipe: nobody drains a pipe while the terminal is being read.
    with out.open("wb") as stdout_file:
        proc = subprocess.Popen([str(MEMORIA), *args], stdout=stdout_file, stderr=slave,
                                stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    status = proc.wait(timeout=60)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace"), out.read_text(encoding="utf-8"), status


def test_progress_on_a_terminal_shows_records_rate_rejections_share_and_eta(
        settings: Settings, tmp_path: Path) -> None:
    # click draws an ETA only once a second has passed: enough records for a few seconds
    # on a fast machine (4,000 took 0.9 s here and never showed one).
    path = lido_file(tmp_path / "objects.xml", 12_000)
    # One record in five loses its lidoRecID: refused when mapped, counted on the bar.
    path.write_text(re.sub(r"<lido:lidoRecID lido:type='local'>obj-\d*[05]</lido:lidoRecID>", "",
                           path.read_text(encoding="utf-8")), encoding="utf-8")
    env = {**os.environ, "MEMORIA_HOME": str(settings.home), "COLUMNS": "160"}
    terminal, stdout, status = run_on_terminal(
        ["--home", str(settings.home), "ingest", "--dry-run", "--format", "auto", str(path)],
        env, tmp_path / "stdout.txt")
    assert status == 3, (terminal, stdout)  # some records rejected
    frames = [f for f in re.split(r"[\r\n]", terminal) if "records/s" in f]
    assert len(frames) >= 2, terminal  # redrawn as the file is read
    assert re.search(r"ingest +\[[#-]+\] +\d+% +\d\d:\d\d:\d\d +[\d,]+ records +[\d,]+ records/s +"
                     r"[\d,]+ rejected", terminal), terminal
    assert "100%" in frames[-1] and "12,000 records" in frames[-1]
    assert "2,400 rejected" in frames[-1]
    # The readable summary still goes to stdout, whole.
    assert "12000 read = 9600 accepted (9600 valid) + 2400 rejected" in stdout


def test_no_progress_without_a_terminal(settings: Settings, tmp_path: Path) -> None:
    path = lido_file(tmp_path / "objects.xml", 50)
    result = CliRunner().invoke(main, ["--home", str(settings.home), "ingest", "--dry-run",
                                       str(path)])
    assert result.exit_code == 0, result.output
    assert "records/s" not in result.output and "\r" not in result.output
    assert "50 read = 50 accepted" in result.output
