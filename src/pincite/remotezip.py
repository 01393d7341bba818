"""Read members of a remote zip (wheel) through HTTP range requests, without downloading it."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from pincite.http import HttpClient

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


class RangeFile(io.RawIOBase):
    """A read-only, seekable file over HTTP ranges, fetched in blocks and kept in memory.

    ``zipfile.ZipFile`` reads the end-of-central-directory record, then the central
    directory, then single members: a few range requests instead of the whole wheel.
    """

    def __init__(self, http: HttpClient, url: str, size: int, block: int = 1 << 16) -> None:
        super().__init__()
        self.http, self.url, self.size, self.block = http, url, size, block
        self.pos = 0
        self._blocks: dict[int, bytes] = {}

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def _ensure(self, start: int, end: int) -> None:
        """Fetch the missing blocks covering ``start..end`` in as few requests as possible."""
        first, last = start // self.block, (end - 1) // self.block
        missing = [b for b in range(first, last + 1) if b not in self._blocks]
        while missing:
            run_start = run_end = missing.pop(0)
            while missing and missing[0] == run_end + 1:
                run_end = missing.pop(0)
            lo = run_start * self.block
            hi = min(self.size, (run_end + 1) * self.block)
            data = self.http.get_range(self.url, lo, hi - lo)
            for b in range(run_start, run_end + 1):
                off = b * self.block - lo
                self._blocks[b] = data[off : off + self.block]

    def read(self, n: int = -1) -> bytes:
        if self.pos >= self.size:
            return b""
        end = self.size if n is None or n < 0 else min(self.size, self.pos + n)
        self._ensure(self.pos, end)
        out = bytearray()
        pos = self.pos
        while pos < end:
            b, off = divmod(pos, self.block)
            chunk = self._blocks[b][off : off + (end - pos)]
            out += chunk
            pos += len(chunk)
        self.pos = end
        return bytes(out)

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Fill ``buffer`` from the current position; the number of bytes read."""
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)
