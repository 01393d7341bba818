"""The Sphinx side: configuration, the shared source store, and the two directives."""

from __future__ import annotations

import hashlib
from collections.abc import Set
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.environment.collectors import EnvironmentCollector
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from pincite import __version__
from pincite.cache import Cache, default_cache_dir
from pincite.config import DIFF_MODES, PinciteConfig, register
from pincite.errors import OfflineError, PinciteError, PinsError
from pincite.lock import check_fresh, default_lock_path, load_lock
from pincite.manifest import MANIFEST_NAME, CitationRecord, dump_manifest
from pincite.pins import load_pins
from pincite.reader import Slice, cite, unified_diff
from pincite.semdiff import IGNORABLE, readable_diff
from pincite.store import SourceStore

if TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.config import Config
    from sphinx.environment import BuildEnvironment
    from sphinx.util.typing import ExtensionMetadata

    from pincite.pins import Release

logger = logging.getLogger(__name__)

WARNING_TYPE = "pincite"
#: Bump when what the environment stores changes shape: Sphinx then rereads every page.
ENV_VERSION = 4


def _lines(value: str | None) -> list[str]:
    """One pattern per (non-empty) line of an option value."""
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


def _shown(path: str) -> str:
    """A path as the user would type it: relative to the working folder when inside it."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def commands(config: Config) -> dict[str, str]:
    """The commands messages give: regenerate the lock, fill the cache."""
    pins = _shown(config.pincite_pins or "pins.toml")
    return {
        "lock": config.pincite_lock_command or f"pincite lock --pins {pins}",
        "fetch": f"pincite fetch --pins {pins}",
    }


def report(env: BuildEnvironment, message: str, subtype: str, location: Any = None) -> None:
    """A citation that cannot be produced: an error that fails the build (drafts: a warning)."""
    if message in _STARTUP_FAILURES:
        return  # said once, when the build started; every citation fails with it
    if env.config.pincite_on_error == "warning":
        logger.warning("%s", message, location=location, type=WARNING_TYPE, subtype=subtype)
        return
    logger.error("%s", message, location=location, type=WARNING_TYPE, subtype=subtype)
    docname = env.docname if location is not None else ""
    _failures(env).setdefault(docname, []).append(message)


def _warn(directive: SphinxDirective, exc: PinciteError) -> list[nodes.Node]:
    message = exc.advice(commands(directive.config))
    report(directive.env, message, exc.subtype, directive.get_location())
    return []


#: Messages of errors found when the build started (pins, lock, cache): reported once.
_STARTUP_FAILURES: set[str] = set()


#: Stores by configuration key: one per build process, never pickled into the environment.
_STORES: dict[tuple[object, ...], tuple[SourceStore, list[str]]] = {}


def _store_key(cfg: PinciteConfig) -> tuple[object, ...]:
    stamps: list[int | None] = []
    for path in (cfg.pins, cfg.lock):
        try:
            stamps.append(Path(path).stat().st_mtime_ns)
        except OSError:
            stamps.append(None)
    return (cfg.pins, cfg.lock, *stamps, cfg.cache_dir, cfg.offline, cfg.index_url, cfg.timeout)


def get_store(config: Config) -> tuple[SourceStore, list[str]]:
    """The source store for this configuration and the files every citing page depends on."""
    cfg = PinciteConfig.from_sphinx(config)
    if not cfg.pins:
        raise PinsError("set `pincite_pins` in conf.py to use the pincite directives")
    key = _store_key(cfg)
    if key not in _STORES:
        pins = load_pins(cfg.pins)
        lock = load_lock(cfg.lock)
        check_fresh(pins, lock, Path(cfg.lock))
        cache = Cache(cfg.cache_dir or default_cache_dir())
        store = SourceStore(
            pins,
            lock,
            cache,
            offline=cfg.offline,
            index_url=cfg.index_url or None,
            timeout=cfg.timeout,
        )
        _STORES[key] = (store, [cfg.pins, cfg.lock])
    return _STORES[key]


def _record(
    directive: SphinxDirective,
    release: Release,
    path: str,
    sl: Slice,
    sha256: str,
    options: dict[str, Any],
    role: str,
) -> None:
    """Remember one cited slice for this page: the collector's data, the manifest's records."""
    env = directive.env
    _, line = directive.get_source_info()
    record = CitationRecord(
        release=release.id,
        project=release.project,
        version=release.version,
        path=path,
        options={k: v for k, v in sorted(options.items()) if v not in (None, (), [])},
        start=sl.start,
        end=sl.end,
        sha256=sha256,
        slice_sha256=hashlib.sha256(sl.text.encode()).hexdigest(),
        url=release.permalink(path, sl.start, sl.end),
        label=release.label,
        docname=env.docname,
        source=env.doc2path(env.docname, False).as_posix(),
        line=line,
        role=role,
    )
    cites = _citations(env).setdefault(env.docname, [])
    if record not in cites:
        cites.append(record)


class CitingDirective(SphinxDirective):
    """Shared plumbing: cite one slice and build its header."""

    def slice_of(
        self, release_id: str, path: str, role: str = "source", **options: Any
    ) -> tuple[Release, Slice, str]:
        try:
            store, deps = get_store(self.config)
        except PinciteError:
            self.env.note_reread()  # read again once the pins or the lock are mended
            raise
        # Dependencies first, so that a page whose citation fails is read again once the pins,
        # the lock or the cached file change (a failed read would otherwise be kept forever).
        for dep in deps:
            self.env.note_dependency(dep)
        try:
            release = store.release(release_id)
            entry = store.locked_file(release_id, path)
            self.env.note_dependency(str(store.blob_path(release_id, path)))
            text = store.read_text(release_id, path)
            sl = cite(text, filename=f"{release_id}:{path}", **options)
        except PinciteError:
            self.env.note_reread()
            raise
        _record(self, release, path, sl, entry.sha256, options, role)
        return release, sl, entry.sha256

    def header(self, release: Release, path: str, sl: Slice, sha256: str) -> nodes.TextElement:
        label = f"{release.label} · {path} · L{sl.start}–L{sl.end} · sha256 {sha256[:12]}"
        url = release.permalink(path, sl.start, sl.end)
        if not url:  # no repository and tag pinned: the header says there is no permalink
            return nodes.inline("", f"{label} · no permalink", classes=["pincite-no-permalink"])
        return nodes.reference(
            "", label, refuri=url, reftitle=release.upstream, classes=["pincite-permalink"]
        )


#: The patterns that narrow a slice, shared by both citing directives (as in literalinclude).
NARROWING_OPTIONS: dict[str, Any] = {
    key: directives.unchanged_required
    for key in ("start-after", "start-at", "end-before", "end-at")
}


class PinnedSourceDirective(CitingDirective):
    """``pincite-source <release> <path>``: highlighted slice with upstream line numbers."""

    required_arguments = 2
    optional_arguments = 0
    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {
        "pyobject": directives.unchanged_required,
        "lines": directives.unchanged_required,
        **NARROWING_OPTIONS,
        "emphasize": directives.unchanged_required,
        "emphasize-lines": directives.unchanged_required,
        "no-dedent": directives.flag,
        "language": directives.unchanged_required,
        "caption": directives.unchanged,
        "class": directives.class_option,
        "name": directives.unchanged,
    }

    def run(self) -> list[nodes.Node]:
        release_id, path = self.arguments
        opts = self.options
        try:
            release, sl, sha256 = self.slice_of(
                release_id,
                path,
                pyobject=opts.get("pyobject"),
                lines=opts.get("lines"),
                start_after=opts.get("start-after"),
                start_at=opts.get("start-at"),
                end_before=opts.get("end-before"),
                end_at=opts.get("end-at"),
                emphasize=_lines(opts.get("emphasize")),
                emphasize_lines=opts.get("emphasize-lines"),
                dedent="no-dedent" not in opts,
            )
        except PinciteError as exc:
            return _warn(self, exc)
        literal = nodes.literal_block(sl.text, sl.text, classes=opts.get("class", []))
        literal["language"] = opts.get("language", "python")
        literal["linenos"] = True
        literal["highlight_args"] = {
            "linenostart": sl.start,
            "hl_lines": [n - sl.start + 1 for n in sl.emphasize],
        }
        self.set_source_info(literal)
        caption = nodes.caption("", "", self.header(release, path, sl, sha256))
        if opts.get("caption"):
            caption += nodes.Text(f" — {opts['caption']}")
        self.set_source_info(caption)
        # The release's id as a class: a theme or script can tell whose code a block shows
        # (the site warns a reader whose own release differs).
        wrapper = nodes.container(
            "",
            literal_block=True,
            classes=["literal-block-wrapper", "pincite-source", f"pincite-release-{release.id}"],
        )
        wrapper += caption
        wrapper += literal
        self.add_name(wrapper)
        return [wrapper]


class ReleasesDirective(SphinxDirective):
    """``pincite-releases``: every pinned release with its hashes, rendered from the lock."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        try:
            store, deps = get_store(self.config)
        except PinciteError as exc:
            return _warn(self, exc)
        for dep in deps:
            self.env.note_dependency(dep)
        out: list[nodes.Node] = []
        for rid, release in store.pins.items():
            locked = store.lock[rid]
            section = nodes.container(classes=["pincite-release"])
            title = nodes.paragraph("", "", classes=["pincite-release-title"])
            title += nodes.strong("", release.label)
            title += nodes.Text(" — id ")
            title += nodes.literal("", rid)
            section += title
            fields = nodes.bullet_list()
            for label, value in (
                ("wheel", locked.wheel),
                ("wheel sha256", locked.wheel_sha256),
                ("wheel size", f"{locked.wheel_size:,} bytes"),
            ):
                item = nodes.paragraph("", f"{label}: ")
                item += nodes.literal("", value)
                fields += nodes.list_item("", item)
            tag = nodes.paragraph("", "upstream: ")
            if release.upstream:
                tag += nodes.reference(
                    "",
                    release.upstream,
                    refuri=f"{release.repository.rstrip('/')}/tree/{release.tag}",
                )
            else:
                tag += nodes.Text("not pinned (no repository and tag): no permalinks")
            fields += nodes.list_item("", tag)
            section += fields
            files = nodes.bullet_list(classes=["pincite-release-files"])
            for path, entry in sorted(locked.files.items()):
                item = nodes.paragraph()
                url = release.permalink(path)
                item += nodes.reference("", path, refuri=url) if url else nodes.Text(path)
                item += nodes.Text(f" · {entry.size:,} bytes · sha256 ")
                item += nodes.literal("", entry.sha256)
                files += nodes.list_item("", item)
            section += files
            out.append(section)
        return out


