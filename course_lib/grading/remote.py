"""The grader's side of the sandbox wall: student functions as proxies that return plain data.

Tests run in the grader's own process. In a test's namespace each name the instructor's
solution cells define (``build_vocab``, ``perplexity``, ...) is a ``StudentFunction``: calling it
pickles the arguments into the kernel's exchange folder, runs the student's function in the
sandboxed kernel (``agent.call``) and rebuilds its return value with ``wire.decode`` — plain
data of exact types, made by the grader. So a student object never enters the grader, and
nothing the student's code changes in its own process (``builtins``, ``math.isclose``, the
grading modules, a frame's locals) can reach a check.

What a call does besides: an argument the function changed in place (a tensor, an array, a
generator) is changed the same way in the grader's copy, as if the call had been local; an
exception it raised is raised again here as the nearest builtin class (``ValueError``, ...) so
tests can expect it. A call that times out, or whose kernel dies, raises ``CallTimeout`` or
``KernelDied``: ``BaseException`` subclasses, so a test's ``except Exception`` cannot hide them.
"""

from __future__ import annotations

import asyncio
import builtins
import os
import pickle
import time

from course_lib.grading import agent, wire
from course_lib.grading.runner import KernelSession, clean_message

# Student exceptions are re-raised in the grader as one of these builtin classes (else Exception).
RAISABLE = frozenset({
    "ArithmeticError", "AssertionError", "AttributeError", "BufferError", "EOFError",
    "Exception", "FloatingPointError", "ImportError", "IndexError", "KeyError", "LookupError",
    "MemoryError", "ModuleNotFoundError", "NameError", "NotImplementedError", "OSError",
    "OverflowError", "RecursionError", "RuntimeError", "StopIteration", "TypeError",
    "UnboundLocalError", "ValueError", "ZeroDivisionError",
})


QUIET_CALL_TIMEOUT = 60.0  # for calls outside a test (reading the student's names)


class CallTimeout(BaseException):
    """A student function did not return within the test's time."""


class KernelDied(BaseException):
    """The kernel died during a call (or had died too often to be used again)."""


def student_error(ename: object, evalue: object) -> Exception:
    """A fresh builtin exception standing for one the student's code raised."""
    name = ename if isinstance(ename, str) and ename in RAISABLE else "Exception"
    message = clean_message(evalue) if isinstance(evalue, str) else ""
    error = getattr(builtins, name)(message)
    error.from_student = True
    return error


def _one_result(outputs: list) -> dict:
    """The last agent result among an execution's outputs; TypeError if there is none."""
    found = [o["data"][agent.RESULT_MIME] for o in outputs
             if o.get("output_type") == "display_data" and agent.RESULT_MIME in o.get("data", {})]
    if not found or not isinstance(found[-1], dict):
        raise student_error("TypeError", "the call reported no result (was the grading agent "
                            "in the kernel replaced or broken?)")
    return found[-1]


def _restore(originals: list, changed: object) -> None:
    """Apply in-place changes reported by the kernel to the grader's arguments."""
    if not isinstance(changed, list):
        return
    for item in changed:
        if not (isinstance(item, list) and len(item) == 2 and type(item[0]) is int
                and 0 <= item[0] < len(originals)):
            continue
        original, new = originals[item[0]], wire.decode(item[1])
        if type(new).__name__ == "Generator" and hasattr(original, "set_state"):
            original.set_state(new.get_state())
        elif hasattr(original, "detach") and hasattr(new, "detach"):
            import torch

            with torch.no_grad():
                if new.dtype == original.dtype and new.shape == original.shape:
                    original.copy_(new)
                elif new.dtype == original.dtype:
                    original.set_(new)
        elif hasattr(original, "dtype") and getattr(new, "shape", None) == original.shape:
            original[...] = new


class KernelBridge:
    """Synchronous calls into the kernel, from the thread that runs a test.

    ``replay`` is awaited after a restart (it re-runs the student's cells). ``deadline``
    (``time.monotonic()``) is set by the test runner before each test phase.
    """

    def __init__(self, session: KernelSession, loop: asyncio.AbstractEventLoop, replay,
                 max_restarts: int):
        self.session, self.loop, self.replay = session, loop, replay
        self.restart_limit = session.restarts + max_restarts
        self.deadline = float("inf")
        self.calls = 0

    def _run(self, source: str):
        """Execute ``source`` in the kernel within the deadline; restart and replay if needed."""
        if self.session.restarts > self.restart_limit:
            raise KernelDied("not run: the kernel crashed too often")
        timeout = min(self.deadline - time.monotonic(), QUIET_CALL_TIMEOUT)
        if timeout <= 0:
            raise CallTimeout()

        async def execute():
            run = await self.session.execute(source, timeout)
            if run.restarted:
                await self.replay()
            return run

        run = asyncio.run_coroutine_threadsafe(execute(), self.loop).result()
        if run.status == "crashed":
            raise KernelDied("the kernel died during this test (os._exit, a segfault or similar)")
        if run.status == "timeout":
            raise CallTimeout()
        if run.status == "error":  # the agent itself failed: a broken or replaced kernel
            raise student_error("RuntimeError", f"the call could not run: {run.error_text}")
        return _one_result(run.outputs)

    def call(self, name: str, args: tuple, kwargs: dict):
        """Call the student's ``name``; its return value, rebuilt as plain data."""
        self.calls += 1
        payload = self.session.exchange / f"call-{self.calls}.pickle"
        data = pickle.dumps((args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        try:  # the kernel can write in the exchange folder: never follow a link it left there
            handle = os.open(payload, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except OSError:
            raise student_error("RuntimeError", "the kernel tampered with the grader's exchange "
                                "folder") from None
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        try:
            result = self._run(f"import course_lib.grading.agent as _course_agent\n"
                               f"_course_agent.call({name!r}, {str(payload)!r})")
        finally:
            payload.unlink(missing_ok=True)
        status = result.get("status")
        if status == "raised":
            raise student_error(result.get("ename"), result.get("evalue"))
        if status != "ok":
            raise student_error("TypeError", f"{name} returned a value the grader cannot "
                                f"check: {result.get('evalue', 'unknown')}")
        try:
            value = wire.decode(result.get("value"))
            _restore(wire.leaves([args, kwargs]), result.get("changed"))
        except wire.WireError as error:
            raise student_error("TypeError", f"{name} returned a value the grader cannot "
                                f"check: {error}") from None
        return value

    def describe(self, names: list[str]) -> dict[str, object]:
        """The student's objects for ``names``: a StudentFunction, a plain value, or absent."""
        found = self._run("import course_lib.grading.agent as _course_agent\n"
                          f"_course_agent.describe({names!r})")
        namespace = {}
        for name in names:
            entry = found.get(name)
            if not isinstance(entry, dict):
                continue
            if entry.get("kind") == "callable":
                namespace[name] = StudentFunction(self, name)
            elif entry.get("kind") == "value":
                try:
                    namespace[name] = wire.decode(entry.get("value"))
                except wire.WireError:
                    continue
        return namespace


class StudentFunction:
    """Stands in the grader for a function the student defined; calls it in the sandbox."""

    def __init__(self, bridge: KernelBridge, name: str):
        self._bridge, self.__name__ = bridge, name

    def __call__(self, *args, **kwargs):
        return self._bridge.call(self.__name__, args, kwargs)

    def __reduce__(self):  # passed to another student function: the kernel's own object
        return agent.student_value, (self.__name__,)

    def __repr__(self) -> str:
        return f"<student function {self.__name__}>"
