"""Corpora of many small files, fetched as one repository archive and verified file by file.

AESLC is 18,302 emails in 18,302 files. Downloading them one at a time would be 18,302 HTTP
requests (GitHub's raw host rate-limits such runs; one failure in thousands is likely), so
``RepositoryArchive`` downloads the repository's tar.gz at a pinned commit once and extracts
the files it lists. The archive's own bytes are not pinned: GitHub builds archives on request
and their compression has changed before, while the files inside have not. So what is
verified is every extracted file: a *manifest* is the text ``"<sha256>  <path>\\n"`` for each
file, sorted by path, and its SHA-256 (one 64-digit string in the catalogue instead of 18,304)
must equal ``manifest_sha256``. One changed, missing or extra file changes the manifest digest.

A copy is looked for as in ``course_lib.corpora``: the mirror ``$COURSE_DATA_DIR/<folder>``
(read file by file, never written), then the cache ``cache_dir()/<folder>``, then the archive,
extracted into a temporary folder next to the cache folder, verified, and renamed into place,
so a failed download or extraction leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class RepositoryArchive:
    """A repository archive at a pinned commit and the files of it that make the corpus.

    ``folder``: where the files live under the mirror or cache root (``"aeslc"``).
    ``prefixes``: the paths kept from the archive (a file whose path inside the repository
    starts with one of them). ``file_count`` and ``manifest_sha256`` describe exactly the
    kept files.
    """

    folder: str
    url: str
    prefixes: tuple[str, ...]
    file_count: int
    manifest_sha256: str

    def verify(self, root: Path) -> None:
        """Raise ``CorpusError`` unless ``root`` holds exactly the listed files."""
        from course_lib.corpora.catalogue import CorpusError

        files = self.files_under(root)
        if len(files) != self.file_count:
            raise CorpusError(f"{root}: {len(files):,} files under {', '.join(self.prefixes)}, "
                              f"expected {self.file_count:,}.")
        digest = manifest_sha256(root, files)
        if digest != self.manifest_sha256:
            raise CorpusError(f"{root}: the manifest of its {len(files):,} files has SHA-256 "
                              f"{digest}, expected {self.manifest_sha256}; a file has changed.")

    def files_under(self, root: Path) -> list[str]:
        """The kept files under ``root``, as sorted repository paths (``a/b.txt``)."""
        found = [path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()]
        return sorted(name for name in found if self.keeps(name))

    def keeps(self, name: str) -> bool:
        return any(name == prefix or name.startswith(prefix) for prefix in self.prefixes)


def manifest_sha256(root: Path, files: list[str]) -> str:
    """SHA-256 of the manifest ``"<sha256 of file>  <path>\\n"`` over ``files`` (sorted)."""
    manifest = hashlib.sha256()
    for name in sorted(files):
        digest = hashlib.sha256((root / name).read_bytes()).hexdigest()
        manifest.update(f"{digest}  {name}\n".encode())
    return manifest.hexdigest()


def _cache_dir() -> Path:  # imported when called: the catalogue imports this module
    from course_lib.corpora.fetching import cache_dir

    return cache_dir()


def _mirror_dir() -> Path | None:
    from course_lib.corpora.fetching import mirror_dir

    return mirror_dir()


def locate(archive: RepositoryArchive) -> tuple[Path | None, str]:
    """(folder, "mirror" / "cached") where a copy is, without verifying; (None, "missing")."""
    mirror = _mirror_dir()
    if mirror is not None and (mirror / archive.folder).is_dir():
        return mirror / archive.folder, "mirror"
    if (_cache_dir() / archive.folder).is_dir():
        return _cache_dir() / archive.folder, "cached"
    return None, "missing"


def resolve(archive: RepositoryArchive, log: Callable[[str], None] = print) -> tuple[Path, str]:
    """(verified folder, "mirror" / "cached" / "downloaded"): the mirror's copy, the cache's,
    or a fresh download. A wrong mirror copy is an error (the mirror is never changed); a
    wrong cached copy is deleted and downloaded again."""
    from course_lib.corpora.catalogue import CorpusError

    root, how = locate(archive)
    if how == "mirror":
        try:
            archive.verify(root)
        except CorpusError as error:
            raise CorpusError(f"Mirror folder {root} (COURSE_DATA_DIR) is not the expected "
                              f"copy: {error} Replace it with the files of {archive.url}, or "
                              "unset COURSE_DATA_DIR to download them.") from None
        return root, how
    if how == "cached":
        try:
            archive.verify(root)
            return root, how
        except CorpusError as error:
            log(f"cached copy is corrupted ({error}); downloading it again")
            shutil.rmtree(root)
    log(f"downloading {archive.url}")
    return download_and_extract(archive, _cache_dir() / archive.folder), "downloaded"


def download_and_extract(archive: RepositoryArchive, destination: Path) -> Path:
    """Download the archive, extract the kept files into ``destination``, verified.

    The archive goes through ``corpora.download`` (streamed, atomic, clear errors); only
    regular files under ``prefixes`` are extracted, with the archive's top folder
    (``<repo>-<commit>/``) removed, and none may leave the folder (``..`` or absolute paths
    are refused). Everything happens in a temporary folder next to ``destination`` that is
    renamed into place only after verification, and deleted on any failure.
    """
    from course_lib.corpora.catalogue import CorpusError, CorpusFile
    from course_lib.corpora.fetching import download

    destination.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=destination.parent, prefix=f".{destination.name}.",
                                 suffix=".part"))
    try:
        tarball = download(CorpusFile(f"{archive.folder}.tar.gz", archive.url,
                                      validator=_expect_tar), work / "archive.tar.gz")
        extracted = work / archive.folder
        with tarfile.open(tarball, "r:gz") as tar:
            for member in tar:
                name = _inside_repository(member.name)
                if member.isfile() and archive.keeps(name):
                    target = extracted / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(member) as source, open(target, "wb") as out:
                        shutil.copyfileobj(source, out)
        try:
            archive.verify(extracted)
        except CorpusError as error:
            raise CorpusError(f"Downloaded {archive.url} but its files failed verification, so "
                              f"they were deleted: {error}") from None
        extracted.replace(destination)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return destination


def _inside_repository(member_name: str) -> str:
    """``"AESLC-7afc.../a/b.txt"`` -> ``"a/b.txt"``; refuses paths that could escape."""
    from course_lib.corpora.catalogue import CorpusError

    parts = PurePosixPath(member_name).parts
    if member_name.startswith("/") or ".." in parts:
        raise CorpusError(f"archive member {member_name!r} points outside the archive; refused.")
    return "/".join(parts[1:])


def _expect_tar(local: Path) -> None:
    from course_lib.corpora.catalogue import CorpusError

    if not tarfile.is_tarfile(local):
        raise CorpusError(f"{local} is not a tar archive.")
