"""Fetch every locked citation from an empty cache; compare with `pip download` of the wheels.

Run with `nox -s bench-fetch`. Prints one table: bytes and seconds for each way.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pincite.cache import Cache
from pincite.http import HttpClient
from pincite.lock import check_fresh, default_lock_path, load_lock
from pincite.pins import load_pins
from pincite.store import SourceStore

ROOT = Path(__file__).resolve().parent.parent


def pip_download_args(wheel: str) -> list[str]:
    """`pip download` arguments that fetch exactly this wheel file, whatever Python runs pip."""
    name, version, *_, py, abi, plat = wheel[:-4].split("-")
    args = [f"{name}=={version}", "--no-deps", "--only-binary=:all:"]
    if abi != "none":  # a platform wheel: ask for its tags explicitly
        args += ["--python-version", py.removeprefix("cp"), "--abi", abi, "--platform", plat]
    return args


def main() -> int:
    """Measure and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pins", default=str(ROOT / "snippets" / "pins.toml"))
    parser.add_argument("--skip-pip", action="store_true", help="only measure pincite")
    args = parser.parse_args()
    pins = load_pins(args.pins)
    lock_path = default_lock_path(args.pins)
    lock = load_lock(lock_path)
    check_fresh(pins, lock, lock_path)
    compressed = sum(f.compressed_size for r in lock.values() for f in r.files.values())
    wheels = sum(r.wheel_size for r in lock.values())
    n_files = sum(len(r.files) for r in lock.values())

    with tempfile.TemporaryDirectory() as tmp:
        http = HttpClient(timeout=60)
        store = SourceStore(pins, lock, Cache(Path(tmp) / "cache"), http=http)
        began = time.perf_counter()
        for rid, rel in sorted(lock.items()):
            for path in sorted(rel.files):
                store.read_bytes(rid, path)
        pincite_s = time.perf_counter() - began
    kinds = http.stats.bytes_by_kind
    rows = [
        ("cited files, compressed sum (lock)", compressed, None, f"{n_files} files"),
        ("pincite: member bytes (range requests)", kinds.get("range", 0), pincite_s, ""),
        ("pincite: index listings (PEP 691 JSON)", kinds.get("index", 0), None, ""),
        ("pincite: whole-wheel fallbacks", kinds.get("whole", 0), None, ""),
        (
            "pincite: total received",
            http.stats.bytes_received,
            pincite_s,
            f"{http.stats.requests} requests",
        ),
    ]
    if not args.skip_pip:
        with tempfile.TemporaryDirectory() as dest:
            began = time.perf_counter()
            for rel in lock.values():
                done = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "pip",
                        "download",
                        "--quiet",
                        "--no-cache-dir",
                        "--dest",
                        dest,
                        *pip_download_args(rel.wheel),
                    ],
                    capture_output=True,
                    text=True,
                )
                if done.returncode:  # pip's own notices are noise unless it failed
                    sys.exit(f"pip download failed for {rel.wheel}:\n{done.stderr}")
            pip_s = time.perf_counter() - began
            got = sum(p.stat().st_size for p in Path(dest).iterdir())
        rows.append(("pip download of the same wheels", got, pip_s, f"{len(lock)} wheels"))
    rows.append(("(the wheels' size, from the lock)", wheels, None, ""))

    print(f"\n{'what':44} {'bytes':>13} {'x cited':>8} {'seconds':>8}  note")
    for what, n, secs, note in rows:
        ratio = f"{n / compressed:8.2f}"
        shown = "" if secs is None else f"{secs:.2f}"
        print(f"{what:44} {n:13,} {ratio} {shown:>8}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
