"""`course data list|fetch`, run in-process through `cli.main` (what the `course` script calls)."""

import os

import pytest

from course_lib import cli, corpora

needs_mirror = pytest.mark.skipif(not os.environ.get("COURSE_DATA_DIR"),
                                  reason="set COURSE_DATA_DIR to the corpus mirror")


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_data_list_prints_every_corpus_with_description_licence_and_citation(capsys):
    assert cli.main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name, corpus in corpora.CORPORA.items():
        assert name in out and corpus.description in out and corpus.licence in out
        assert f"cite:    {corpus.citation}" in out and corpus.citation.strip()


@needs_mirror
def test_data_fetch_all_verifies_every_mirror_file(capsys, empty_cache):
    assert cli.main(["data", "fetch", "all"]) == 0
    verified = [line.removeprefix("verified mirror file ").split(" (")[0]  # " (18,304 files)"
                for line in capsys.readouterr().out.splitlines()
                if line.startswith("verified mirror file ")]
    expected = [os.path.join(os.environ["COURSE_DATA_DIR"], getattr(corpus_file, "path", corpus_file))
                for corpus in corpora.CORPORA.values()
                for corpus_file in (corpus.files or [corpus.archive.folder])]
    assert [os.path.abspath(line) for line in verified] == [os.path.abspath(p) for p in expected]
    assert not empty_cache.exists()  # everything came from the mirror: nothing downloaded


def test_data_fetch_unknown_name_fails_listing_known_names(capsys, empty_cache):
    assert cli.main(["data", "fetch", "nosuch"]) != 0
    err = capsys.readouterr().err
    assert "nosuch" in err
    for name in corpora.CORPORA:
        assert name in err
    assert not empty_cache.exists()


def test_data_fetch_of_a_corrupted_mirror_file_fails_cleanly(capsys, empty_cache, tmp_path,
                                                             monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "names").mkdir(parents=True)
    (mirror / "names" / "names.txt").write_text("emma\nolivia\n")  # not the real file
    monkeypatch.setenv("COURSE_DATA_DIR", str(mirror))
    assert cli.main(["data", "fetch", "names"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("FAILED names:") and "names.txt" in err
    assert "Traceback" not in err
