"""Run code in a fresh, limited Jupyter kernel with nbclient, surviving loops and crashes.

``KernelSession`` owns one kernel, started with the grader's own interpreter:

- **sandboxed** (the default): inside bubblewrap, as an unprivileged user with no network and
  its own PID namespace, with memory, CPU-time, file-size and process limits (``sandbox.py``);
  it talks to the grader over Unix sockets in a private exchange folder (ZeroMQ ``ipc``);
- **unsandboxed** (``--unsafe-no-sandbox``): a plain child process; a preamble sets
  ``RLIMIT_AS`` so a huge allocation is a ``MemoryError``, and nothing else is limited;
- every execution has a timeout; on timeout the kernel is interrupted (an interrupt message,
  which works across the sandbox wall), and if it does not answer a probe within a few seconds
  (a loop that swallows KeyboardInterrupt) it is restarted;
- a dead kernel (``os._exit``, a segfault, a CPU-time limit) is noticed within about a second
  and restarted; the caller replays the cells that ran before, skipping the crashing one;
- a kernel that fails to start is tried again (``START_ATTEMPTS`` in all).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import zmq
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from course_lib.grading import sandbox

KERNEL_NAME = "python3"
TIMEOUT_ENAME = "CourseGradingTimeout"
PROBE_TIMEOUT = 3.0

# Same settings as the course's test runs; the instructor's environment wins where set.
KERNEL_ENV_DEFAULTS = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
    "TQDM_DISABLE": "1",
    "PYTHONHASHSEED": "0",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_OFFLINE": "1",
}

START_ATTEMPTS = 3
MAX_MESSAGE_BYTES = 96 * 2**20  # a larger message from the kernel drops its connection

# Only without a sandbox: there, limits come from sandbox_exec.py instead.
PREAMBLE = """\
import resource as _resource
if {memory_bytes}:
    _resource.setrlimit(_resource.RLIMIT_AS, ({memory_bytes}, {memory_bytes}))
