"""Corpora: the real download code against a local HTTP server, mirror resolution, the parser,
and (when COURSE_DATA_DIR points at the mirror) the real loaders' counts.

The server listens on 127.0.0.1 only; no test touches an external address.
"""

import dataclasses
import hashlib
import http.server
import os
import socket
import threading
import urllib.request
from pathlib import Path

import pytest

from course_lib import corpora, speech
from course_lib.conllu import count_conllu, parse_conllu
from course_lib.corpora import Corpus, CorpusError, CorpusFile

GOOD = b"first line\nsecond line\n" * 50
SHA_GOOD = hashlib.sha256(GOOD).hexdigest()
FIXTURES = Path(__file__).parent / "fixtures" / "corpora"


class _Handler(http.server.BaseHTTPRequestHandler):
    """Routes: those in ``server.routes`` (path -> bytes), /dropped (announces more bytes than
    it sends), /slow (answers only after the test ends); anything else is a 404."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.server.hits.append(self.path)
        if self.path == "/slow":
            self.server.release.wait(10)
            return
        if self.path == "/dropped":
            body, length = GOOD[:100], len(GOOD)
        else:
            body = self.server.routes.get(self.path)
            length = None if body is None else len(body)
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)  # then the handler returns and the connection closes

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.hits, httpd.release = [], threading.Event()
    httpd.routes = {"/good": GOOD, "/corrupt": GOOD[:-1] + b"X"}
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder, and no mirror."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("COURSE_CACHE_DIR", str(folder))
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    return folder


def one_file_corpus(url, sha256=SHA_GOOD, validator=None):
    if validator is not None:
        sha256 = None
    return Corpus("toy", "a toy corpus", "CC0", "nobody",
                  (CorpusFile("toy/data.txt", url, sha256, validator),))


def files_under(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def unused_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- Downloads ---------------------------------------------------------------------------

def test_download_good_file_lands_in_cache_verified(server, cache):
    messages = []
    paths = corpora.fetch(one_file_corpus(server.url + "/good"), log=messages.append)
    assert paths == [cache / "toy" / "data.txt"]
    assert paths[0].read_bytes() == GOOD
    assert files_under(cache) == ["toy/data.txt"]  # no temporary file left
    assert messages[-1].startswith("downloaded ")


def test_second_fetch_uses_cache_without_network(server, cache):
    corpus = one_file_corpus(server.url + "/good")
    corpora.fetch(corpus, log=lambda message: None)
    messages = []
    corpora.fetch(corpus, log=messages.append)
    assert server.hits == ["/good"]
    assert messages == [f"cached {cache / 'toy' / 'data.txt'}"]


def test_hash_mismatch_raises_and_leaves_nothing(server, cache):
    with pytest.raises(CorpusError, match="failed verification") as error:
        corpora.path(one_file_corpus(server.url + "/corrupt"), "data.txt", log=lambda m: None)
    assert "toy/data.txt" in str(error.value)
    assert files_under(cache) == []


def test_http_404_names_file_url_and_offline_options(server, cache):
    url = server.url + "/missing"
    with pytest.raises(CorpusError) as error:
        corpora.fetch(one_file_corpus(url), log=lambda m: None)
    message = str(error.value)
    assert "404" in message and url in message and "toy/data.txt" in message
    assert "COURSE_DATA_DIR" in message and str(cache / "toy" / "data.txt") in message
    assert files_under(cache) == []


def test_connection_dropped_mid_file_raises_and_leaves_nothing(server, cache):
    with pytest.raises(CorpusError, match=f"closed after 100 of {len(GOOD):,} bytes"):
        corpora.fetch(one_file_corpus(server.url + "/dropped"), log=lambda m: None)
    assert files_under(cache) == []


def test_connection_refused_raises(cache):
    url = f"http://127.0.0.1:{unused_port()}/good"
    with pytest.raises(CorpusError, match="Could not download toy/data.txt") as error:
        corpora.fetch(one_file_corpus(url), log=lambda m: None)
    assert url in str(error.value)
    assert files_under(cache) == []


def test_timeout_raises_and_leaves_nothing(server, cache):
    corpus_file = one_file_corpus(server.url + "/slow").files[0]
    with pytest.raises(CorpusError, match="timed out"):
        corpora.download(corpus_file, cache / corpus_file.path, timeout=0.2)
    assert files_under(cache) == []


def test_keyboard_interrupt_mid_download_leaves_nothing(server, cache, monkeypatch):
    real_urlopen = urllib.request.urlopen

    class Interrupted:
        def __init__(self, response):
            self.response, self.headers, self.reads = response, response.headers, 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.response.close()

        def read(self, size):
            self.reads += 1
            if self.reads == 2:
                raise KeyboardInterrupt
            return self.response.read(10)

    monkeypatch.setattr(urllib.request, "urlopen",
                        lambda url, timeout: Interrupted(real_urlopen(url, timeout=timeout)))
    with pytest.raises(KeyboardInterrupt):
        corpora.fetch(one_file_corpus(server.url + "/good"), log=lambda m: None)
    assert files_under(cache) == []


def test_download_checked_by_validator(server, cache):
    server.routes["/tiny.conllu"] = (FIXTURES / "tiny.conllu").read_bytes()
    url = server.url + "/tiny.conllu"
    wrong = one_file_corpus(url, validator=corpora.expect_conllu_counts(3, 11))
    with pytest.raises(CorpusError, match="failed verification"):
        corpora.fetch(wrong, log=lambda m: None)
    assert files_under(cache) == []
    right = one_file_corpus(url, validator=corpora.expect_conllu_counts(2, 11))
    assert corpora.fetch(right, log=lambda m: None) == [cache / "toy" / "data.txt"]


def test_offline_hint_mentions_a_mirror_that_lacks_the_file(server, cache, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "no-such-mirror"))
    with pytest.raises(CorpusError, match="no-such-mirror, which has no such file"):
        corpora.fetch(one_file_corpus(server.url + "/missing"), log=lambda m: None)


def test_corrupted_cached_file_is_detected_and_fetched_again(server, cache):
    corpus = one_file_corpus(server.url + "/good")
    cached = corpora.path(corpus, "data.txt", log=lambda m: None)
    cached.write_bytes(GOOD.replace(b"second", b"SECOND"))  # same size, different bytes
    messages = []
    again = corpora.path(corpus, "data.txt", log=messages.append)
    assert again == cached and again.read_bytes() == GOOD
    assert server.hits == ["/good", "/good"]
    assert "corrupted" in messages[0]


# --- Mirror (COURSE_DATA_DIR) -----------------------------------------------------------

@pytest.fixture
def mirror(tmp_path, monkeypatch, cache):
    folder = tmp_path / "mirror"
    (folder / "toy").mkdir(parents=True)
    (folder / "toy" / "data.txt").write_bytes(GOOD)
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
    return folder


def test_mirror_file_is_used_verified_without_network(mirror, cache):
    url = f"http://127.0.0.1:{unused_port()}/never-asked"
    messages = []
    assert corpora.fetch(one_file_corpus(url), log=messages.append) == [mirror / "toy/data.txt"]
    assert messages == [f"verified mirror file {mirror / 'toy/data.txt'}"]
    assert files_under(cache) == []


def test_mirror_mismatch_is_a_clear_error(mirror):
    (mirror / "toy" / "data.txt").write_bytes(b"something else\n")
    with pytest.raises(CorpusError, match="Mirror file toy/data.txt") as error:
        corpora.path(one_file_corpus("http://127.0.0.1:9/x"), "data.txt")
    assert SHA_GOOD in str(error.value)


def test_file_missing_from_mirror_falls_back_to_download(mirror, cache, server):
    (mirror / "toy" / "data.txt").unlink()
    found = corpora.path(one_file_corpus(server.url + "/good"), "toy/data.txt", log=lambda m: None)
    assert found == cache / "toy" / "data.txt"


def test_validator_instead_of_hash(mirror):
    (mirror / "toy" / "data.txt").write_bytes((FIXTURES / "tiny.conllu").read_bytes())
    right = one_file_corpus("http://127.0.0.1:9/x", validator=corpora.expect_conllu_counts(2, 11))
    assert corpora.path(right, "data.txt") == mirror / "toy" / "data.txt"
    wrong = one_file_corpus("http://127.0.0.1:9/x", validator=corpora.expect_conllu_counts(3, 11))
    with pytest.raises(CorpusError, match="2 sentences and 11 words, expected 3 and 11"):
        corpora.path(wrong, "data.txt")


def test_availability_reports_mirror_cached_or_missing(mirror, cache, monkeypatch):
    monkeypatch.setitem(corpora.CORPORA, "toy", one_file_corpus("http://127.0.0.1:9/x"))
    assert corpora.availability()["toy"].startswith("mirror")
    (cache / "toy").mkdir(parents=True)
    (mirror / "toy" / "data.txt").replace(cache / "toy" / "data.txt")
    assert corpora.availability()["toy"].startswith("cached")
    (cache / "toy" / "data.txt").unlink()
    assert corpora.availability()["toy"].startswith("not downloaded")


def test_cache_dir_respects_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "c"))
    assert corpora.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("COURSE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert corpora.cache_dir() == tmp_path / "xdg" / "course-lib"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert corpora.cache_dir() == Path.home() / ".cache" / "course-lib"


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ValueError, match="multi30k, ud_english_ewt, mr, coarsewsd20"):
        corpora.path("nosuch", "x")
    with pytest.raises(ValueError, match="input.txt"):
        corpora.path("tinyshakespeare", "nosuch.txt")


def test_registry_urls_are_pinned_github_raw_addresses():
    assert list(corpora.CORPORA) == ["tinyshakespeare", "names", "multi30k", "ud_english_ewt", "mr",
                                     "coarsewsd20", "fsdd", "aeslc"]
    for corpus in corpora.CORPORA.values():
        assert corpus.description and corpus.licence and corpus.citation
        assert bool(corpus.files) != bool(corpus.archive)  # files, or one archive of them
        if corpus.archive:
            commit = corpus.archive.url.removeprefix("https://codeload.github.com/").split("/")[3]
            assert len(commit) == 40 and int(commit, 16) >= 0
        for corpus_file in corpus.files:
            repo_commit = corpus_file.url.removeprefix("https://raw.githubusercontent.com/")
            assert repo_commit != corpus_file.url
            commit = repo_commit.split("/")[2]
            assert len(commit) == 40 and int(commit, 16) >= 0


# --- Parsing -----------------------------------------------------------------------------

def test_parse_conllu_skips_multiword_ranges_and_empty_nodes():
    sentences = parse_conllu((FIXTURES / "tiny.conllu").read_text(encoding="utf-8"))
    assert [s["id"] for s in sentences] == ["toy-1", "toy-2"]
    assert sentences[0]["tokens"] == ["We", "do", "n't", "know", "."]
    assert sentences[0]["upos"] == ["PRON", "AUX", "PART", "VERB", "PUNCT"]
    assert sentences[0]["xpos"] == ["PRP", "VBP", "RB", "VB", "."]
    assert sentences[0]["text"] == "We don't know."
    assert sentences[1]["tokens"] == ["I", "like", "tea", "and", "you", "coffee"]  # not 5.1
    assert count_conllu(FIXTURES / "tiny.conllu") == (2, 11)


def test_parse_conllu_last_sentence_without_blank_line_and_bad_line():
    assert len(parse_conllu("1\ta\ta\tX\tX\t_\t0\troot\t_\t_")) == 1
    with pytest.raises(ValueError, match="line 2 has 3"):
        parse_conllu("# sent_id = s\n1\tonly\tthree\n")


def test_reviews_decode_utf8_and_fall_back_to_latin1_per_line(tmp_path):
    reviews = tmp_path / "reviews"
    reviews.write_bytes("café .\n".encode() + b"na\xefve .\n" + b"plain . \n")
    assert corpora.loaders._read_reviews(reviews) == ["café .", "naïve .", "plain ."]


# --- The real corpora (run when COURSE_DATA_DIR points at the mirror) -----------------------

MIRROR = os.environ.get("COURSE_DATA_DIR")  # read now: the `cache` fixture unsets it
needs_mirror = pytest.mark.skipif(not MIRROR,
                                  reason="set COURSE_DATA_DIR to the corpus mirror")


@needs_mirror
def test_registry_hashes_match_the_mirror_checksums():
    sums = Path(os.environ["COURSE_DATA_DIR"]) / "SHA256SUMS"
    if not sums.is_file():
        pytest.skip("the mirror has no SHA256SUMS")
    expected = {}
    for line in sums.read_text().splitlines():
        digest, name = line.split()
        expected[name.removeprefix("./")] = digest
    registered = {f.path: f.sha256 for c in corpora.CORPORA.values() for f in c.files}
    # Corpora fetched as one archive (FSDD, AESLC) are checked by their manifest in test_archives.
    # The mirror also holds corpora the course does not catalogue (yet): compare the folders
    # it does catalogue, file by file.
    folders = {relative.split("/")[0] for relative in registered}
    assert set(registered) == {name for name in expected if name.split("/")[0] in folders}
    for relative, digest in registered.items():
        assert digest in (expected[relative], None)  # None: EWT train, checked by its counts


@needs_mirror
def test_real_registry_entry_downloads_and_verifies(server, cache):
    """The registered hash of a real file, through the real download code (local server)."""
    names = corpora.CORPORA["names"]
    mirror_file = Path(MIRROR) / names.files[0].path
    server.routes["/names.txt"] = mirror_file.read_bytes()
    local = dataclasses.replace(names, files=(
        dataclasses.replace(names.files[0], url=server.url + "/names.txt"),))
    assert corpora.fetch(local, log=lambda m: None) == [cache / "names" / "names.txt"]
    assert files_under(cache) == ["names/names.txt"]


@needs_mirror
def test_tinyshakespeare_split_by_characters():
    splits = corpora.load_tinyshakespeare()
    sizes = {split: len(splits[split][0]["text"]) for split in splits}
    assert sizes == {"train": 1_003_854, "validation": 111_540}
    text = corpora.read_tinyshakespeare()
    assert splits["train"][0]["text"] + splits["validation"][0]["text"] == text


@needs_mirror
def test_names_all_kept_and_split_80_10_10():
    names = corpora.read_names()
    assert len(names) == 32_033 and all(names) and names[0] == "emma"
    splits = corpora.load_names()
    assert {split: len(splits[split]) for split in splits} == {
        "train": 25_626, "validation": 3_203, "test": 3_204}
    together = [name for split in splits.values() for name in split["name"]]
    assert sorted(together) == sorted(names)
    assert list(corpora.load_names()["test"]["name"]) == list(splits["test"]["name"])  # seeded


@needs_mirror
def test_multi30k_aligned_splits():
    splits = corpora.load_multi30k()
    assert {split: len(splits[split]) for split in splits} == {
        "train": 29_000, "validation": 1_014, "test": 1_000}
    assert splits["train"].column_names == ["de", "en", "fr", "cs"]
    assert all(all(row.values()) for row in splits["validation"])  # no empty sentence


@needs_mirror
def test_ud_english_ewt_sentence_and_token_counts():
    splits = corpora.load_ud_english_ewt()
    counts = {split: (len(rows), sum(map(len, rows["tokens"])))
              for split, rows in splits.items()}
    assert counts == {"train": (12_544, 204_577), "validation": (2_001, 25_147),
                      "test": (2_077, 25_094)}
    first = splits["test"][0]
    assert len(first["tokens"]) == len(first["upos"]) == len(first["xpos"])


@needs_mirror
def test_mr_balanced_labels_and_stratified_folds():
    rows = corpora.load_mr()["train"].to_dict()  # plain lists: fast to iterate
    assert len(rows["text"]) == 10_662 and sum(rows["label"]) == 5_331
    assert all(rows["text"])
    per_fold = {}
    for fold, label in zip(rows["fold"], rows["label"], strict=True):
        per_fold[fold, label] = per_fold.get((fold, label), 0) + 1
    assert set(rows["fold"]) == set(range(10))
    assert set(per_fold.values()) <= {533, 534}
    assert any("é" in text for text in rows["text"])  # decoded, not mojibake
    assert not any("Ã" in text for text in rows["text"])


@needs_mirror
def test_coarsewsd20_counts_senses_and_positions():
    splits = corpora.load_coarsewsd20()
    assert {split: len(splits[split]) for split in splits} == {"train": 23_370, "test": 10_196}
    train = splits["train"].to_dict()
    bank = [label for word, label in zip(train["word"], train["label"], strict=True) if word == "bank"]
    assert (bank.count(0), bank.count(1)) == (1_061, 46)  # financial vs river (mirror README)
    assert sorted(set(train["word"])) == list(corpora.COARSEWSD20_WORDS)
    hits = [tokens[p] == word for word, tokens, p in
            zip(train["word"], train["tokens"], train["position"], strict=True)]
    assert all(hits)  # split on any whitespace: two sentences have double spaces
    senses = corpora.read_coarsewsd20_senses()
    assert senses["bank"] == ["bank_bank", "bank_bank_(geography)"]
    assert {len(names) for names in senses.values()} == {2, 3, 4, 5}


@needs_mirror
def test_coarsewsd20_file_downloads_and_verifies(server, cache):
    """A CoarseWSD-20 file through the real download code, from a local server."""
    entry = corpora.CORPORA["coarsewsd20"].file("coarsewsd20/bank/test.gold.txt")
    assert entry.url.endswith("d8728bc5f0bbd2a14cdeb19aa71844fb89a31cb6/data/CoarseWSD-20/bank/test.gold.txt")
    server.routes["/test.gold.txt"] = (Path(MIRROR) / entry.path).read_bytes()
    local = Corpus("toy", "bank only", "CC BY-NC 4.0", "Loureiro et al.",
                   (dataclasses.replace(entry, url=server.url + "/test.gold.txt"),))
    assert corpora.fetch(local, log=lambda m: None) == [cache / "coarsewsd20/bank/test.gold.txt"]


# --- FSDD (fetched as one archive: tests/test_archives.py) ---------------------------------

@needs_mirror
def test_fsdd_splits():
    recordings = speech.load_fsdd()
    assert len(recordings) == 3_000
    assert {r.speaker for r in recordings} == set(speech.SPEAKERS)
    train, test = speech.official_split(recordings)
    assert (len(train), len(test)) == (2_700, 300) and {r.take for r in test} == set(range(5))
    train, test = speech.held_out_speaker_split(recordings, "theo")
    assert (len(train), len(test)) == (2_500, 500) and {r.speaker for r in test} == {"theo"}
