"""Environments forked from one interpreter per base that has already imported its backend.

Importing torch and Keras costs an environment about 4 of its 6 s of CPU; every Keras 3
release over a base imports the same backend from the same folder. So the runner starts, per
base, one server in the base's own interpreter::

    python -m claims.preload NAME MODULE

which imports MODULE (``jax``, ``torch`` or ``tensorflow``: never Keras, never a claim),
listens on the abstract Unix socket NAME (nothing on disk) and forks once per connection, one
environment each: the fork puts the release's overlay first on ``sys.path``, as
``PYTHONPATH`` would, runs ``claims.run`` exactly as ``python -m claims.run`` does, its output
in the environment's log, and answers its exit status and the CPU seconds it used. A reader's
script that starts with ``import torch`` does the same imports in the same order.

TensorFlow looks Keras up while it imports: it adds Keras's API folders to its packages'
``__path__`` and imports ``keras.src.optimizers``. So the server hides ``keras`` while
TensorFlow imports (a placeholder folder instead, and no Keras module is loaded), and each
fork puts the release's folder where the placeholder is, then imports Keras from there, as
the first ``import keras`` of a fresh process would: the same modules and the same
``__path__`` lists as a process started afresh (compared on every TensorFlow base of the
grid, 2.16 to 2.21), and never the Keras the base installed.

The server holds no thread when it forks (the runner gives it ``OMP_NUM_THREADS=1``; a
server whose import started a thread refuses to serve, and its environments run afresh), and
it exits as soon as its standard input closes: when the runner ends or is killed.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.machinery
import importlib.util
import json
import os
import resource
import secrets
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path

#: What the server prints once its module is imported and it listens.
READY = "ready"
#: Set in a fork to the module its server imported, so that the record can say so.
PRELOADED_VARIABLE = "GRID_PRELOADED"
#: How long a server may take to import its backend before the runner gives up on it.
START_SECONDS = 120.0
#: The package a backend looks up while it imports, which the server hides (see above).
HIDDEN = {"tensorflow": "keras"}
#: Where a hidden package seems to be while the backend imports: a folder that never exists.
PLACEHOLDER = "/nonexistent/claims-preload"


def serve(name: str, module: str) -> None:
    """Import ``module``, then fork one environment per connection until stdin closes."""
    with _hidden(HIDDEN.get(module)):
        importlib.import_module(module)  # the one import the base's environments share
    threads = len(os.listdir("/proc/self/task"))
    if threads > 1:  # a fork would copy locks that other threads hold, not the threads
        print(f"{module} started {threads - 1} thread(s) on import: no fork", file=sys.stderr)
        return
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(_abstract(name))
    listener.listen()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the forks
    print(READY, flush=True)
    stdin = sys.stdin.fileno()
    while True:
        ready, _, _ = select.select([listener, stdin], [], [])
        if stdin in ready and not os.read(stdin, 1):
            return  # the runner is gone
        if listener in ready:
            conn, _ = listener.accept()
            if os.fork() == 0:
                listener.close()
                os.environ[PRELOADED_VARIABLE] = module
                os._exit(_environment(conn, module))
            conn.close()


def _environment(conn: socket.socket, module: str) -> int:
    """In the fork: run one environment as ``python -m claims.run`` would; its exit status."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    code = 1
    try:
        request = json.loads(conn.makefile("r").readline())
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        # Where PYTHONPATH would have put the overlay: right after the working folder.
        sys.path[1:1] = [p for p in request["path"] if p not in sys.path]
        os.environ["PYTHONPATH"] = os.pathsep.join(
            [*request["path"], os.environ.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep)
        importlib.invalidate_caches()
        os.environ.update(request["env"])
        tempfile.tempdir = None  # found again from TMPDIR, as in a fresh process
        if module in HIDDEN:
            reveal(HIDDEN[module])
        from claims import run

        sys.argv = [run.__file__, *request["argv"]]
        code = _exit_status(run.main, request["argv"])
    except BaseException:  # the log must say why, whatever it was
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        # A fork starts with its CPU counters at zero: this is the environment's own time.
        used = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        cpu = sum(u.ru_utime + u.ru_stime for u in used)
        with contextlib.suppress(OSError):  # the runner gave up waiting: nothing to tell
            conn.sendall((json.dumps({"exit": code, "cpu": cpu}) + "\n").encode())
    return code


class _Placeholder:
    """A finder that answers for ``name`` with a module no loader can load, found in a
    folder under `PLACEHOLDER`: ``find_spec`` names that folder, ``import`` raises
    ImportError ("missing loader"), which is what TensorFlow expects when Keras is absent."""

    def __init__(self, name: str) -> None:
        self.name = name

    def find_spec(self, fullname: str, path: object = None, target: object = None):
        if fullname != self.name and not fullname.startswith(self.name + "."):
            return None
        origin = f"{PLACEHOLDER}/{self.name}/__init__.py"
        return importlib.machinery.ModuleSpec(fullname, None, origin=origin)


@contextlib.contextmanager
def _hidden(name: str | None):
    """Within the block, the top-level package ``name`` (if any) is the placeholder."""
    if name is None:
        yield
        return
    finder = _Placeholder(name)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def reveal(name: str) -> None:
    """Point every package ``__path__`` entry made from the placeholder of ``name`` at the
    folder ``name`` is found in now (None where it is not found: what TensorFlow stores then)."""
    spec = importlib.util.find_spec(name)
    found = os.path.dirname(spec.origin) if spec and spec.origin else None
    placeholder = f"{PLACEHOLDER}/{name}"
    for module in list(sys.modules.values()):
        path = getattr(module, "__path__", None)
        if not isinstance(path, list):
            continue
        for n, entry in enumerate(path):
            if isinstance(entry, str) and (entry + "/").startswith(placeholder + "/"):
                path[n] = None if found is None else found + entry[len(placeholder) :]


def _exit_status(main, argv: list[str]) -> int:
    """What ``sys.exit(main(argv))`` would leave as the process's exit status."""
    try:
        result = main(argv)
    except SystemExit as exc:
        result = exc.code
    if result is None:
        return 0
    if isinstance(result, int):
        return result & 0xFF
    print(result, file=sys.stderr)
    return 1


class Preloader:
    """The runner's side: one server per (interpreter, module, environment variables)."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self._prefix = f"grid-preload-{os.getpid()}-{secrets.token_hex(4)}"
        self._servers: dict[tuple, tuple[subprocess.Popen, str, str] | None] = {}
        self._lock = threading.Lock()
        #: The CPU seconds of each server stopped, by the name of its log: the import the
        #: environments it forked did not pay themselves.
        self.cpu: dict[str, float] = {}

    def run(
        self,
        python: Path,
        module: str,
        env: dict[str, str],
        argv: list[str],
        path: list[str],
        log: Path,
        own: dict[str, str] | None = None,
    ) -> tuple[int, float | None] | None:
        """Run ``claims.run argv`` in a fork with ``path`` first and the variables ``own``
        set; its exit status (-1: the fork died without answering) and CPU seconds (None: not
        known), or None when no server could start (run it afresh)."""
        server = self.start(python, module, env)
        if server is None:
            return None
        request = {"argv": argv, "path": path, "log": str(log), "env": own or {}}
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(server)
            conn.sendall((json.dumps(request) + "\n").encode())
            reply = conn.makefile("r").readline()
        if not reply:
            return -1, None
        answer = json.loads(reply)
        return int(answer["exit"]), float(answer["cpu"])

    def start(self, python: Path, module: str, env: dict[str, str]) -> str | None:
        """The address of the server for this interpreter and environment, started once."""
        key = (str(python), module, tuple(sorted(env.items())))
        with self._lock:
            if key not in self._servers:
                self._servers[key] = self._start(python, module, env, len(self._servers))
            started = self._servers[key]
        return started[1] if started else None

    def _start(
        self, python: Path, module: str, env: dict[str, str], n: int
    ) -> tuple[subprocess.Popen, str, str] | None:
        name, label = f"{self._prefix}-{n}", f"preload-{n}-{module}"
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{label}.log").open("w") as sink:
            proc = subprocess.Popen(
                [str(python), "-m", "claims.preload", name, module],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=sink,
                env=env,
                text=True,
            )
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], START_SECONDS)
        if ready and proc.stdout.readline().strip() == READY:
            return proc, _abstract(name), label
        _stop(proc)
        return None

    def pids(self) -> list[int]:
        """The process ids of the servers running."""
        with self._lock:
            return [started[0].pid for started in self._servers.values() if started]

    def close(self) -> None:
        """Stop every server (the forks still running finish on their own), keeping the
        CPU seconds each used."""
        with self._lock:
            for started in self._servers.values():
                if started:
                    used = _cpu_seconds(started[0].pid)
                    if used is not None:
                        self.cpu[started[2]] = used
                    _stop(started[0])
            self._servers.clear()


def _cpu_seconds(pid: int) -> float | None:
    """The user and system seconds a live process has used itself (its threads, not the
    forks the kernel reaped for it); None if it has ended."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # After the command's name in parentheses: state, then 10 fields, then utime and stime.
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _abstract(name: str) -> str:
    """A socket address in Linux's abstract namespace: no file to leave behind, ever."""
    return "\0" + name


def _stop(proc: subprocess.Popen) -> None:
    """Close a server's stdin, which ends it; kill it if it does not end."""
    try:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
