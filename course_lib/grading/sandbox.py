"""The sandbox a student's kernel runs in: bubblewrap, an unprivileged user, no network.

``kernel_command`` returns the command line that starts an IPython kernel inside
`bubblewrap <https://github.com/containers/bubblewrap>`_ (Debian/Ubuntu: ``apt-get install
bubblewrap``; Fedora: ``dnf install bubblewrap``). What the kernel gets:

- **its own view of the filesystem**, built from nothing: the system's ``/usr`` and ``/etc``,
  the Python installation and virtual environment, the ``course_lib`` package and the corpora
  folders (``COURSE_DATA_DIR``, the course cache), all read-only; a private, size-limited
  ``/tmp`` and home folder; and one exchange folder where its sockets live. Nothing else of
  the instructor's: not the solutions, not ``--out``, not the grader's home or repository;
- **an unprivileged user**: run as root, the grader drops each kernel to a user id of its own
  (``sandbox_uid``, 200000-299999, no account; so the process limit of one kernel does not
  count another's); run as a normal user, bubblewrap maps that user into a user namespace
  without privileges;
- **its own PID, network, IPC and UTS namespaces**: it sees only its own processes, cannot
  signal the grader, has no network at all, and every process it starts dies with it
  (``--die-with-parent``; a PID namespace ends when its first process ends);
- **limits** set by ``sandbox_exec.py`` just before the kernel starts: address space, CPU
  time, file size, process count, no core files.

``probe()`` says whether a working bubblewrap is installed; the grader refuses to run without
one unless given ``--unsafe-no-sandbox``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

UID_BASE, UID_RANGE = 200_000, 100_000  # run as root: each kernel gets its own unused user id
HOME = "/home/student"
EXEC_SCRIPT = Path(__file__).with_name("sandbox_exec.py")
INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`, Fedora: "
                "`dnf install bubblewrap`), or pass --unsafe-no-sandbox to grade without one "
                "(then student code can read and change anything the grader can)")


class SandboxUnavailable(RuntimeError):
    """No working sandbox on this machine (the message says how to get one)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed kernel (MiB, seconds, count)."""

    memory_mb: int = 4096  # address space; 0 = none
    cpu_seconds: int = 900  # CPU time of the kernel process, all its threads together
    file_size_mb: int = 256  # the largest file it may write
    processes: int = 256  # processes and threads it may add to its user's count
    tmp_mb: int = 512  # size of its /tmp and of its home folder, each


def find_bwrap() -> str | None:
    """The path of the ``bwrap`` program, or None."""
    return shutil.which("bwrap")


@functools.lru_cache(maxsize=1)
def probe() -> str:
    """bubblewrap's version line if it can start a sandbox here; SandboxUnavailable otherwise."""
    bwrap = find_bwrap()
    if bwrap is None:
        raise SandboxUnavailable(f"bubblewrap (`bwrap`) is not installed: {INSTALL_HINT}")
    command = [bwrap, *_namespace_flags(), *_system_binds(), "--", "/bin/true"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise SandboxUnavailable(
            f"bubblewrap is installed but cannot start a sandbox here ({done.stderr.strip()[:200]}); "
            "user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone=1), or "
            f"run the grader as root; otherwise {INSTALL_HINT}")
    version = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10)
    return version.stdout.strip() or "bubblewrap"


