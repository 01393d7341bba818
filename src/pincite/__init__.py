"""pincite: cite, verify and slice source files from exactly pinned wheel releases in Sphinx."""

from __future__ import annotations

__version__ = "0.1.0"


def setup(app):  # type: ignore[no-untyped-def]
    """Register the Sphinx extension (imported lazily so the engine stays light)."""
    from pincite.sphinxext import setup as _setup

    return _setup(app)
