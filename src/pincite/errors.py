"""The one exception family the engine raises; each subclass is a Sphinx warning subtype."""

from __future__ import annotations


class PinciteError(Exception):
    """Base of every error the engine raises on purpose."""

    #: Sphinx warning subtype (``pincite.<subtype>``) used when a directive reports this error.
    subtype = "error"
    #: What mends it, with ``{lock}`` and ``{fetch}`` standing for the project's own commands.
    remedy = ""

    def advice(self, commands: dict[str, str]) -> str:
        """The message and what to run, e.g. ``…; run `pincite lock --pins pins.toml```."""
        remedy = self.remedy.format(**commands) if self.remedy else ""
        return f"{self}; {remedy}" if remedy else str(self)


class PinsError(PinciteError):
    """The hand-written pins file is malformed or names an unknown release."""

    subtype = "pins"


class LockError(PinciteError):
    """The generated lock is malformed, stale, or lacks a cited file."""

    subtype = "lock"
    remedy = "run `{lock}` to regenerate it"


class FetchError(PinciteError):
    """A file could not be fetched from the package index."""

    subtype = "fetch"


class OfflineError(FetchError):
    """A file is missing from the cache and the build may not use the network."""

    subtype = "offline"
    remedy = "fill the cache once online with `{fetch}`"


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
