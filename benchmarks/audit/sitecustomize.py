"""Loaded by every Python process of a benchmarked build (PYTHONPATH): counts what it does.

An audit hook records network connections and kernel launches; at exit each process writes
its counts to $PINCITE_BENCH_AUDIT_DIR/<pid>.json.
"""

import atexit
import json
import os
import sys

_OUT = os.environ.get("PINCITE_BENCH_AUDIT_DIR")
_COUNTS = {"connect": 0, "connect_remote": 0, "getaddrinfo": 0, "kernels": 0, "argv": sys.argv}
_LOOPBACK = ("127.", "::1", "localhost")


def _hook(event, args):
    if event == "socket.connect":
        _COUNTS["connect"] += 1
        address = args[1]
        host = address[0] if isinstance(address, tuple) else str(address)
        if not str(host).startswith(_LOOPBACK) and not str(host).startswith("/"):
            _COUNTS["connect_remote"] += 1
    elif event == "socket.getaddrinfo":
        _COUNTS["getaddrinfo"] += 1
    elif event == "subprocess.Popen":
        argv = " ".join(map(str, args[1] or []))
        if "ipykernel" in argv:
            _COUNTS["kernels"] += 1


def _dump():
    with open(os.path.join(_OUT, f"{os.getpid()}.json"), "w") as fh:
        json.dump(_COUNTS, fh)


if _OUT:
    sys.addaudithook(_hook)
    atexit.register(_dump)
