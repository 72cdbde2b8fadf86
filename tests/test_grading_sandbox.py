"""The sandbox wall: the restricted wire format, the kernel's view of the machine, grading as a
normal user, and what happens without bubblewrap."""

import asyncio
import collections
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

import course_lib
from course_lib.cli import build_parser
from course_lib.grading import sandbox, wire
from course_lib.grading.grader import find_submissions, result_folder, safe_name
from course_lib.grading.runner import KernelSession

ROOT = Path(__file__).resolve().parents[1]
TINY_SOLUTIONS = ROOT / "tests" / "fixtures" / "grading" / "solutions"


# --- the wire format ---------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    None, True, 0, -10**40, 2.5, -0.0, "text", b"\x00\xff", 1 + 2j, [1, [2.0, "x"]], (1, (2,)),
    {"a": 1, (1, 2): [3]}, {1, 2}, frozenset({"z"}), collections.Counter("abca"),
    np.float32(1.5), np.arange(6, dtype=np.int16).reshape(2, 3), np.array([True, False]),
])
def test_wire_rebuilds_plain_values_with_their_exact_types(value):
    rebuilt = wire.decode(wire.encode(value))
    assert type(rebuilt) is type(value)
    if isinstance(value, np.ndarray):
        assert rebuilt.dtype == value.dtype and np.array_equal(rebuilt, value)
    else:
        assert rebuilt == value


def test_wire_rebuilds_tensors_generators_and_special_floats():
    for tensor in [torch.tensor(3.5), torch.zeros(0, 3), torch.arange(6).view(2, 3).T,
                   torch.tensor([True, False]), torch.randn(4, dtype=torch.bfloat16),
                   torch.randn(3, requires_grad=True)]:
        rebuilt = wire.decode(wire.encode(tensor))
        assert type(rebuilt) is torch.Tensor and rebuilt.dtype == tensor.dtype
        assert torch.equal(rebuilt, tensor.detach()) and not rebuilt.requires_grad
    generator = torch.Generator().manual_seed(3)
    copy = wire.decode(wire.encode(generator))
    assert torch.equal(torch.rand(4, generator=copy), torch.rand(4, generator=generator))
    assert [str(wire.decode(wire.encode(v))) for v in (math.nan, math.inf, -math.inf)] == [
        "nan", "inf", "-inf"]


def test_wire_refuses_what_it_cannot_check():
    class Anything:
        def __eq__(self, other):
            return True

    class Zero(float):
        pass

    for value in [Anything(), Zero(1.0), object(), np.array(["a"], dtype=object), len]:
        with pytest.raises(wire.WireError, match="cannot be checked"):
            wire.encode(value)
    deep: list = []
    for _ in range(wire.MAX_DEPTH + 2):
        deep = [deep]
    with pytest.raises(wire.WireError, match="nested"):
        wire.encode(deep)


@pytest.mark.parametrize("text", [
    '["pickle", "gASV"]', '["int", "12a"]', '["int", 5]', '["bool", 1]', '["str", 5]',
    '["tensor", "float32", [2], "AAAA"]', '["tensor", "object", [1], "AA=="]',
    '["tensor", "bool", [1], "Ag=="]', '["ndarray", "float64", [-1], ""]',
    '["float", NaN]', '["list", [["none"], "x"]]', '["set", [["list", []]]]', '[]', '{}',
    '["dict", [[["list", []], ["none"]]]]', '["generator", "AAAA"]', "not json",
    "[" * 5000 + "]" * 5000,
])
def test_wire_refuses_malformed_text(text):
    with pytest.raises(wire.WireError):
        wire.decode(text)


def test_wire_limits_the_size_of_what_a_kernel_sends():
    with pytest.raises(wire.WireError, match="MiB"):
        wire.decode(json.dumps(["str", "x" * (wire.MAX_BYTES + 1)]))


# --- names and folders -------------------------------------------------------------------------

def test_submission_names_cannot_leave_the_output_folder(tmp_path):
    (tmp_path / "class" / "a b").mkdir(parents=True)
    (tmp_path / "class" / "...ipynb").write_text("{}")
    (tmp_path / "class" / "a b" / "x;rm.ipynb").write_text("{}")
    (tmp_path / "class" / "dir.ipynb").mkdir()
    found = dict(find_submissions([tmp_path / "class"]))
    assert sorted(found) == ["_..", "a_b__x_rm"]
    out = tmp_path / "out"
    for name in found:
        assert result_folder(out, name).parent == out
    for bad in ("..", "../x", "a/b", ".hidden"):
        with pytest.raises(ValueError, match="unsafe submission name"):
            result_folder(out, bad)
    assert safe_name(("..",)) == "_.."


