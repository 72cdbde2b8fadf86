"""Run the instructor's tests in the grader's own process, against proxies of the student's code.

``run_tests(exercise, bridge, timeout)`` gives one entry per test (see ``test_entry``). Each
test gets a namespace of its own: the instructor's setup cells are executed here, then each
name the solution cells define is bound to the student's object as the kernel reports it
(``KernelBridge.describe``); the test's hidden part later runs in the namespace its visible part
left. The test's own imports and helpers are the
grader's: untouched by anything the student ran.

Messages: a visible failure shows the test's line and the error (cleaned, at most
``MESSAGE_LIMIT`` characters); a hidden failure shows only ``hidden test failed: <name>``, the
name of a builtin exception class. Nothing else of a hidden part reaches a result.
"""

from __future__ import annotations

import contextlib
import io
import random
import sys
import time
import traceback
import warnings

from course_lib.grading.agent import builtin_name
from course_lib.grading.notebook_format import Exercise, TestCell
from course_lib.grading.remote import CallTimeout, KernelBridge, KernelDied
from course_lib.grading.runner import clean_message

MESSAGE_LIMIT = 300
SEED = 0


class SetupError(RuntimeError):
    """An instructor setup cell that fails in the grader: the exercise is broken, not the
    submission."""


def test_entry(test: TestCell, status: str, message: str) -> dict:
    """The result entry of one test: points only when it passed."""
    return {"id": test.id, "points": test.points if status == "passed" else 0.0,
            "max_points": test.points, "status": status, "hidden": test.has_hidden,
            "message": message}


def _runnable(source: str) -> str:
    """A setup cell without IPython's ``%magic`` and ``!shell`` lines (they mean nothing here)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.split("\n"))


def _quietly(code, namespace: dict) -> None:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        exec(code, namespace)  # noqa: S102 - the instructor's own code, in the grader


def _namespace(exercise: Exercise, bridge: KernelBridge) -> dict:
    namespace: dict = {"__name__": "__course_test__"}
    for number, source in enumerate(exercise.setup_sources, start=1):
        try:
            _quietly(compile(_runnable(source), f"<setup {number}>", "exec"), namespace)
        except Exception as error:
            raise SetupError(f"setup cell {number} of {exercise.name} failed in the grader: "
                             f"{type(error).__name__}: {error}") from error
    for name in exercise.student_names:
        namespace.pop(name, None)
    namespace.update(bridge.describe(list(exercise.student_names)))
    return namespace


def _seed() -> None:
    random.seed(SEED)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(SEED)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(SEED)


def _random_state() -> dict:
    state = {"random": random.getstate()}
    if "numpy" in sys.modules:
        state["numpy"] = sys.modules["numpy"].random.get_state()
    if "torch" in sys.modules:
        state["torch"] = sys.modules["torch"].get_rng_state()
    return state


def _set_random_state(state: dict) -> None:
    random.setstate(state["random"])
    if "numpy" in state:
        sys.modules["numpy"].random.set_state(state["numpy"])
    if "torch" in state:
        sys.modules["torch"].set_rng_state(state["torch"])


def _run_part(test: TestCell, hidden: bool, namespace: dict, bridge: KernelBridge,
              timeout: float) -> tuple[str, str]:
    """(status, message) of one part of a test."""
    filename = f"<test {test.id}>"
    bridge.deadline = time.monotonic() + timeout
    try:
        _quietly(compile(test.part(hidden), filename, "exec"), namespace)
    except CallTimeout:
        return "timeout", f"did not finish within {timeout:g} s"
    except KernelDied as error:
        return ("not_run" if str(error).startswith("not run") else "error"), str(error)
    except Exception as error:
        name = builtin_name(error)
        if hidden:
            return "failed", f"hidden test failed: {name}"
        lines = [n for frame, n in traceback.walk_tb(error.__traceback__)
                 if frame.f_code.co_filename == filename]
        try:
            text = str(error)
        except Exception:
            text = ""
        detail = f"{name}: {text}" if text else name
        if not lines:
            return "failed", clean_message(detail, MESSAGE_LIMIT)
        code = test.source.split("\n")[lines[-1] - 1].strip()
        return "failed", clean_message(f"line {lines[-1]}: {code} -> {detail}", MESSAGE_LIMIT)
    except BaseException as error:  # SystemExit and the like from the test code itself
        return "error", f"the test stopped with {type(error).__name__}"
    finally:
        bridge.deadline = float("inf")
    return "passed", "passed"


def run_tests(exercise: Exercise, bridge: KernelBridge, timeout: float) -> list[dict]:
    """Every test's entry: all visible parts first, then the hidden parts of those that passed."""
    outcomes: dict[str, tuple[str, str]] = {}
    pending: list[tuple[TestCell, dict, dict]] = []
    for test in exercise.tests:
        try:
            namespace = _namespace(exercise, bridge)
        except (CallTimeout, KernelDied) as error:
            outcomes[test.id] = ("error", f"could not reach your functions: {error!s}")
            continue
        except Exception as error:
            if not getattr(error, "from_student", False):
                raise
            outcomes[test.id] = ("error", clean_message(
                f"could not reach your functions: {error}", MESSAGE_LIMIT))
            continue
        _seed()
        outcomes[test.id] = _run_part(test, False, namespace, bridge, timeout)
        if outcomes[test.id][0] == "passed" and test.has_hidden:
            pending.append((test, namespace, _random_state()))
    for test, namespace, state in pending:
        _set_random_state(state)
        outcomes[test.id] = _run_part(test, True, namespace, bridge, timeout)
    return [test_entry(test, *outcomes[test.id]) for test in exercise.tests]