def _release_and_path(value: str, option: str) -> tuple[str, str]:
    parts = (value or "").split()
    if len(parts) != 2:
        raise ValueError(f"{option} expects '<release> <path>', got {value!r}")
    return parts[0], parts[1]


class PinnedDiffDirective(CitingDirective):
    """``pincite-diff``: one symbol in two releases as a unified diff, both headers shown."""

    required_arguments = 0
    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {
        "old": directives.unchanged_required,
        "new": directives.unchanged_required,
        "pyobject": directives.unchanged_required,
        "old-pyobject": directives.unchanged_required,
        "new-pyobject": directives.unchanged_required,
        **NARROWING_OPTIONS,
        "mode": lambda arg: directives.choice(arg, DIFF_MODES),
        "ignore": directives.unchanged,
        "caption": directives.unchanged,
        "name": directives.unchanged,
        "cause": directives.flag,
        "same": directives.flag,
    }

    def run(self) -> list[nodes.Node]:
        ignore = frozenset((self.options.get("ignore") or "").split())
        mode = self.options.get("mode") or self.config.pincite_diff_mode
        problem = ""
        if "cause" in self.options and "same" in self.options:
            problem = ":cause: (this code changed) and :same: (it did not) contradict each other"
        elif ignore - IGNORABLE:
            problem = (
                f":ignore: takes {' and/or '.join(sorted(IGNORABLE))}, "
                f"got {' '.join(sorted(ignore - IGNORABLE))}"
            )
        elif ignore and mode != "readable":
            problem = ":ignore: needs :mode: readable (the exact diff shows every line)"
        if problem:
            report(self.env, problem, "option", self.get_location())
            return []
        try:
            old_id, old_path = _release_and_path(self.options.get("old", ""), ":old:")
            new_id, new_path = _release_and_path(self.options.get("new", ""), ":new:")
        except ValueError as exc:
            report(self.env, str(exc), "option", self.get_location())
            return []
        common = self.options.get("pyobject")
        old_obj = self.options.get("old-pyobject", common)
        new_obj = self.options.get("new-pyobject", common)
        # The same narrowing applies to both sides: the part of the symbol that changed.
        narrow = {key.replace("-", "_"): self.options.get(key) for key in NARROWING_OPTIONS}
        try:
            old_rel, old_sl, old_sha = self.slice_of(
                old_id, old_path, "old", pyobject=old_obj, **narrow
            )
            new_rel, new_sl, new_sha = self.slice_of(
                new_id, new_path, "new", pyobject=new_obj, **narrow
            )
        except PinciteError as exc:
            return _warn(self, exc)
        old_label = f"{old_rel.label} {old_path} L{old_sl.start}-L{old_sl.end}"
        new_label = f"{new_rel.label} {new_path} L{new_sl.start}-L{new_sl.end}"
        if mode == "readable":
            text = readable_diff(old_sl, new_sl, old_label, new_label, ignore)
        else:
            text = unified_diff(old_sl, new_sl, old_label, new_label)
        unchanged = None
        if not text:
            # Narrowed, only the lines shown are identical: never say so of the whole symbol.
            what = old_obj or old_path
            if any(narrow.values()):
                what = (
                    f"{what}, lines L{old_sl.start}-L{old_sl.end} → L{new_sl.start}-L{new_sl.end}"
                )
            unchanged = f"{what}: no change between {old_rel.label} and {new_rel.label}"
            if "cause" in self.options:
                # The page says this code changed the behaviour; a diff showing nothing refutes it.
                report(
                    self.env,
                    f"{unchanged}, but this diff is marked :cause: of a change: cite the code "
                    "that changed",
                    "cause",
                    self.get_location(),
                )
                return []
            text = "\n".join(new_sl.lines)  # the identical code itself, under the verdict
        elif "same" in self.options:
            # The page says a result carries over because this code is identical; a diff
            # that shows a change refutes it.
            report(
                self.env,
                f"{old_obj or old_path} changed between {old_rel.label} and {new_rel.label}, "
                "but this diff is marked :same: (identical code): say what the change means",
                "same",
                self.get_location(),
            )
            return []
        literal = nodes.literal_block(text, text)
        literal["language"] = "python" if unchanged else "diff"
        self.set_source_info(literal)
        caption = nodes.caption(
            "",
            "",
            nodes.Text("− "),
            self.header(old_rel, old_path, old_sl, old_sha),
            nodes.Text("  → + "),
            self.header(new_rel, new_path, new_sl, new_sha),
        )
        if mode == "readable":
            reflow = [] if "docstrings" in ignore else ["docstring reflow"]
            hidden = ["indentation", "wrapping", "quotes", *reflow, *sorted(ignore)]
            caption += nodes.Text(f" · changes of code only (not shown: {', '.join(hidden)})")
        if self.options.get("caption"):
            caption += nodes.Text(f" — {self.options['caption']}")
        self.set_source_info(caption)
        wrapper = nodes.container(
            "",
            literal_block=True,
            classes=["literal-block-wrapper", "pincite-diff", f"pincite-diff-{mode}"],
        )
        wrapper += caption
        wrapper += literal
        self.add_name(wrapper)
        if unchanged is None:
            return [wrapper]
        # Said in prose, where it wraps on a phone, not as a line of code that scrolls away.
        verdict = nodes.paragraph("", "", classes=["pincite-unchanged"])
        verdict += nodes.strong("", "Identical: ")
        verdict += nodes.Text(unchanged + ".")
        self.set_source_info(verdict)
        return [verdict, wrapper]


