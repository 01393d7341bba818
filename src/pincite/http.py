"""A thin HTTP client on urllib3: pooled connections, retries, range requests, byte counting.

urllib3 does the connections, the timeouts and the retry policy (which statuses are worth a
second try, ``Retry-After``); this module keeps what no library does for us: counting every
request and body byte (the offline and fetch-size claims are proved with these counts),
refusing a range answer that is not the range asked for, and one clear message per failure.
"""

from __future__ import annotations

import gzip
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, TypeVar

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util import Retry

from pincite import __version__
from pincite.errors import FetchError

_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_CHUNK = 1 << 16
#: Statuses worth another attempt: rate limiting and the server's own transient failures.
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Never wait longer than this for a server's ``Retry-After``, however long it asks for.
_MAX_RETRY_AFTER = 60.0

T = TypeVar("T")


class RangeNotSupported(Exception):
    """The server answered a range request with the whole body (or a range we did not ask for)."""


class _Status(Exception):
    """An HTTP error status, carried out of one attempt to the retry loop."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        super().__init__(response.status)
        self.response = response


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
    """GET with a per-attempt timeout and bounded retries; 4xx other than 429 fail at once."""

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
        # The policy is urllib3's; the loop in _attempt runs it so that waits go through
        # `sleep` (tests pass a recorder) and the give-up message can say what happened.
        self.policy = Retry(
            total=retries - 1,
            status_forcelist=_RETRY_STATUSES,
            allowed_methods=None,
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        self._pool = urllib3.PoolManager(
            headers={"User-Agent": f"pincite/{__version__}"},
            timeout=urllib3.Timeout(timeout),
            retries=False,
        )

    def _attempt(self, url: str, func: Callable[[], T]) -> T:
        """Run ``func`` under the retry policy: back-off doubles, ``Retry-After`` is honoured."""
        delay = self.backoff
        began = time.monotonic()
        for attempt in range(1, self.retries + 1):
            try:
                return func()
            except _Status as exc:
                resp = exc.response
                if not self.policy.is_retry("GET", resp.status) or attempt == self.retries:
                    raise FetchError(f"GET {url}: HTTP {resp.status} {resp.reason}") from None
                wait = self.policy.get_retry_after(resp)
            except (Urllib3Error, OSError) as exc:
                if attempt == self.retries:
                    raise FetchError(
                        f"GET {url}: {self._why(exc)} (gave up after {attempt} attempts, "
                        f"{time.monotonic() - began:.1f} s in all; pincite_timeout is "
                        f"{self.timeout:g} s per attempt)"
                    ) from None
                wait = None
            self.sleep(delay if wait is None else min(max(wait, delay), _MAX_RETRY_AFTER))
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _why(self, exc: BaseException) -> str:
        """One phrase for a failed attempt, naming the timeout when that is what fired."""
        # NewConnectionError subclasses urllib3's timeout error, though nothing timed out.
        if isinstance(exc, Urllib3Timeout | TimeoutError) and not isinstance(
            exc, NewConnectionError
        ):
            return f"no answer within {self.timeout:g} s"
        reason = getattr(exc, "reason", None) or exc
        return str(reason) or type(exc).__name__

    def _open(self, url: str, headers: dict[str, str]) -> urllib3.BaseHTTPResponse:
        """One GET, streamed; an error status becomes ``_Status`` for the retry loop."""
        self.stats.requests += 1
        resp = self._pool.request(
            "GET", url, headers=headers, preload_content=False, decode_content=False
        )
        if resp.status >= 400:
            resp.drain_conn()
            resp.release_conn()
            raise _Status(resp)
        return resp

    def _read_all(self, resp: urllib3.BaseHTTPResponse, kind: str) -> bytes:
        """The whole body as sent on the wire (a short body raises, urllib3 checks the length)."""
        chunks = []
        try:
            for chunk in resp.stream(_CHUNK, decode_content=False):
                self.stats.count(kind, len(chunk))
                chunks.append(chunk)
        finally:
            resp.release_conn()
        return b"".join(chunks)

    def get_text(self, url: str, accept: str) -> tuple[str, str]:
        """GET ``url`` asking for ``accept``: the body as text and its Content-Type."""

        def run() -> tuple[str, str]:
            # Index pages are large and very compressible; ask for gzip to save bytes.
            resp = self._open(url, {"Accept": accept, "Accept-Encoding": "gzip"})
            ctype = resp.headers.get("Content-Type", "")
            body = self._read_all(resp, "index")
            if resp.headers.get("Content-Encoding", "").lower() == "gzip":
                try:
                    body = gzip.decompress(body)
                except (OSError, EOFError) as exc:
                    raise FetchError(f"GET {url}: corrupt gzip body ({exc})") from None
            return body.decode("utf-8", "replace"), ctype

        return self._attempt(url, run)

    def get_range(self, url: str, start: int, length: int) -> bytes:
        """Exactly ``length`` bytes from ``start``; RangeNotSupported if the server sends more."""

        def run() -> bytes:
            end = start + length - 1
            resp = self._open(url, {"Range": f"bytes={start}-{end}"})
            match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if resp.status != 206 or not match or int(match[1]) != start or int(match[2]) != end:
                # Drop the connection without reading the (possibly huge) whole body.
                resp.close()
                raise RangeNotSupported(url)
            return self._read_all(resp, "range")

        return self._attempt(url, run)

    def size(self, url: str) -> int:
        """Total size of a remote file, from the Content-Range of a one-byte range request."""

        def run() -> int:
            resp = self._open(url, {"Range": "bytes=0-0"})
            match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            resp.close()
            if resp.status != 206 or not match or not match[3].isdigit():
                raise FetchError(f"GET {url}: the server does not report the file's size")
            return int(match[3])

        return self._attempt(url, run)

    def download(self, url: str, sink: Callable[[], BinaryIO]) -> BinaryIO:
        """Stream ``url`` into a fresh file from ``sink()`` (one per attempt) and return it."""

        def run() -> BinaryIO:
            fh = sink()
            try:
                resp = self._open(url, {})
                try:
                    for chunk in resp.stream(_CHUNK, decode_content=False):
                        self.stats.count("whole", len(chunk))
                        fh.write(chunk)
                finally:
                    resp.release_conn()
            except BaseException:
                fh.close()
                raise
            fh.seek(0)
            return fh

        return self._attempt(url, run)
