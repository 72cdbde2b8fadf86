"""The course's real corpora: where they come from, how they are verified, how they load.

Each corpus in ``CORPORA`` lists its files, each with a relative path, the canonical URL at a
pinned commit and a SHA-256 (or, for one file, a validator). A file is looked for in order:

1. ``$COURSE_DATA_DIR/<path>``: a local mirror (CI points it at a read-only copy);
2. ``cache_dir()/<path>``: files downloaded earlier;
3. the URL: streamed into a temporary file in the cache folder, verified, then renamed into
   place (``os.replace``), so a failed or interrupted download never leaves a partial file.

Every file is verified each time it is used, wherever it was found. Loaders build Hugging Face
``datasets`` objects in memory (no hub, works with ``HF_DATASETS_OFFLINE=1``).

The package has three parts: ``catalogue`` (what each corpus is), ``fetching`` (finding,
downloading and verifying its files) and ``loaders`` (reading them into splits); everything
public is importable from ``course_lib.corpora`` itself.
"""

from course_lib.corpora.catalogue import (
    COARSEWSD20_WORDS,
    CORPORA,
    Corpus,
    CorpusError,
    CorpusFile,
    expect_conllu_counts,
    sha256_of,
)
from course_lib.corpora.fetching import (
    DOWNLOAD_TIMEOUT_S,
    availability,
    cache_dir,
    download,
    fetch,
    mirror_dir,
    path,
)
from course_lib.corpora.loaders import (
    load,
    load_coarsewsd20,
    load_mr,
    load_multi30k,
    load_names,
    load_tinyshakespeare,
    load_ud_english_ewt,
    read_coarsewsd20_senses,
    read_names,
    read_tinyshakespeare,
)

__all__ = [
    "COARSEWSD20_WORDS", "CORPORA", "DOWNLOAD_TIMEOUT_S", "Corpus", "CorpusError", "CorpusFile",
    "availability", "cache_dir", "download", "expect_conllu_counts", "fetch", "load",
    "load_coarsewsd20", "load_mr", "load_multi30k", "load_names", "load_tinyshakespeare",
    "load_ud_english_ewt", "mirror_dir", "path", "read_coarsewsd20_senses", "read_names",
    "read_tinyshakespeare", "sha256_of",
]
