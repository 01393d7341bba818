"""All of pincite's Sphinx options in one typed place, with defaults and help."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

from sphinx.errors import ConfigError


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class PinciteConfig:
    """Options, each set in ``conf.py`` as ``pincite_<name>``."""

    pins: str = field(
        default="",
        metadata={"help": "Path of the pins file (TOML), relative to the configuration directory."},
    )
    lock: str = field(
        default="",
        metadata={"help": "Path of the lock (JSON); default: next to the pins file, *.lock.json."},
    )
    cache_dir: str = field(
        default="",
        metadata={
            "help": "Fetched-file cache; default $PINCITE_CACHE_DIR or ~/.cache/pincite.",
            "rebuild": "",
        },
    )
    offline: bool = field(
        default=False,
        metadata={"help": "Never use the network (also set by PINCITE_OFFLINE=1).", "rebuild": ""},
    )
    index_url: str = field(
        default="",
        metadata={
            "help": "Package index (PEP 691); default: the index pip is configured to use.",
            "rebuild": "",
        },
    )
    timeout: float = field(
        default=30.0,
        metadata={"help": "Seconds before one HTTP request is given up.", "rebuild": ""},
    )
    sources_list: bool = field(
        default=True,
        metadata={"help": "Append a 'Sources cited on this page' list to every citing page."},
    )
    materialize_dir: str = field(
        default="",
        metadata={
            "help": "If set, every locked file is written under <dir>/<release>/<path> before "
            "reading starts (e.g. for sphinx-autodoc2); relative to the configuration directory."
        },
    )

    @classmethod
    def from_sphinx(cls, config) -> PinciteConfig:  # type: ignore[no-untyped-def]
        """Collect the ``pincite_*`` values (paths already resolved at ``config-inited``)."""
        values = {f.name: getattr(config, f"pincite_{f.name}") for f in fields(cls)}
        # `-D pincite_timeout=2` arrives as a string; a bad value is refused with its name.
        try:
            values["timeout"] = float(values["timeout"])
        except (TypeError, ValueError):
            raise ConfigError(
                f"pincite_timeout must be a number of seconds, got {values['timeout']!r}"
            ) from None
        if values["timeout"] <= 0:
            raise ConfigError(f"pincite_timeout must be positive, got {values['timeout']:g}")
        made = cls(**values)
        made.offline = bool(made.offline) or _env_flag("PINCITE_OFFLINE")
        return made


def register(app) -> None:  # type: ignore[no-untyped-def]
    """Declare every option on the Sphinx app with its type and default."""
    for f in fields(PinciteConfig):
        kind = {"str": str, "bool": bool, "float": float}[str(f.type)]
        app.add_config_value(
            f"pincite_{f.name}",
            # Sphinx refuses `-D name=value` for float defaults; a numeric string default lets
            # `-D pincite_timeout=2` through, and from_sphinx converts and checks it.
            str(f.default) if kind is float else f.default,
            f.metadata.get("rebuild", "env"),
            # -D passes strings; from_sphinx converts and checks them.
            types=(kind, int, str) if kind is float else (kind,),
            description=f.metadata["help"],
        )