def _namespace_flags() -> list[str]:
    flags = ["--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
             "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
    if os.geteuid() != 0:  # an unprivileged user needs a user namespace for all of the above
        flags.insert(0, "--unshare-user")
    return flags


def _system_binds() -> list[str]:
    binds = ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc",
             "--dev", "/dev", "--proc", "/proc"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            binds += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            binds += ["--ro-bind", str(path), str(path)]
    return binds


def _parents(path: Path) -> list[Path]:
    """Ancestors of ``path`` below ``/``, outermost first."""
    return [p for p in reversed(path.parents) if p != Path("/")]


def _mount_points(read_only: list[Path], writable: list[Path]) -> list[str]:
    """Bind mounts, creating every parent folder with mode 0755 so ``nobody`` can traverse it."""
    args: list[str] = []
    made: set[Path] = set()
    for path, flag in [*((p, "--ro-bind") for p in read_only), *((p, "--bind") for p in writable)]:
        for parent in _parents(path):
            if parent not in made and not parent.is_relative_to("/usr"):
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        args += [flag, str(path), str(path)]
        made.add(path)
    return args


def course_lib_folder() -> Path:
    """The folder of the ``course_lib`` package this grader imported (resolved): the copy the
    sandbox binds, and the one the kernel must import."""
    import course_lib

    return Path(course_lib.__file__).resolve().parent


def read_only_paths() -> list[Path]:
    """What the kernel may read besides the system: Python, the venv, course_lib, corpora."""
    paths = [Path(sys.base_prefix), Path(sys.prefix), course_lib_folder()]
    for variable in ("COURSE_DATA_DIR", "COURSE_CACHE_DIR"):
        if os.environ.get(variable):
            paths.append(Path(os.environ[variable]))
    kept: list[Path] = []
    for path in sorted({p.resolve() for p in paths if p.exists()}, key=lambda p: len(p.parts)):
        if not path.is_relative_to("/usr") and not any(path.is_relative_to(k) for k in kept):
            kept.append(path)
    return kept


def kernel_environment(base: dict[str, str]) -> dict[str, str]:
    """The kernel's environment: ``base`` (the grading defaults) plus a home, a PATH, and a
    PYTHONPATH that makes ``import course_lib`` find the copy the grader imported (the one
    ``read_only_paths`` binds), not whatever the virtual environment would resolve: with the
    grader's ``course_lib`` from another checkout, that one is not in the sandbox at all."""
    env = {key: value for key, value in base.items() if key.isidentifier()}
    env.update({"HOME": HOME, "USER": "student", "LOGNAME": "student", "IPYTHONDIR": f"{HOME}/.ipython", "MPLCONFIGDIR": f"{HOME}/.mpl",
                "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "LANG": "C.UTF-8",
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONPATH": str(course_lib_folder().parent)})
    for variable in ("COURSE_DATA_DIR", "COURSE_CACHE_DIR"):
        if os.environ.get(variable):
            env[variable] = os.environ[variable]
    return env


def processes_of(uid: int) -> int:
    """Threads of every process of ``uid`` on this machine (what RLIMIT_NPROC counts)."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry}/task"))
            except OSError:
                continue
    return count


def kernel_command(exchange: Path, env: dict[str, str], limits: Limits) -> list[str]:
    """The command that starts ``ipykernel`` in a sandbox; ``{connection_file}`` is filled in
    by jupyter_client. ``exchange`` is the only folder shared with the grader (writable)."""
    bwrap = find_bwrap()
    if bwrap is None:
        raise SandboxUnavailable(f"bubblewrap (`bwrap`) is not installed: {INSTALL_HINT}")
    size = str(limits.tmp_mb * 2**20)
    args = [bwrap, *_namespace_flags(), "--clearenv"]
    for key, value in sorted(env.items()):
        args += ["--setenv", key, value]
    args += _system_binds()
    args += ["--perms", "01777", "--size", size, "--tmpfs", "/tmp",
             "--perms", "0755", "--dir", "/home",
             "--perms", "01777", "--size", size, "--tmpfs", HOME, "--chdir", HOME]
    args += _mount_points(read_only_paths(), [exchange.resolve()])
    uid = sandbox_uid(exchange) if os.geteuid() == 0 else os.getuid()
    drop = [f"--uid={uid}"] if os.geteuid() == 0 else []
    processes = limits.processes + processes_of(uid)
    args += ["--", sys.executable, "-I", "-S", str(EXEC_SCRIPT), *drop,
             f"--memory-mb={limits.memory_mb}", f"--cpu-seconds={limits.cpu_seconds}",
             f"--file-size-mb={limits.file_size_mb}", f"--processes={processes}",
             "--", sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    return args


def sandbox_uid(exchange: Path) -> int:
    """The user id a kernel runs as under a root grader: one per exchange folder."""
    digest = hashlib.sha256(str(exchange.resolve()).encode()).digest()
    return UID_BASE + int.from_bytes(digest[:4], "big") % UID_RANGE


def prepare_exchange(folder: Path) -> None:
    """Let the sandboxed kernel create its sockets in ``folder`` (under a root grader it runs
    as its own unprivileged user)."""
    if os.geteuid() == 0:
        os.chown(folder, sandbox_uid(folder), sandbox_uid(folder))


def share_file(path: Path) -> None:
    """Let the sandboxed kernel read a file the grader wrote (jupyter writes them 0600)."""
    if os.geteuid() == 0:
        os.chown(path, sandbox_uid(path.parent), sandbox_uid(path.parent))
