"""Minimal HTTP client: timeouts, bounded retries with back-off, range requests, byte counting."""

from __future__ import annotations

import gzip
import http.client
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from pincite import __version__
from pincite.errors import FetchError

_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_CHUNK = 1 << 16


class RangeNotSupported(Exception):
    """The server answered a range request with the whole body (or a range we did not ask for)."""


@dataclass
class HttpStats:
    """What the client did, for benchmarks and for proving a build stayed offline."""

    requests: int = 0
    bytes_received: int = 0
    #: Body bytes by purpose: "index" (project listings), "range" (members), "whole" (wheels).
    bytes_by_kind: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str, n: int) -> None:
        """Record ``n`` body bytes received for ``kind``."""
        self.bytes_received += n
        self.bytes_by_kind[kind] = self.bytes_by_kind.get(kind, 0) + n


class HttpClient:
    """urllib-based client with per-request timeouts and retries on transient failures."""

    def __init__(
        self,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self.stats = HttpStats()
        self._headers = {"User-Agent": f"pincite/{__version__}"}

    def _attempt(self, url: str, func: Callable[[], object]) -> object:
        """Run ``func`` with bounded retries on 5xx, resets and timeouts; 4xx fail at once."""
        delay = self.backoff
        began = time.monotonic()
        for attempt in range(1, self.retries + 1):
            try:
                return func()
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or attempt == self.retries:
                    raise FetchError(f"GET {url}: HTTP {exc.code} {exc.reason}") from None
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                if attempt == self.retries:
                    reason = getattr(exc, "reason", exc)
                    if isinstance(exc, TimeoutError) or isinstance(reason, TimeoutError):
                        # Say which timeout fired, and how long the whole fetch took.
                        why = f"no answer within {self.timeout:g} s"
                    else:
                        why = str(reason) or type(exc).__name__
                    raise FetchError(
                        f"GET {url}: {why} (gave up after {attempt} attempts, "
                        f"{time.monotonic() - began:.1f} s in all; pincite_timeout is "
                        f"{self.timeout:g} s per attempt)"
                    ) from None
            self.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _open(self, url: str, headers: dict[str, str]):
        self.stats.requests += 1
        req = urllib.request.Request(url, headers={**self._headers, **headers})
        return urllib.request.urlopen(req, timeout=self.timeout)

    def _read_all(self, resp, kind: str) -> bytes:
        chunks = []
        while chunk := resp.read(_CHUNK):
            self.stats.count(kind, len(chunk))
            chunks.append(chunk)
        data = b"".join(chunks)
        length = resp.headers.get("Content-Length")
        if length is not None and int(length) != len(data):
            raise http.client.IncompleteRead(data, int(length) - len(data))
        return data

    def get_json(self, url: str, accept: str) -> dict:
        """GET ``url`` asking for ``accept`` and decode the JSON body."""

        def run() -> dict:
            # Index pages are large and very compressible; ask for gzip to save bytes.
            with self._open(url, {"Accept": accept, "Accept-Encoding": "gzip"}) as resp:
                ctype = resp.headers.get("Content-Type", "")
                body = self._read_all(resp, "index")
                if resp.headers.get("Content-Encoding", "").lower() == "gzip":
                    try:
                        body = gzip.decompress(body)
                    except (OSError, EOFError) as exc:
                        raise FetchError(f"GET {url}: corrupt gzip body ({exc})") from None
            if "json" not in ctype:
                raise FetchError(f"GET {url}: expected JSON, got Content-Type {ctype!r}")
            try:
                return json.loads(body)
            except ValueError as exc:
                raise FetchError(f"GET {url}: invalid JSON ({exc})") from None

        return self._attempt(url, run)  # type: ignore[return-value]

    def get_range(self, url: str, start: int, length: int) -> bytes:
        """Exactly ``length`` bytes from ``start``; RangeNotSupported if the server sends more."""

        def run() -> bytes:
            end = start + length - 1
            with self._open(url, {"Range": f"bytes={start}-{end}"}) as resp:
                match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
                if (
                    resp.status != 206
                    or not match
                    or int(match[1]) != start
                    or int(match[2]) != end
                ):
                    # Close without reading the (possibly huge) whole body.
                    raise RangeNotSupported(url)
                return self._read_all(resp, "range")

        return self._attempt(url, run)  # type: ignore[return-value]

    def size(self, url: str) -> int:
        """Total size of a remote file, from the Content-Range of a one-byte range request."""

        def run() -> int:
            with self._open(url, {"Range": "bytes=0-0"}) as resp:
                match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if resp.status != 206 or not match or not match[3].isdigit():
                raise FetchError(f"GET {url}: the server does not report the file's size")
            return int(match[3])

        return self._attempt(url, run)  # type: ignore[return-value]

    def download(self, url: str, sink: Callable[[], IO[bytes]]) -> IO[bytes]:
        """Stream ``url`` into a fresh file from ``sink()`` (one per attempt) and return it."""

        def run() -> IO[bytes]:
            fh = sink()
            try:
                with self._open(url, {}) as resp:
                    expected = resp.headers.get("Content-Length")
                    got = 0
                    while chunk := resp.read(_CHUNK):
                        self.stats.count("whole", len(chunk))
                        got += len(chunk)
                        fh.write(chunk)
                    if expected is not None and int(expected) != got:
                        raise http.client.IncompleteRead(b"", int(expected) - got)
            except BaseException:
                fh.close()
                raise
            fh.seek(0)
            return fh

        return self._attempt(url, run)  # type: ignore[return-value]
