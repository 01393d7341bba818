"""pincite: cite, verify and slice source files from exactly pinned wheel releases in Sphinx."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.util.typing import ExtensionMetadata

__version__ = "0.2.0"


def setup(app: Sphinx) -> ExtensionMetadata:
    """Register the Sphinx extension (imported lazily so the engine stays light)."""
    from pincite.sphinxext import setup as _setup

    return _setup(app)