def _resolve_paths(app: Sphinx, config: Config) -> None:
    """Make every pincite path absolute (relative ones are taken from the conf directory)."""
    confdir = Path(app.confdir)
    if config.pincite_pins:
        config.pincite_pins = str((confdir / config.pincite_pins).resolve())
        lock = config.pincite_lock
        config.pincite_lock = str(
            (confdir / lock).resolve() if lock else default_lock_path(config.pincite_pins)
        )
    for name in ("pincite_cache_dir", "pincite_materialize_dir"):
        if getattr(config, name):
            setattr(config, name, str((confdir / getattr(config, name)).resolve()))


def _init_store(app: Sphinx) -> None:
    """Check pins and lock before reading starts; materialise sources for autodoc2 if asked."""
    _citations(app.env)
    _failures(app.env).pop("", None)  # what the last build's start found is found again
    _STARTUP_FAILURES.clear()
    if not app.config.pincite_pins:
        return
    try:
        store, _ = get_store(app.config)
        _check_offline(store)
        root = app.config.pincite_materialize_dir
        if root:
            try:
                for rid in sorted(store.pins):  # only pinned releases, never stray lock entries
                    for fpath in sorted(store.lock[rid].files):
                        store.materialize(rid, fpath, Path(root))
            except PinciteError as exc:
                raise type(exc)(f"while materialising into {root}: {exc}") from None
    except PinciteError as exc:
        # One message, located in the file it names, and the build fails at its end: not
        # Sphinx's crash report, and not one message per citation.
        message = exc.advice(commands(app.config))
        report(app.env, message, exc.subtype)
        _STARTUP_FAILURES.add(message)


