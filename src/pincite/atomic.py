"""One way to write a file: a unique temporary name beside it, then an atomic rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO


def _umask() -> int:
    """The process's umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Read once, at import, before any thread could create a file meanwhile.
_UMASK = _umask()


def write_atomic(path: Path, data: bytes | BinaryIO, *, fsync: bool = False) -> Path:
    """Write ``data`` (bytes, or a binary file read to its end) to ``path`` atomically.

    Readers see the old file or the whole new one.

    The temporary name is unique (``mkstemp``), so concurrent writers never collide; on any
    failure (a full disk, an interrupt) the temporary file is removed and ``path`` is untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        # mkstemp makes the file private (0600); the written file gets the mode any new file
        # gets (0666 less the umask), so a web server can serve it like the rest of the site.
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as fh:
            if isinstance(data, (bytes, bytearray, memoryview)):  # a tuple: runs on Python 3.9 too
                fh.write(data)
            else:
                shutil.copyfileobj(data, fh, 1 << 20)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def check_inside(root: Path, path: Path) -> Path:
    """``path``, resolved; ValueError unless it lies under ``root`` (no escape by ``..``/links)."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise ValueError(f"{path} would be written outside {root}")
    return resolved
