"""The one exception family the engine raises; each subclass is a Sphinx warning subtype."""

from __future__ import annotations


class PinciteError(Exception):
    """Base of every error the engine raises on purpose."""

    #: Sphinx warning subtype (``pincite.<subtype>``) used when a directive reports this error.
    subtype = "error"


class PinsError(PinciteError):
    """The hand-written pins file is malformed or names an unknown release."""

    subtype = "pins"


class LockError(PinciteError):
    """The generated lock is malformed, stale, or lacks a cited file."""

    subtype = "lock"


class FetchError(PinciteError):
    """A file could not be fetched from the package index."""

    subtype = "fetch"


class OfflineError(FetchError):
    """A file is missing from the cache and the build may not use the network."""

    subtype = "offline"


class CacheError(PinciteError):
    """The fetched-file cache cannot be read or written (full disk, permissions, a folder)."""

    subtype = "cache"


class IntegrityError(PinciteError):
    """Bytes did not match the hash or size the lock (or the index) promised."""

    subtype = "integrity"


class SliceError(PinciteError):
    """A symbol, pattern or line range could not be cut out of a source file."""

    subtype = "slice"


class OptionError(PinciteError):
    """A directive option has an invalid value."""

    subtype = "option"


class ManifestError(PinciteError):
    """The citations manifest is missing, unreadable or of another version."""

    subtype = "manifest"
