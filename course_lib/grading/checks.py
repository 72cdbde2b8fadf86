"""Helpers for test cells: fresh, un-monkeypatched copies of modules, and closeness checks.

Test cells import these *inside the test code*; the grader drops ``course_lib.grading.*`` from
``sys.modules`` before every test, so a student who redefined ``assert_close`` or patched this
module gets the original back. ``fresh_import("course_lib.text")`` loads a private copy of a
pure-Python module from its source file, so reference values come from code the student did
not touch (it cannot do this for compiled modules such as torch).
"""

from __future__ import annotations

import importlib.util
import math
import sys
import types


def fresh_import(name: str) -> types.ModuleType:
    """A new copy of a pure-Python module, executed from its source, not from ``sys.modules``."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or not spec.has_location:
        raise ImportError(f"fresh_import needs a pure-Python module with a source file; {name!r} is not")
    private_name = f"_course_fresh_{name.replace('.', '_')}"
    spec = importlib.util.spec_from_file_location(private_name, spec.origin)
    module = importlib.util.module_from_spec(spec)
    sys.modules[private_name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[private_name]
    return module


def assert_close(actual, expected, rel_tol: float = 1e-6, abs_tol: float = 1e-8, what: str = "value"):
    """Raise AssertionError unless two numbers (or equal-length sequences) are close."""
    if isinstance(expected, (int, float)):
        actual_list, expected_list = [actual], [expected]
    else:
        actual_list, expected_list = list(actual), list(expected)
        if len(actual_list) != len(expected_list):
            raise AssertionError(f"{what}: expected {len(expected_list)} numbers, got {len(actual_list)}")
    for a, e in zip(actual_list, expected_list, strict=True):
        if not isinstance(a, (int, float)) or isinstance(a, bool):
            try:
                a = float(a)
            except (TypeError, ValueError):
                raise AssertionError(f"{what}: expected a number, got {type(a).__name__}") from None
        if not math.isclose(a, e, rel_tol=rel_tol, abs_tol=abs_tol):
            raise AssertionError(f"{what}: {a!r} is not close to the expected value")
