"""Run a command; write the CPU seconds it used (user and system, its threads and the
processes it waited for) to a file descriptor, then exit with its status.

    python -m claims.cputime FD COMMAND...

The grid runs an environment of a Debian root filesystem through bubblewrap, whose outer
process exits as soon as it learns the command's status, before it collects the command:
the runner's ``wait4`` then sees none of the command's CPU time. This runs inside the root
filesystem, with its Python (3.9), and collects it there.
"""

import os
import subprocess
import sys


def main(argv: list) -> int:
    """Run ``argv[1:]``; write its CPU seconds to the descriptor ``argv[0]``."""
    fd, command = int(argv[0]), argv[1:]
    proc = subprocess.Popen(command)  # the descriptor is not passed on (close_fds)
    _pid, status, usage = os.wait4(proc.pid, 0)
    with os.fdopen(fd, "w") as sink:
        sink.write(f"{usage.ru_utime + usage.ru_stime}\n")
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code  # killed by a signal: as a shell reports it


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
