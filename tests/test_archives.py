"""Corpora fetched as one repository archive (AESLC): the real download and extraction code
against a small tar.gz built here and served on 127.0.0.1, the manifest digest, the mirror."""

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest
from test_corpora import cache, files_under, server, unused_port  # noqa: F401 (fixtures)

from course_lib import corpora
from course_lib.corpora import Corpus, CorpusError, archives
from course_lib.corpora.archives import RepositoryArchive, manifest_sha256

FILES = {"data/train/a.txt": b"first email\n", "data/train/b.txt": b"second email\n",
         "README.md": b"# toy\n"}
EXTRA = {"setup.py": b"print('not part of the corpus')\n"}  # in the archive, not kept


def manifest_of(files: dict[str, bytes]) -> str:
    lines = [f"{hashlib.sha256(files[name]).hexdigest()}  {name}\n" for name in sorted(files)]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def tar_gz(files: dict[str, bytes], top: str = "toy-0123abc") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            member = tarfile.TarInfo(f"{top}/{name}" if top else name)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


def toy_archive(url: str, manifest: str | None = None) -> RepositoryArchive:
    return RepositoryArchive("toy", url, ("data/", "README.md"), len(FILES), manifest or manifest_of(FILES))


def toy_corpus(url: str, manifest: str | None = None) -> Corpus:
    return Corpus("toy", "a toy archive", "CC0", "nobody", archive=toy_archive(url, manifest))


def test_manifest_digest_known_answer(tmp_path):
    (tmp_path / "b.txt").write_bytes(b"b")
    (tmp_path / "a.txt").write_bytes(b"a")
    by_hand = hashlib.sha256((f"{hashlib.sha256(b'a').hexdigest()}  a.txt\n"
                              f"{hashlib.sha256(b'b').hexdigest()}  b.txt\n").encode()).hexdigest()
    assert manifest_sha256(tmp_path, ["b.txt", "a.txt"]) == by_hand


def test_archive_downloads_extracts_kept_files_verified(server, cache):  # noqa: F811
    server.routes["/toy.tar.gz"] = tar_gz(FILES | EXTRA)
    messages = []
    assert corpora.fetch(toy_corpus(server.url + "/toy.tar.gz"), log=messages.append) == [cache / "toy"]
    assert files_under(cache) == sorted(f"toy/{name}" for name in FILES)  # no archive, no setup.py
    assert (cache / "toy/data/train/a.txt").read_bytes() == FILES["data/train/a.txt"]
    assert messages[0].startswith("downloading") and "3 files" in messages[-1]
    assert corpora.fetch(toy_corpus(server.url + "/toy.tar.gz"), log=messages.append) == [cache / "toy"]
    assert server.hits == ["/toy.tar.gz"]  # the second fetch verified the cached copy


def test_one_changed_file_fails_the_manifest_and_leaves_nothing(server, cache):  # noqa: F811
    server.routes["/toy.tar.gz"] = tar_gz(FILES | {"data/train/b.txt": b"second emai1\n"})
    with pytest.raises(CorpusError, match="failed verification.*a file has changed"):
        corpora.fetch(toy_corpus(server.url + "/toy.tar.gz"), log=lambda m: None)
    assert files_under(cache) == []


def test_a_missing_file_is_named_by_the_count(server, cache):  # noqa: F811
    server.routes["/toy.tar.gz"] = tar_gz({k: v for k, v in FILES.items() if k != "README.md"})
    with pytest.raises(CorpusError, match="2 files under .*expected 3"):
        corpora.fetch(toy_corpus(server.url + "/toy.tar.gz"), log=lambda m: None)
    assert files_under(cache) == []


def test_member_escaping_the_folder_is_refused(server, cache):  # noqa: F811
    server.routes["/evil.tar.gz"] = tar_gz({"toy/../../escape.txt": b"x"} | FILES)
    with pytest.raises(CorpusError, match="outside the archive"):
        corpora.fetch(toy_corpus(server.url + "/evil.tar.gz"), log=lambda m: None)
    assert files_under(cache.parent) == []


def test_not_an_archive_and_404_are_clear_errors(server, cache):  # noqa: F811
    server.routes["/text.tar.gz"] = b"<html>rate limited</html>"
    with pytest.raises(CorpusError, match="not a tar archive"):
        corpora.fetch(toy_corpus(server.url + "/text.tar.gz"), log=lambda m: None)
    with pytest.raises(CorpusError, match="404"):
        corpora.fetch(toy_corpus(server.url + "/missing.tar.gz"), log=lambda m: None)
    assert files_under(cache) == []


def test_corrupted_cached_copy_is_downloaded_again(server, cache):  # noqa: F811
    server.routes["/toy.tar.gz"] = tar_gz(FILES)
    corpus = toy_corpus(server.url + "/toy.tar.gz")
    corpora.fetch(corpus, log=lambda m: None)
    (cache / "toy/README.md").write_bytes(b"# t0y\n")
    messages = []
    corpora.fetch(corpus, log=messages.append)
    assert "corrupted" in messages[0] and (cache / "toy/README.md").read_bytes() == FILES["README.md"]
    assert server.hits == ["/toy.tar.gz", "/toy.tar.gz"]


def test_mirror_is_read_file_by_file_without_network(tmp_path, cache, monkeypatch):  # noqa: F811
    mirror = tmp_path / "mirror"
    for name, data in FILES.items():
        (mirror / "toy" / name).parent.mkdir(parents=True, exist_ok=True)
        (mirror / "toy" / name).write_bytes(data)
    monkeypatch.setenv("COURSE_DATA_DIR", str(mirror))
    never = f"http://127.0.0.1:{unused_port()}/never-asked"
    assert corpora.fetch(toy_corpus(never), log=lambda m: None) == [mirror / "toy"]
    (mirror / "toy/data/train/a.txt").write_bytes(b"changed\n")
    with pytest.raises(CorpusError, match="Mirror folder .* not the expected copy"):
        corpora.fetch(toy_corpus(never), log=lambda m: None)
    assert files_under(cache.parent) == sorted(f"mirror/toy/{name}" for name in FILES)


def test_availability_of_an_archive_corpus(cache, monkeypatch):  # noqa: F811
    monkeypatch.setitem(corpora.CORPORA, "toy", toy_corpus("http://127.0.0.1:9/x"))
    assert archives.locate(corpora.CORPORA["toy"].archive) == (None, "missing")
    assert corpora.availability()["toy"].startswith("not downloaded")
    (cache / "toy").mkdir(parents=True)
    assert corpora.availability()["toy"] == f"cached ({cache})"


MIRROR = os.environ.get("COURSE_DATA_DIR")


@pytest.mark.skipif(not MIRROR, reason="set COURSE_DATA_DIR to the corpus mirror")
@pytest.mark.parametrize("name, count", [("aeslc", 18_304), ("fsdd", 3_001)])
def test_archive_manifests_match_the_mirror_checksums(name, count):
    """The catalogue's one digest is the manifest of the mirror's per-file SHA256SUMS lines."""
    sums = Path(MIRROR) / "SHA256SUMS"
    if not sums.is_file():
        pytest.skip("the mirror has no SHA256SUMS")
    archive = corpora.CORPORA[name].archive
    digests = {path.removeprefix(f"./{name}/"): digest
               for digest, path in map(str.split, sums.read_text().splitlines())
               if path.startswith(f"./{name}/")}
    lines = [f"{digests[path]}  {path}\n" for path in sorted(digests) if archive.keeps(path)]
    assert len(lines) == archive.file_count == count
    assert hashlib.sha256("".join(lines).encode()).hexdigest() == archive.manifest_sha256
