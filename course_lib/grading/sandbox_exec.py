"""Inside the sandbox, just before the kernel: set limits, drop to nobody, exec the kernel.

    python -I -S sandbox_exec.py [--uid=N] --memory-mb=M --cpu-seconds=S --file-size-mb=F
        --processes=P -- KERNEL COMMAND...

Run by bubblewrap (see ``sandbox.py``) with the standard library only. Limits are set hard
and soft, so the student's code cannot raise them again. ``--uid`` (given when the grader runs
as root) drops every privilege: supplementary groups, group, user. ``--processes`` is absolute: RLIMIT_NPROC
counts every process and thread of the user, so the grader adds what that user already runs.
"""

import os
import resource
import sys


def _options(argv: list[str]) -> tuple[dict[str, int], list[str]]:
    split = argv.index("--")
    options = {}
    for item in argv[:split]:
        name, _, value = item.removeprefix("--").partition("=")
        options[name] = int(value)
    return options, argv[split + 1 :]


def main(argv: list[str]) -> None:
    options, command = _options(argv)
    mib = 2**20
    if options.get("memory-mb"):
        limit = options["memory-mb"] * mib
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    cpu = options["cpu-seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    size = options["file-size-mb"] * mib
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    uid = options.get("uid")
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        if os.getuid() != uid or os.geteuid() != uid:
            raise SystemExit("sandbox_exec: could not drop privileges")
    processes = options["processes"]
    resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    os.environ.pop("JPY_PARENT_PID", None)  # the kernel's parent is the sandbox's init
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
