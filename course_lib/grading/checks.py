"""Helpers for test cells: closeness checks with messages that say what differs.

Test cells run in the grader's own process (see ``checking.py``), so these helpers, ``math``
and every other module a test imports are the grader's: nothing a student's code did in its
own kernel can change them. They also run in the student's notebook, for the visible tests.
"""

from __future__ import annotations

import math


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