del _resource
"""

_NOISE = [
    (re.compile(r"0x[0-9a-fA-F]{4,}"), "0x…"),  # memory addresses in reprs
    (re.compile(r"/tmp/ipykernel_\d+/\d+\.py"), "<cell>"),  # IPython's per-process cell files
    (re.compile(r"Cell In\[\d+\]"), "Cell"),
    (re.compile(r"\(\d+\.py, line (\d+)\)"), r"(line \1)"),  # SyntaxError in a cell
]


def clean_message(text: str, limit: int = 300) -> str:
    """One line, no memory addresses or per-process file names, at most ``limit`` characters."""
    for pattern, replacement in _NOISE:
        text = pattern.sub(replacement, text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Execution:
    """The outcome of one execution: ``ok``, ``error``, ``timeout`` or ``crashed``."""

    status: str
    ename: str = ""
    evalue: str = ""
    restarted: bool = False  # the kernel was restarted afterwards (crash, or unstoppable loop)
    outputs: list = field(default_factory=list)

    @property
    def error_text(self) -> str:
        return clean_message(f"{self.ename}: {self.evalue}" if self.evalue else self.ename)


class KernelSession:
    """One grading kernel; use as ``async with KernelSession(...) as session``.

    ``folder`` is a private temporary folder of the grader's; each kernel started gets an
    exchange subfolder there (its sockets, connection file and call payloads, see ``exchange``).
    """

    def __init__(self, folder: Path, limits: sandbox.Limits, sandboxed: bool = True,
                 startup_timeout: int = 60):
        self.folder = Path(folder)
        self.limits = limits
        self.sandboxed = sandboxed
        self.startup_timeout = startup_timeout
        self.restarts = 0
        self.starts = 0
        self.exchange: Path | None = None
        self._reply: dict | None = None
        self.client: NotebookClient | None = None

    async def __aenter__(self) -> KernelSession:
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    def _new_client(self) -> NotebookClient:
        client = NotebookClient(
            nbformat.v4.new_notebook(),
            kernel_name=KERNEL_NAME,
            timeout_func=lambda cell: cell.metadata.get("course_timeout"),
            allow_errors=True,
            interrupt_on_timeout=True,
            error_on_timeout={"ename": TIMEOUT_ENAME, "evalue": "", "traceback": []},
            iopub_timeout=1,
            shutdown_kernel="immediate",
            startup_timeout=self.startup_timeout,
            record_timing=False,
            on_cell_executed=self._remember_reply,
        )
        self.starts += 1
        self.exchange = self.folder / f"kernel-{self.starts}"
        self.exchange.mkdir(mode=0o700)
        sandbox.prepare_exchange(self.exchange)
        km = client.create_kernel_manager()
        km.transport = "ipc"  # Unix sockets: the sandbox has no network, not even loopback
        km.connection_file = str(self.exchange / "kernel.json")
        km.ip = str(self.exchange / "socket")
        km.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        spec = km.kernel_spec
        spec.interrupt_mode = "message"  # a signal cannot reach into the sandbox's PID namespace
        if self.sandboxed:
            env = sandbox.kernel_environment(KERNEL_ENV_DEFAULTS)
            spec.argv = sandbox.kernel_command(self.exchange, env, self.limits)
        else:  # same interpreter as the grader, whatever `python` on PATH is
            spec.argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        km.write_connection_file()
        sandbox.share_file(Path(km.connection_file))
        client.km = km
        return client

    def _remember_reply(self, cell, cell_index, execute_reply) -> None:
        self._reply = execute_reply

    async def _start_once(self) -> None:
        self.client = self._new_client()
        env = ({"PATH": os.environ.get("PATH", "/usr/bin:/bin")} if self.sandboxed
               else {**KERNEL_ENV_DEFAULTS, **os.environ})
        await self.client.async_start_new_kernel(
            cwd=str(self.exchange), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        await self.client.async_start_new_kernel_client()
        memory_bytes = self.limits.memory_mb * 2**20 if not self.sandboxed else 0
        result = await self.execute(PREAMBLE.format(memory_bytes=memory_bytes), timeout=30)
        if result.status != "ok":
            raise RuntimeError(f"the grading preamble failed in the kernel: {result.error_text}")

    async def start(self) -> None:
        """Start a fresh kernel (trying again if it fails to start) and run the preamble."""
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                await self._start_once()
                return
            except Exception as error:  # a kernel that died while starting, a timeout
                await self.close()
                if attempt == START_ATTEMPTS:
                    raise RuntimeError(f"the kernel did not start ({START_ATTEMPTS} attempts; "
                                       f"last: {type(error).__name__}: {error})") from error

    async def close(self) -> None:
        if self.client is not None and self.client.km is not None:
            try:
                await self.client._async_cleanup_kernel()
            except Exception:  # noqa: S110 - a kernel that is already gone is fine
                pass
        self.client = None

    async def restart(self) -> None:
        """Throw the kernel away and start a fresh one (the namespace is lost)."""
        self.restarts += 1
        await self.close()
        await self.start()

    async def execute(self, source: str, timeout: float, store_history: bool = False) -> Execution:
        """Run ``source``; never raises for anything the code does, restarts a broken kernel."""
        assert self.client is not None, "start() the session first"
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["course_timeout"] = max(timeout, 0.1)
        self.client.nb.cells.append(cell)
        self._reply = None
        try:
            await self.client.async_execute_cell(
                cell, len(self.client.nb.cells) - 1, store_history=store_history
            )
        except (DeadKernelError, CellTimeoutError):
            await self.restart()
            return Execution("crashed", restarted=True)
        reply = (self._reply or {}).get("content", {})
        if reply.get("status") != "error":
            return Execution("ok", outputs=list(cell.outputs))
        if reply.get("ename") != TIMEOUT_ENAME:
            return Execution("error", reply.get("ename", ""), reply.get("evalue", ""),
                             outputs=list(cell.outputs))
        # Timed out and interrupted: is the kernel listening again?
        probe = nbformat.v4.new_code_cell("None")
        probe.metadata["course_timeout"] = PROBE_TIMEOUT
        self.client.nb.cells.append(probe)
        self._reply = None
        try:
            await self.client.async_execute_cell(probe, len(self.client.nb.cells) - 1,
                                                 store_history=False)
            answered = (self._reply or {}).get("content", {}).get("status") == "ok"
        except (DeadKernelError, CellTimeoutError):
            answered = False
        if not answered:
            await self.restart()
        return Execution("timeout", restarted=not answered, outputs=list(cell.outputs))