def _check_offline(store: SourceStore) -> None:
    """Name every file a cold offline build lacks at once, not the first one only."""
    if store.offline and (missing := store.missing_offline()):
        raise OfflineError(
            f"offline build, but {len(missing)} cited file(s) are not in the cache at "
            f"{store.cache.root}: {'; '.join(missing)}"
        )


def fail_closed(app: Sphinx, exception: Exception | None) -> None:
    """End a build in which a citation could not be produced with a non-zero exit status."""
    if exception is not None or app.config.pincite_on_error != "error":
        return
    failed = {
        docname: messages
        for docname, messages in _failures(app.env).items()
        if messages and (not docname or docname in app.env.found_docs)
    }
    if failed:
        pages = ", ".join(sorted(d for d in failed if d)) or "none"
        logger.info(
            "pincite: %d citation error(s) (pages: %s); the build fails. "
            '`pincite_on_error = "warning"` builds drafts anyway.',
            sum(len(m) for m in failed.values()),
            pages,
        )
        app.statuscode = 1


def _append_sources(app: Sphinx, doctree: nodes.document) -> None:
    """End every citing page with the list of the files it cites, with their line ranges."""
    if not app.config.pincite_sources_list:
        return
    cites = getattr(app.env, "pincite_citations", {}).get(app.env.docname)
    if not cites:
        return
    by_file: dict[tuple[str, str], list[CitationRecord]] = {}
    for item in cites:
        by_file.setdefault((item.label, item.path), []).append(item)
    listing = nodes.bullet_list(classes=["pincite-sources"])
    for (label, path), items in by_file.items():
        para = nodes.paragraph("", f"{label} · ")
        para += nodes.literal("", path)
        para += nodes.Text(f" · sha256 {items[0].sha256[:12]} · lines ")
        spans = sorted({(i.start, i.end, i.url) for i in items})
        for n, (start, end, url) in enumerate(spans):
            if n:
                para += nodes.Text(", ")
            span = f"{start}–{end}"
            para += nodes.reference("", span, refuri=url) if url else nodes.Text(span)
        listing += nodes.list_item("", para)
    doctree += nodes.rubric("", "Sources cited on this page", classes=["pincite-sources-title"])
    doctree += listing


