"""Write a grading result: the grader's JSON, Gradescope's results.json, Markdown feedback, CSV.

Only the result dict from ``autograde.grade_file`` goes in; it never contains hidden test code
(failing hidden tests say only ``hidden test failed: ExceptionName``), so none of these files can
leak it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

RESULT_FILE = "result.json"
GRADESCOPE_FILE = "results.json"
FEEDBACK_FILE = "feedback.md"
GRADEBOOK_FILE = "gradebook.csv"


def _points(value: float) -> str:
    return f"{value:g}"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def feedback_markdown(result: dict) -> str:
    """Feedback for the student: score, every test's outcome, problems while running cells."""
    title = result.get("title") or "unknown exercise"
    lines = [f"# Feedback: {result.get('exercise') or 'submission'} · {title}", ""]
    if result["status"] == "error":
        lines += [f"**This submission could not be graded:** {result['error']}", ""]
    if result.get("sandbox", "").startswith("none"):
        lines += [f"**Warning:** {result['sandbox'].removeprefix('none: ')}", ""]
    lines += [f"**Score: {_points(result['score'])} / {_points(result['max_score'])}**", ""]
    if result["tests"]:
        lines += ["| Test | Points | Result |", "| --- | --- | --- |"]
        for test in result["tests"]:
            lines.append(f"| `{test['id']}` | {_points(test['points'])} / "
                         f"{_points(test['max_points'])} | {test['status'].replace('_', ' ')} |")
        lines.append("")
        failed = [t for t in result["tests"] if t["status"] != "passed"]
        if failed:
            lines += ["## What went wrong", ""]
            lines += [f"- `{t['id']}`: {_cell(t['message'])}" for t in failed]
            lines.append("")
    if result["cell_problems"]:
        lines += ["## Problems while running your cells", ""]
        for problem in result["cell_problems"]:
            task = f", task `{problem['task']}`" if problem["task"] else ""
            lines.append(f"- cell {problem['cell']}{task} (`{_cell(problem['first_line'])}`): "
                         f"{_cell(problem['message'])}")
        lines.append("")
    lines += ["Tests marked as having hidden parts also run checks you could not see; "
              "run your notebook top to bottom in a fresh kernel before submitting.", ""]
    return "\n".join(lines)


def gradescope_results(result: dict) -> dict:
    """Gradescope's autograder ``results.json`` format."""
    output = f"Score {_points(result['score'])} / {_points(result['max_score'])}."
    if result.get("sandbox", "").startswith("none"):
        output = f"Warning: {result['sandbox'].removeprefix('none: ')}\n\n{output}"
    if result["status"] == "error":
        output = f"This submission could not be graded: {result['error']}\n\n{output}"
    if result["cell_problems"]:
        output += "\n\nProblems while running your cells:\n" + "\n".join(
            f"- cell {p['cell']}: {p['message']}" for p in result["cell_problems"])
    return {
        "score": result["score"],
        "output": output,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [{"name": test["id"], "score": test["points"], "max_score": test["max_points"],
                   "status": "passed" if test["status"] == "passed" else "failed",
                   "output": test["message"], "visibility": "visible"}
                  for test in result["tests"]],
    }


def _dump(data: dict) -> str:
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write_result(result: dict, folder: Path) -> Path:
    """Write result.json, results.json and feedback.md into ``folder``; return result.json."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / GRADESCOPE_FILE).write_text(_dump(gradescope_results(result)), encoding="utf-8")
    (folder / FEEDBACK_FILE).write_text(feedback_markdown(result), encoding="utf-8")
    # Last, so that a result.json present means the other files are complete too.
    (folder / RESULT_FILE).write_text(_dump(result), encoding="utf-8")
    return folder / RESULT_FILE


def write_gradebook(results: list[dict], path: Path) -> Path:
    """One row per submission: name, exercise, status, score, max score, points per test, error."""
    test_ids: list[str] = []
    for result in results:
        test_ids += [t["id"] for t in result["tests"] if t["id"] not in test_ids]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", "exercise", "status", "score", "max_score", *test_ids, "error"])
        for result in sorted(results, key=lambda r: r["submission"]):
            points = {t["id"]: _points(t["points"]) for t in result["tests"]}
            writer.writerow([result["submission"], result["exercise"] or "", result["status"],
                             _points(result["score"]), _points(result["max_score"]),
                             *(points.get(i, "") for i in test_ids), result["error"] or ""])
    return path
