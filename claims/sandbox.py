"""A Debian root filesystem of another era, and commands run inside it with bubblewrap.

The grid's old releases (tf.keras of TensorFlow 2.5-2.11) need the CPython of their time,
which only an older Debian still packages. ``debootstrap`` makes the root filesystem once;
``bwrap`` runs each command in it inside a new mount namespace, so every mount it makes
(``/proc``, ``/dev``, the grid's folders) belongs to that process alone and vanishes with it:
nothing is left mounted on the host, even when a run is killed. The archive comes from apt's
configuration and the package index from pip's, at run time: no host name is written here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

#: apt's source lists, where the Debian mirror is read from.
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
#: What a command inside the root needs of the host to reach the index (read-only).
NETWORK_FILES = ("/etc/resolv.conf", "/etc/hosts")
#: Host folders every sandbox binds read-only, at their paths (``os.pathsep``-separated): none
#: for a Debian root, which is whole; the tests' stand-in root borrows the host's interpreter.
HOST_BINDS = "GRID_SANDBOX_HOST_BINDS"
#: Where a sandbox with network finds the host's CA bundle (its extra certificates included).
CA_BUNDLE_INSIDE = "/etc/ssl/certs/ca-certificates.crt"
#: The variables a sandboxed command keeps; the host's PIP_*/UV_* settings stay out.
KEPT = re.compile(
    r"^(PYTHONPATH|PYTHONHASHSEED|KERAS_BACKEND|XLA_FLAGS|OMP_NUM_THREADS|TF_CPP_MIN_LOG_LEVEL"
    r"|TF_NUM_(INTRA|INTER)OP_THREADS|TF_USE_LEGACY_KERAS"
    r"|JAX_COMPILATION_CACHE_DIR|JAX_PERSISTENT_CACHE_MIN_(COMPILE_TIME_SECS|ENTRY_SIZE_BYTES))$"
)


class SandboxError(Exception):
    """The root filesystem cannot be made or used (the reason, in the tool's words)."""


def apt_mirror(sources: Iterable[Path] = APT_SOURCES) -> str:
    """The first Debian mirror apt is configured with (deb822 ``URIs:`` or ``deb`` lines)."""
    files: list[Path] = []
    for source in sources:
        files += sorted(source.glob("*")) if source.is_dir() else [source]
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("URIs:"):
                return line.split()[1]
            if line.startswith("deb "):
                words = [w for w in line.split()[1:] if not w.startswith("[")]
                if words:
                    return words[0]
    raise SandboxError("no Debian mirror in apt's configuration (/etc/apt/sources.list*)")


def tool(name: str) -> str:
    """The path of ``debootstrap`` or ``bwrap``, or a message saying how to install it."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if not found:
        package = {"bwrap": "bubblewrap"}.get(name, name)
        raise SandboxError(
            f"{name} is needed for the grid's old releases: apt-get install {package}"
        )
    return found


def bootstrap_command(suite: str, packages: Sequence[str], root: Path, mirror: str) -> list[str]:
    """The ``debootstrap`` command that makes ``root`` (a minimal base, plus ``packages``)."""
    include = ",".join(packages)
    return [
        tool("debootstrap"),
        "--variant=minbase",
        f"--include={include}",
        suite,
        str(root),
        mirror,
    ]


def ca_bundle() -> Path:
    """The host's CA bundle (its extra certificates included), as the host's tools use it."""
    for candidate in (os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise SandboxError("no CA bundle on the host (SSL_CERT_FILE, /etc/ssl/certs)")


def local_sources(args: Sequence[str]) -> list[Path]:
    """The host folders and files uv's source arguments name (``file://`` indexes,
    find-links, constraints): bound read-only at the same path so the arguments still hold.

    A ``file://`` index named ``simple`` (PEP 503's name) is bound with the folder it sits in:
    its pages link to the files beside it (``../files/...``), which pip opens at that path.
    """
    found: list[Path] = []
    for arg in args:
        path = Path(arg[len("file://") :]) if arg.startswith("file://") else Path(arg)
        if arg.startswith("file://") and path.name == "simple":
            path = path.parent
        if path.is_absolute() and path.exists() and path not in found:
            found.append(path)
    return found


def command(
    root: Path,
    argv: Sequence[str],
    *,
    writable: Iterable[Path] = (),
    readable: Iterable[Path] = (),
    env: dict[str, str] | None = None,
    network: bool = False,
) -> list[str]:
    """``argv`` run inside ``root``, with host paths bound at the same path (so a path means
    the same inside and out), a clean environment, and its own /proc and /dev."""
    args = [tool("bwrap"), "--bind", str(root), "/", "--proc", "/proc", "--dev", "/dev"]
    args += ["--tmpfs", "/tmp", "--unshare-pid", "--unshare-ipc", "--die-with-parent"]
    if network:
        bundle = ca_bundle()
        for name in NETWORK_FILES:
            if Path(name).exists():
                args += ["--ro-bind", name, name]
        args += ["--ro-bind", str(bundle), CA_BUNDLE_INSIDE]
    else:
        args.append("--unshare-net")
    borrowed = [Path(p) for p in os.environ.get(HOST_BINDS, "").split(os.pathsep) if p]
    for path in (*borrowed, *readable):
        args += ["--ro-bind", str(path), str(path)]
    for path in writable:
        args += ["--bind", str(path), str(path)]
    args += ["--clearenv", "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin"]
    args += ["--setenv", "HOME", "/root", "--setenv", "LANG", "C.UTF-8"]
    if network:
        args += ["--setenv", "SSL_CERT_FILE", CA_BUNDLE_INSIDE]
        args += ["--setenv", "UV_NATIVE_TLS", "1"]
    for key, value in sorted((env or {}).items()):
        args += ["--setenv", key, value]
    return [*args, "--", *argv]


def kept_environment(environ: dict[str, str]) -> dict[str, str]:
    """The variables of a run that a sandboxed command is given (see `KEPT`)."""
    return {k: v for k, v in environ.items() if KEPT.match(k)}


def mounts_under(path: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> list[str]:
    """Mount points at or below ``path`` in this process's namespace."""
    target = str(path.resolve())
    found = []
    for line in mountinfo.read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == target or point.startswith(target.rstrip("/") + "/"):
            found.append(point)
    return found


def remove_tree(path: Path) -> None:
    """Remove a grid folder, refusing while anything is mounted inside it: a root
    filesystem's ``dev`` must never be deleted through into the host's ``/dev``."""
    if not path.exists() and not path.is_symlink():
        return
    mounted = mounts_under(path)
    if mounted:
        raise SandboxError(f"{path}: not removed, {len(mounted)} mounts inside it: {mounted[0]}")
    # Never follow a link out of the folder, and never cross into another file system.
    device = path.lstat().st_dev
    for top, dirs, _files in os.walk(path, topdown=True, followlinks=False):
        for name in dirs:
            if os.lstat(os.path.join(top, name)).st_dev != device:
                raise SandboxError(f"{path}: not removed, {top}/{name} is another file system")
    shutil.rmtree(path)


def run(argv: Sequence[str], log: Path, timeout: float | None = None) -> int:
    """Run a command with its output appended to ``log``; its exit status."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as sink:
        sink.write("$ " + " ".join(argv[-12:]) + "\n")
        sink.flush()
        try:
            return subprocess.run(
                list(argv), stdout=sink, stderr=subprocess.STDOUT, check=False, timeout=timeout
            ).returncode
        except (OSError, subprocess.TimeoutExpired) as exc:
            sink.write(f"{type(exc).__name__}: {exc}\n")
            return 127
