"""Run code in a fresh, limited Jupyter kernel with nbclient, surviving loops and crashes.

``KernelSession`` owns one kernel (``python3`` kernelspec, started with ``sys.executable``):

- a *preamble* runs first in every kernel it starts: it sets ``RLIMIT_AS`` (hard and soft, so
  the student cannot raise it) to ``memory_mb``, making a huge allocation a ``MemoryError``
  instead of an out-of-memory kill, and keeps a pristine copy of ``builtins`` for the tests;
- every execution has a timeout; on timeout the kernel is interrupted (KeyboardInterrupt), and
  if it does not answer a probe within a few seconds (a loop that swallows KeyboardInterrupt)
  it is restarted;
- a dead kernel (``os._exit``, segfault) is noticed within about a second and restarted; the
  caller replays the cells that ran before (``replay``), skipping the crashing one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

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

PREAMBLE = """\
def _course_preamble(memory_bytes):
    import builtins, resource, sys, types
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    state = types.ModuleType("_course_grading_state")
    state.builtins = dict(builtins.__dict__)
    sys.modules["_course_grading_state"] = state
_course_preamble({memory_bytes}); del _course_preamble
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
    """One grading kernel; use as ``async with KernelSession(...) as session``."""

    def __init__(self, workdir: str, memory_mb: int | None, startup_timeout: int = 60):
        self.workdir = workdir
        self.memory_mb = memory_mb
        self.startup_timeout = startup_timeout
        self.restarts = 0
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
        client.km = client.create_kernel_manager()
        # Same interpreter as the grader, whatever `python` on PATH is.
        spec = client.km.kernel_spec
        spec.argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        return client

    def _remember_reply(self, cell, cell_index, execute_reply) -> None:
        self._reply = execute_reply

    async def start(self) -> None:
        """Start a fresh kernel and run the preamble."""
        env = {**KERNEL_ENV_DEFAULTS, **os.environ}
        self.client = self._new_client()
        await self.client.async_start_new_kernel(
            cwd=self.workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        await self.client.async_start_new_kernel_client()
        memory_bytes = self.memory_mb * 2**20 if self.memory_mb else 0
        result = await self.execute(PREAMBLE.format(memory_bytes=memory_bytes), timeout=30)
        if result.status != "ok":
            raise RuntimeError(f"the grading preamble failed in the kernel: {result.error_text}")

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
