"""`claims.cputime`: the CPU time of an environment run in a root filesystem."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BURN = "import time\nend = time.process_time() + {s}\nwhile time.process_time() < end: pass\n"


def timed(code: str) -> tuple[int, str]:
    """Run ``python -c code`` under `claims.cputime`; its exit status and what it wrote."""
    read_fd, write_fd = os.pipe()
    command = [sys.executable, "-m", "claims.cputime", str(write_fd), sys.executable, "-c", code]
    proc = subprocess.run(command, cwd=ROOT, pass_fds=(write_fd,), check=False, timeout=60)
    os.close(write_fd)
    with os.fdopen(read_fd) as source:
        return proc.returncode, source.read()


@pytest.mark.parametrize(
    ("code", "least", "most"),
    [(BURN.format(s=1.0), 1.0, 5.0), ("import time; time.sleep(1.0)", 0.0, 0.5)],
)
def test_it_writes_the_cpu_seconds_the_command_used_not_its_waits(code, least, most) -> None:
    status, written = timed(code)
    assert status == 0 and least <= float(written) <= most


@pytest.mark.parametrize(
    ("code", "status"),
    [("raise SystemExit(3)", 3), ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", 137)],
)
def test_it_exits_as_its_command_did(code: str, status: int) -> None:
    got, written = timed(code)
    assert got == status and float(written) >= 0.0
