"""All of pincite's Sphinx options in one typed place, with defaults and help."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

from sphinx.util import logging

if TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.config import Config

logger = logging.getLogger(__name__)


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
    diff_mode: str = field(
        default="exact",
        metadata={
            "help": "Default of pincite-diff's :mode:: 'exact' (every changed line) or "
            "'readable' (changes of code only, formatting ignored)."
        },
    )
    materialize_dir: str = field(
        default="",
        metadata={
            "help": "If set, every locked file is written under <dir>/<release>/<path> before "
            "reading starts (e.g. for sphinx-autodoc2); relative to the configuration directory."
        },
    )

    on_error: str = field(
        default="error",
        metadata={
            "help": "What a citation that cannot be produced does: 'error' fails the build "
            "(with or without -W); 'warning' builds drafts with the citation left out.",
            "rebuild": "",
        },
    )
    lock_command: str = field(
        default="",
        metadata={
            "help": "The command messages give for regenerating the lock; default "
            "'pincite lock --pins <pins>' (e.g. 'nox -s lock' where a project wraps it).",
            "rebuild": "",
        },
    )

    @classmethod
    def from_sphinx(cls, config: Config) -> PinciteConfig:
        """Collect the ``pincite_*`` values (checked and resolved at ``config-inited``)."""
        made = cls(**{f.name: getattr(config, f"pincite_{f.name}") for f in fields(cls)})
        made.offline = bool(made.offline) or _env_flag("PINCITE_OFFLINE")
        return made


#: Settings with a closed set of values.
#: What ``pincite-diff`` can show (its ``:mode:`` and ``pincite_diff_mode``).
DIFF_MODES = ("exact", "readable")
#: What a failed citation does (``pincite_on_error``).
ON_ERROR = ("error", "warning")
_CHOICES = {"diff_mode": DIFF_MODES, "on_error": ON_ERROR}


def _checked(name: str, kind: type, value: object, default: object) -> tuple[object, str]:
    """``value`` converted to ``kind``, or the default and why ``value`` was refused."""
    if kind is float:
        # `-D pincite_timeout=2` arrives as a string; numbers are converted, not refused.
        try:
            number = float(value) if isinstance(value, int | float | str) else float("nan")
        except (TypeError, ValueError):
            return default, f"must be a number of seconds, got {value!r}"
        if not number > 0:
            return default, f"must be positive, got {value!r}"
        return number, ""
    if kind is bool:
        if isinstance(value, str) and value.strip().lower() in {"0", "1", "true", "false"}:
            return value.strip().lower() in {"1", "true"}, ""
        if not isinstance(value, bool | int):
            return default, f"must be True or False, got {value!r}"
        return bool(value), ""
    if not isinstance(value, str):
        return default, f"must be a string, got {type(value).__name__} {value!r}"
    if name in _CHOICES and value not in _CHOICES[name]:
        return default, f"must be one of {', '.join(_CHOICES[name])}, got {value!r}"
    return value, ""


def validate(app: Sphinx, config: Config) -> None:
    """Check every ``pincite_*`` value once; a bad one is a warning and its default is used."""
    for f in fields(PinciteConfig):
        name = f"pincite_{f.name}"
        kind = _KINDS[str(f.type)]
        value, problem = _checked(f.name, kind, getattr(config, name), f.default)
        if problem:
            logger.warning(
                "%s %s; using the default %r",
                name,
                problem,
                f.default,
                type="pincite",
                subtype="config",
            )
        setattr(config, name, value)


_KINDS = {"str": str, "bool": bool, "float": float}


def register(app: Sphinx) -> None:
    """Declare every option on the Sphinx app with its type and default."""
    for f in fields(PinciteConfig):
        kind = _KINDS[str(f.type)]
        app.add_config_value(
            f"pincite_{f.name}",
            # Sphinx refuses `-D name=value` for float defaults; a numeric string default lets
            # `-D pincite_timeout=2` through, and `validate` converts and checks it.
            str(f.default) if kind is float else f.default,
            f.metadata.get("rebuild", "env"),
            types=(kind, int, str) if kind is float else (kind,),
            description=f.metadata["help"],
        )
    # Before the paths are resolved (priority 500): every later reader sees checked values.
    app.connect("config-inited", validate, priority=400)
