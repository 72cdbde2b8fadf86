"""`course doctor`: it must say NOT healthy when the corpora cannot be had, and say why.

The network is never contacted: the probe is replaced by a fake, and the probe itself is
tested against a local HTTP server on 127.0.0.1.
"""

import http.server
import socket
import threading

import pytest

from course_lib import cli, corpora


@pytest.fixture
def no_corpora(tmp_path, monkeypatch):
    """An empty mirror and an empty cache: every corpus is missing."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "mirror"))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def fake_probe(monkeypatch, answer):
    asked = []

    def probe(url, timeout=cli.PROBE_TIMEOUT_S):
        asked.append(url)
        return answer

    monkeypatch.setattr(cli, "download_problem", probe)
    return asked


def test_doctor_is_not_healthy_with_no_corpora_and_no_network(no_corpora, monkeypatch, capsys):
    asked = fake_probe(monkeypatch, "[Errno -3] Temporary failure in name resolution")
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    problem = next(line for line in out.splitlines() if line.startswith("network"))
    assert "PROBLEM" in problem and "name resolution" in problem
    assert all(name in problem for name in corpora.CORPORA)
    assert "COURSE_DATA_DIR" in problem and "course data fetch all" in problem
    assert str(no_corpora / "cache") in problem  # where to copy a cache to
    assert out.rstrip().endswith("NOT healthy: see PROBLEM lines above")
    first = next(iter(corpora.CORPORA.values())).files[0].url
    assert asked == [first]


def test_doctor_is_healthy_when_missing_corpora_can_be_downloaded(no_corpora, monkeypatch,
                                                                  capsys):
    fake_probe(monkeypatch, None)
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert f"the {len(corpora.CORPORA)} missing corpora download on first use" in out
    assert out.rstrip().endswith("healthy") and "NOT healthy" not in out


def test_doctor_does_not_probe_the_network_when_every_corpus_is_mirrored(tmp_path, monkeypatch,
                                                                        capsys):
    mirror = tmp_path / "mirror"
    for corpus in corpora.CORPORA.values():
        for corpus_file in corpus.files:  # availability() only looks for the files
            (mirror / corpus_file.path).parent.mkdir(parents=True, exist_ok=True)
            (mirror / corpus_file.path).touch()
        if corpus.archive:  # ... or an archive corpus's folder
            (mirror / corpus.archive.folder).mkdir(parents=True)
    monkeypatch.setenv("COURSE_DATA_DIR", str(mirror))
    asked = fake_probe(monkeypatch, "must not be asked")
    assert cli.main(["doctor"]) == 0
    assert asked == [] and "network" not in capsys.readouterr().out


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self):  # noqa: N802 (the name http.server calls)
        self.send_response(200 if self.path == "/input.txt" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_problem_asks_the_server(local_server):
    assert cli.download_problem(f"{local_server}/input.txt", timeout=5) is None
    assert cli.download_problem(f"{local_server}/missing", timeout=5) is None  # it answered


def test_download_problem_names_a_refused_connection():
    with socket.socket() as probe:  # a port on 127.0.0.1 that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    problem = cli.download_problem(f"http://127.0.0.1:{port}/input.txt", timeout=5)
    assert problem is not None and "refused" in problem.lower()


@pytest.mark.parametrize("cores, load, threads, advised", [
    (2, 0.1, 2, True),  # two threads on two cores: any other work slows both
    (1, None, 1, False),  # one thread already
    (2, 3.5, 1, False),
    (16, 0.5, 16, False),  # many idle cores
    (8, 9.0, 8, True),  # every core busy
    (4, None, 4, False),  # no load average (Windows) and enough cores
])
def test_thread_advice(cores, load, threads, advised):
    advice = cli.thread_advice(cores, load, threads)
    assert (advice is not None) == advised
    if advised:
        assert "OMP_NUM_THREADS=1" in advice and "torch.set_num_threads(1)" in advice