def test_a_killed_worker_leaves_an_error_result_and_no_temporary_files(tmp_path, monkeypatch):
    from course_lib.grading import grader

    left, real_run = [], subprocess.run

    def killed_worker(command, **kwargs):
        if "--tmp-dir" not in command:  # bubblewrap's probe
            return real_run(command, **kwargs)
        folder = Path(command[command.index("--tmp-dir") + 1])
        (folder / "kernel-1").mkdir()
        (folder / "kernel-1" / "kernel.json").write_text("{}")
        left.append(folder)
        raise subprocess.TimeoutExpired(command, 1)

    monkeypatch.setattr(grader.subprocess, "run", killed_worker)
    submission = tmp_path / "s.ipynb"
    shutil.copy(TINY_SOLUTIONS / "90_tiny.ipynb", submission)
    args = build_parser().parse_args(["grade", str(tmp_path), "--solutions", str(TINY_SOLUTIONS),
                                      "--out", str(tmp_path / "out")])
    result = grader._grade_in_worker(args, "s", submission)
    assert result["status"] == "error" and "did not finish within" in result["error"]
    assert (tmp_path / "out" / "s" / "feedback.md").exists()
    assert left and not left[0].exists()


# --- the kernel's view of the machine ----------------------------------------------------------

PROBES = {
    "uid": "import os; os.getuid()",
    "pid": "os.getpid()",
    "root": "sorted(os.listdir('/'))",
    "processes": "sorted(p for p in os.listdir('/proc') if p.isdigit())",
    "solutions": f"os.path.exists({str(ROOT / 'solutions')!r})",
    "repository": f"sorted(os.listdir({str(ROOT)!r}))",
    "environment": "dict(os.environ)",
    "interfaces": "import socket; [name for _, name in socket.if_nameindex()]",
    "network": ("def connect(address):\n    try:\n        socket.create_connection(address, 2)\n"
                "        return 'connected'\n    except OSError as e:\n        return str(e)\n"
                "[connect(('127.0.0.1', PORT)), connect(('192.0.2.1', 80))]"),
    "limits": ("import resource\n[resource.getrlimit(getattr(resource, 'RLIMIT_' + n))[0] "
               "for n in ('AS', 'CPU', 'FSIZE', 'NPROC', 'CORE')]"),
    "home": "os.path.expanduser('~'), os.getcwd(), os.access('.', os.W_OK)",
    "read_only": f"os.access({str(Path(sys.prefix))!r}, os.W_OK)",
    "course_lib": "import course_lib; course_lib.__file__",
}


@pytest.fixture(scope="module")
def kernel_view(tmp_path_factory):
    sandbox.probe()
    folder = tmp_path_factory.mktemp("kernel")
    os.environ["COURSE_GRADER_CANARY"] = "only the grader has this"
    listener = socket.create_server(("127.0.0.1", 0))  # the grader's machine, listening
    port = listener.getsockname()[1]
    limits = sandbox.Limits(memory_mb=3000, cpu_seconds=600, file_size_mb=64, processes=128)

    async def look():
        found = {}
        async with KernelSession(folder, limits) as session:
            for name, source in PROBES.items():
                source = source.replace("PORT", str(port))
                run = await session.execute(source, timeout=30, store_history=True)
                assert run.status == "ok", (name, run.error_text)
                found[name] = run.outputs[-1]["data"]["text/plain"]
        return found

    try:
        return asyncio.run(look())
    finally:
        listener.close()
        del os.environ["COURSE_GRADER_CANARY"]


@pytest.mark.slow
def test_the_kernel_runs_unprivileged_alone_and_offline(kernel_view):
    assert kernel_view["uid"] != "0"
    assert kernel_view["pid"] in ("2", "3")  # its own PID namespace
    assert len(eval(kernel_view["processes"])) <= 3
    assert kernel_view["interfaces"] == "['lo']"  # a loopback of its own, nothing else
    to_host, to_world = eval(kernel_view["network"])
    assert "Connection refused" in to_host and "Network is unreachable" in to_world


@pytest.mark.slow
def test_the_kernel_sees_no_instructor_files(kernel_view):
    assert kernel_view["solutions"] == "False"
    bound = {p.relative_to(ROOT).parts[0] for p in sandbox.read_only_paths() if p.is_relative_to(ROOT)}
    assert set(eval(kernel_view["repository"])) <= bound <= {"course_lib", ".venv", ".cache"}
    assert kernel_view["read_only"] == "False"
    environment = eval(kernel_view["environment"])
    assert "COURSE_GRADER_CANARY" not in environment  # nothing of the grader's own environment
    assert not any("solutions" in value for value in environment.values())
    # the kernel imports the course_lib the grader imported (the bound one)
    assert eval(kernel_view["course_lib"]) == str(Path(course_lib.__file__).resolve())