class CitationCollector(EnvironmentCollector):
    """Per-page citations in the environment: purged, merged across processes, kept on reuse."""

    def clear_doc(self, app: Sphinx, env: BuildEnvironment, docname: str) -> None:
        """Forget what a page cited, and its failures, before it is read again."""
        _citations(env).pop(docname, None)
        _failures(env).pop(docname, None)

    def merge_other(
        self, app: Sphinx, env: BuildEnvironment, docnames: Set[str], other: BuildEnvironment
    ) -> None:
        """Take the citations of pages read by a parallel worker."""
        for name in ("pincite_citations", "pincite_failures"):
            mine, theirs = _per_page(env, name), _per_page(other, name)
            for docname in docnames:
                if docname in theirs:
                    mine[docname] = theirs[docname]

    def process_doc(self, app: Sphinx, doctree: nodes.document) -> None:
        """Nothing to do here: the directives record while they run."""


def _per_page(env: BuildEnvironment, name: str) -> dict[str, Any]:
    """A per-page table kept in the environment under ``name`` (made on first use)."""
    found: dict[str, Any] | None = getattr(env, name, None)
    if found is None:
        found = {}
        setattr(env, name, found)  # an attribute Sphinx does not declare
    return found


def _citations(env: BuildEnvironment) -> dict[str, list[CitationRecord]]:
    """The per-page citations kept in the environment."""
    return _per_page(env, "pincite_citations")


def _failures(env: BuildEnvironment) -> dict[str, list[str]]:
    """Per page, the citations that could not be produced ("" for the build's start)."""
    return _per_page(env, "pincite_failures")


def write_manifest(app: Sphinx, exception: Exception | None) -> None:
    """Write every citation of the site to ``pincite-citations.json`` at the output's root."""
    if exception is not None or not app.config.pincite_pins:
        return
    records = [
        r for docname in sorted(app.env.found_docs) for r in _citations(app.env).get(docname, [])
    ]
    path = Path(app.outdir) / MANIFEST_NAME
    if dump_manifest(records, path, f"pincite {__version__}"):
        logger.info("pincite: %d citation(s) written to %s", len(records), path)


def setup(app: Sphinx) -> ExtensionMetadata:
    """Register options, directives and events."""
    register(app)
    app.add_directive("pincite-source", PinnedSourceDirective)
    app.add_directive("pincite-diff", PinnedDiffDirective)
    app.add_directive("pincite-releases", ReleasesDirective)
    app.connect("doctree-read", _append_sources)
    # Priority 400: materialise sources before sphinx-autodoc2 (priority 500) analyses them.
    app.connect("config-inited", _resolve_paths)
    app.connect("builder-inited", _init_store, priority=400)
    app.add_env_collector(CitationCollector)
    app.connect("build-finished", write_manifest)
    app.connect("build-finished", fail_closed)
    return {
        "version": __version__,
        "env_version": ENV_VERSION,
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
