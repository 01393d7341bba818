"""Small, careful helpers for reading members of wheel (zip) files."""

from __future__ import annotations

import base64
import csv
import io
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from pincite.errors import IntegrityError, LockError

_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_MAGIC = b"PK\x03\x04"
COMPRESSIONS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}


@dataclass(frozen=True)
class MemberLocation:
    """Where a member's compressed bytes sit inside the wheel, so one range request fetches them."""

    data_offset: int
    compressed_size: int
    compression: str
    size: int


def check_member_name(name: str) -> None:
    """Reject absolute paths and ``..`` components (path traversal) in member names."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise IntegrityError(f"unsafe member name in wheel: {name!r}")


def record_digests(zf: zipfile.ZipFile) -> dict[str, tuple[str, int]]:
    """Map each path in the wheel's ``*.dist-info/RECORD`` to (sha256 hex, size)."""
    records = [n for n in zf.namelist() if n.endswith(".dist-info/RECORD") and n.count("/") == 1]
    if len(records) != 1:
        raise LockError(f"wheel has {len(records)} top-level .dist-info/RECORD files, expected 1")
    text = zf.read(records[0]).decode("utf-8")
    digests: dict[str, tuple[str, int]] = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) < 3 or not row[1]:
            continue
        algo, _, b64 = row[1].partition("=")
        if algo != "sha256":
            continue
        raw = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
        digests[row[0]] = (raw.hex(), int(row[2]) if row[2] else -1)
    return digests


def locate_member(wheel: BinaryIO, info: zipfile.ZipInfo) -> MemberLocation:
    """Read the member's local header to find where its compressed data starts."""
    if info.compress_type not in COMPRESSIONS:
        raise LockError(f"{info.filename}: unsupported zip compression {info.compress_type}")
    wheel.seek(info.header_offset)
    header = wheel.read(_LOCAL_HEADER.size)
    fields = _LOCAL_HEADER.unpack(header)
    if fields[0] != _LOCAL_MAGIC:
        raise IntegrityError(f"{info.filename}: bad local file header in wheel")
    name_len, extra_len = fields[9], fields[10]
    return MemberLocation(
        data_offset=info.header_offset + _LOCAL_HEADER.size + name_len + extra_len,
        compressed_size=info.compress_size,
        compression=COMPRESSIONS[info.compress_type],
        size=info.file_size,
    )


def read_member(zf: zipfile.ZipFile, name: str, what: str) -> bytes:
    """A member's bytes; a corrupt archive or a bad CRC becomes an IntegrityError."""
    try:
        return zf.read(name)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise IntegrityError(f"{what}: {name}: {exc}") from None


def inflate(raw: bytes, compression: str, expected_size: int, what: str) -> bytes:
    """Decompress one member's bytes, never producing more than ``expected_size`` bytes."""
    if compression == "stored":
        data = raw
    elif compression == "deflate":
        decomp = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            # Bound the output: a member that inflates past what the lock says is hostile.
            data = decomp.decompress(raw, expected_size + 1)
        except zlib.error as exc:
            raise IntegrityError(f"{what}: corrupt compressed data ({exc})") from None
        if not decomp.eof and len(data) <= expected_size:
            raise IntegrityError(f"{what}: compressed data is truncated")
    else:
        raise IntegrityError(f"{what}: unknown compression {compression!r}")
    if len(data) != expected_size:
        raise IntegrityError(
            f"{what}: {len(data)} bytes after decompression, the lock says {expected_size}"
        )
    return data
