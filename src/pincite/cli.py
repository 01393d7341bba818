"""Command line: ``pincite add`` pins a release, ``pincite lock`` writes the lock, ``pincite fetch``
fills the cache, ``pincite drift`` compares citations with newer releases."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pincite.cache import Cache, default_cache_dir
from pincite.errors import PinciteError
from pincite.http import HttpClient
from pincite.index import default_index_url
from pincite.lock import check_fresh, default_lock_path, dump_lock, load_lock
from pincite.pins import load_pins
from pincite.store import SourceStore


def _lock(args: argparse.Namespace) -> int:
    from pincite.lockbuild import WheelCache, build_lock

    pins = load_pins(args.pins)
    lock_path = Path(args.lock) if args.lock else default_lock_path(args.pins)
    previous = None
    if lock_path.exists() and not args.refresh:
        try:
            previous = load_lock(lock_path)
        except PinciteError as exc:
            print(f"pincite lock: not reusing {lock_path} ({exc})", file=sys.stderr)
    http = HttpClient(timeout=args.timeout)
    locked = build_lock(
        pins,
        http,
        args.index_url or default_index_url(),
        previous=previous,
        wheels=WheelCache(Path(args.cache_dir) if args.cache_dir else default_cache_dir()),
    )
    dump_lock(locked, lock_path)
    n_files = sum(len(r.files) for r in locked.values())
    print(f"wrote {lock_path}: {len(locked)} release(s), {n_files} file(s); {_traffic(http)}")
    return 0


def _traffic(http: HttpClient) -> str:
    """What a command cost on the network, in one phrase."""
    return f"{http.stats.requests} request(s), {http.stats.bytes_received:,} bytes received"


def _open_store(args: argparse.Namespace) -> SourceStore:
    """The store for the pins, lock, cache and index named on the command line."""
    pins = load_pins(args.pins)
    lock_path = Path(args.lock) if args.lock else default_lock_path(args.pins)
    lock = load_lock(lock_path)
    check_fresh(pins, lock, lock_path)
    cache = Cache(args.cache_dir or default_cache_dir())
    http = HttpClient(timeout=args.timeout)
    return SourceStore(pins, lock, cache, index_url=args.index_url or None, http=http)


def _fetch(args: argparse.Namespace) -> int:
    store = _open_store(args)
    lock, http = store.lock, store.http
    began = time.perf_counter()
    for rid, rel in sorted(lock.items()):
        for path in sorted(rel.files):
            store.read_bytes(rid, path)
    elapsed = time.perf_counter() - began
    n_files = sum(len(r.files) for r in lock.values())
    print(f"materialised {n_files} file(s) in {elapsed:.2f} s: {_traffic(http)}")
    return 0


def _add(args: argparse.Namespace) -> int:
    from pincite.add import add_to_pins, propose

    http = HttpClient(timeout=args.timeout)
    index_url = args.index_url or default_index_url()
    proposal = propose(http, index_url, args.requirement, args.files, args.id)
    pins = Path(args.pins)
    add_to_pins(pins, proposal)
    print(f"added to {pins}, from the index at {index_url}:\n\n{proposal.toml()}")
    for note in proposal.notes:
        print(f"note: {note}")
    print(f"next: pincite lock --pins {pins}   ({_traffic(http)})")
    return 0


def _drift(args: argparse.Namespace) -> int:
    from pincite.drift import check_drift, format_report
    from pincite.manifest import load_manifest

    citations = load_manifest(args.manifest)
    store = _open_store(args)
    http = store.http
    print(format_report(check_drift(store, citations, http), show_diffs=not args.no_diffs))
    print(f"({_traffic(http)})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="pincite", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, help_ in (
        ("add", _add, "pin a release: write its entry (wheel, repository, tag) from the index"),
        ("lock", _lock, "download every pinned wheel, verify it, write the lock"),
        ("fetch", _fetch, "materialise every locked file into the cache"),
        ("drift", _drift, "compare every cited symbol with the newest release (read-only)"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument(
            "--pins", default="snippets/pins.toml", help="the pins file (default: %(default)s)"
        )
        p.add_argument("--lock", default="", help="the lock (default: next to the pins file)")
        p.add_argument("--index-url", default="", help="default: the index pip uses")
        p.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
        p.add_argument("--cache-dir", default="", help="default: the user cache folder")
        if name == "add":
            p.add_argument("requirement", help="the release, e.g. requests==2.31.0")
            p.add_argument(
                "--files", nargs="+", default=[], metavar="PATH", help="paths in the wheel to cite"
            )
            p.add_argument("--id", default="", help="the release id (default: <project>-<version>)")
        if name == "lock":
            p.add_argument(
                "--refresh",
                action="store_true",
                help="ask the index for every wheel again, even those the lock already verified",
            )
        if name == "drift":
            p.add_argument(
                "--manifest",
                default="build/html/pincite-citations.json",
                help="the citations manifest a build wrote (pincite-citations.json)",
            )
            p.add_argument("--no-diffs", action="store_true", help="statuses only")
        p.set_defaults(func=func)
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
        return status
    except PinciteError as exc:
        commands = {
            "lock": f"pincite lock --pins {args.pins}",
            "fetch": f"pincite fetch --pins {args.pins}",
        }
        print(f"pincite {args.command}: error: {exc.advice(commands)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