KERNEL_IMPORTS = """
import asyncio, sys, tempfile
from course_lib.grading import sandbox
from course_lib.grading.runner import KernelSession

async def look():
    async with KernelSession(tempfile.mkdtemp(), sandbox.Limits(memory_mb=3000)) as session:
        run = await session.execute("import course_lib; course_lib.__file__", timeout=30)
        return run.status, run.error_text, run.outputs
print(asyncio.run(look()))
"""


@pytest.mark.slow
def test_a_grader_run_from_another_copy_of_course_lib_gives_the_kernel_that_copy(tmp_path):
    """The venv's editable install points at this checkout; a grader that imports course_lib
    from another copy (PYTHONPATH) binds only that copy, so the kernel must import it too."""
    sandbox.probe()
    copy = tmp_path / "other-checkout"
    shutil.copytree(ROOT / "course_lib", copy / "course_lib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(copy)}
    done = subprocess.run([sys.executable, "-c", KERNEL_IMPORTS], env=env, capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    status, error, outputs = eval(done.stdout.strip().splitlines()[-1])
    assert status == "ok", error
    assert eval(outputs[-1]["data"]["text/plain"]) == str((copy / "course_lib" / "__init__.py").resolve())


@pytest.mark.slow
def test_the_kernel_has_limits(kernel_view):
    address, cpu, size, processes, core = eval(kernel_view["limits"])
    assert address == 3000 * 2**20 and cpu == 600 and size == 64 * 2**20 and core == 0
    assert 128 <= processes < 128 + 10_000
    home, cwd, writable = eval(kernel_view["home"])
    assert home == cwd == sandbox.HOME and writable


# --- without bubblewrap, and as a normal user ---------------------------------------------------

@pytest.mark.slow
def test_without_bubblewrap_the_grader_refuses_unless_told(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sandbox, "find_bwrap", lambda: None)
    sandbox.probe.cache_clear()
    try:
        submission = tmp_path / "s.ipynb"
        shutil.copy(TINY_SOLUTIONS / "90_tiny.ipynb", submission)
        argv = ["grade", str(submission), "--solutions", str(TINY_SOLUTIONS), "--out",
                str(tmp_path / "out")]
        args = build_parser().parse_args(argv)
        assert args.run(args) == 2
        assert "apt-get install bubblewrap" in capsys.readouterr().err
        args = build_parser().parse_args([*argv, "--unsafe-no-sandbox"])
        assert args.run(args) == 0
        result = json.loads((tmp_path / "out" / "s" / "result.json").read_text())
        assert result["score"] == 4 and result["sandbox"].startswith("none: graded WITHOUT")
        for name in ("feedback.md", "results.json"):
            assert "WITHOUT a sandbox" in (tmp_path / "out" / "s" / name).read_text()
    finally:
        sandbox.probe.cache_clear()


def _hidden_ancestors(path: Path) -> list[Path]:
    """Ancestors of ``path`` that other users cannot enter (e.g. /root holding pyenv)."""
    return [p for p in path.parents if p != Path("/") and not os.stat(p).st_mode & 0o001]


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the whole suite already runs as a normal user")
def test_a_normal_user_can_grade_in_a_sandbox():
    """Run `course grade` as uid 4321 (bubblewrap then needs a user namespace), in a view of
    this machine where the interpreter's private ancestors (e.g. /root) are passable."""
    sandbox.probe()
    work = Path(tempfile.mkdtemp(prefix="course-normal-user-"))  # pytest's folders are 0700
    work.chmod(0o777)
    submission = work / "s.ipynb"
    shutil.copy(TINY_SOLUTIONS / "90_tiny.ipynb", submission)
    submission.chmod(0o644)
    view = ["bwrap", "--dev-bind", "/", "/"]
    for path in {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), ROOT}:
        for hidden in _hidden_ancestors(path)[-1:]:
            view += ["--perms", "0755", "--tmpfs", str(hidden)]
            for parent in reversed(path.parents):
                if parent.is_relative_to(hidden) and parent != hidden:
                    view += ["--perms", "0755", "--dir", str(parent)]
            view += ["--ro-bind", str(path), str(path)]
    command = [*view, "--", "setpriv", "--reuid=4321", "--regid=4321", "--clear-groups", "--",
               "env", f"HOME={work}", f"TMPDIR={work}", sys.executable, "-m", "course_lib.cli",
               "grade", str(submission), "--solutions", str(TINY_SOLUTIONS),
               "--out", str(work / "out")]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        result = json.loads((work / "out" / "s" / "result.json").read_text())
        assert result["score"] == 4 and result["sandbox"].startswith("bubblewrap")
        assert (work / "out" / "s" / "result.json").stat().st_uid == 4321
    finally:
        shutil.rmtree(work, ignore_errors=True)
