"""The grader's agent inside the student's kernel: call one student function, report plain data.

The grader runs every test in its own process. When a test calls a student's function, the
grader pickles the arguments into the exchange folder and runs, in the sandboxed kernel,

    import course_lib.grading.agent as agent; agent.call("name", "/exchange/call-3.pickle")

which calls the function and displays one result with ``RESULT_MIME``: the return value in the
restricted ``wire`` format, the arguments it changed in place (tensors, arrays, generators), or
the exception it raised, named by its nearest builtin ancestor class. Nothing here is trusted:
a student may replace this module, and then only changes what their own functions are reported
to return. Pickles go one way only, from the grader into the sandbox.
"""

from __future__ import annotations

import builtins
import pickle

from course_lib.grading import wire

RESULT_MIME = "application/vnd.course.call-result+json"
MESSAGE_LIMIT = 1000


def builtin_name(error: BaseException) -> str:
    """The name of the nearest builtin exception class of ``error`` (``Exception`` if none)."""
    for cls in type(error).__mro__:
        if getattr(builtins, cls.__name__, None) is cls and issubclass(cls, Exception):
            return cls.__name__
    return "Exception"


def _message(error: BaseException) -> str:
    try:
        return str(error)[:MESSAGE_LIMIT]
    except Exception:
        return "(the message could not be shown)"


def _snapshot(value):
    if hasattr(value, "get_state"):
        return value.get_state().clone()
    if hasattr(value, "detach"):
        return value.detach().clone()
    return value.copy()


def _same(before, after) -> bool:
    try:
        if hasattr(after, "get_state"):
            after = after.get_state()
        if hasattr(after, "detach"):
            import torch

            return before.shape == after.shape and before.dtype == after.dtype and bool(
                torch.equal(before, after.detach()))
        import numpy

        return bool(numpy.array_equal(before, after))
    except Exception:
        return False


def _user_namespace() -> dict:
    from IPython import get_ipython

    return get_ipython().user_ns


def _show(result: dict) -> None:
    from IPython.display import display

    display({RESULT_MIME: result}, raw=True)


def call(name: str, payload: str) -> None:
    """Call the student's ``name`` on the pickled ``(args, kwargs)`` and display the outcome."""
    with open(payload, "rb") as handle:
        args, kwargs = pickle.load(handle)
    originals = wire.leaves([args, kwargs])
    before = [_snapshot(leaf) for leaf in originals]
    try:
        value = _user_namespace()[name](*args, **kwargs)
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # SystemExit raised by student code is a failure too
        _show({"status": "raised", "ename": builtin_name(error), "evalue": _message(error)})
        return
    try:
        changed = [[index, wire.encode(leaf)] for index, (old, leaf) in
                   enumerate(zip(before, originals, strict=True)) if not _same(old, leaf)]
        _show({"status": "ok", "value": wire.encode(value), "changed": changed})
    except Exception as error:  # WireError, or a value that breaks while being read
        _show({"status": "unreadable", "evalue": _message(error)})


def describe(names: list[str]) -> None:
    """For each name: missing, a callable, or a value (wire text) in the student's namespace."""
    namespace, found = _user_namespace(), {}
    for name in names:
        if name not in namespace:
            found[name] = {"kind": "missing"}
        elif callable(namespace[name]):
            found[name] = {"kind": "callable"}
        else:
            try:
                found[name] = {"kind": "value", "value": wire.encode(namespace[name])}
            except Exception as error:
                found[name] = {"kind": "unreadable", "evalue": _message(error)}
    _show(found)


def student_value(name: str):
    """The student's object called ``name`` (how a student function passed as an argument to
    another student function is unpickled in the kernel)."""
    return _user_namespace()[name]
