"""The catalogue: each corpus, its files, their canonical addresses and how each is verified."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.conllu import count_conllu
from course_lib.corpora import archives


class CorpusError(RuntimeError):
    """A corpus file is missing, could not be downloaded, or failed verification."""


@dataclass(frozen=True)
class CorpusFile:
    """One file: its path relative to the mirror/cache root, its URL and how to verify it.

    ``validator`` (used when ``sha256`` is None) takes the local path and raises
    ``CorpusError`` if the file is wrong.
    """

    path: str
    url: str
    sha256: str | None = None
    validator: Callable[[Path], None] | None = None

    def __post_init__(self) -> None:
        if (self.sha256 is None) == (self.validator is None):
            raise ValueError(f"CorpusFile {self.path!r}: give exactly one of sha256= or validator=.")

    def verify(self, local: Path) -> None:
        """Raise ``CorpusError`` unless ``local`` is this file."""
        if self.validator is not None:
            self.validator(local)
            return
        actual = sha256_of(local)
        if actual != self.sha256:
            raise CorpusError(f"{local}: SHA-256 is {actual}, expected {self.sha256}.")


@dataclass(frozen=True)
class Corpus:
    """A named corpus: its files (or, for thousands of small files, the repository archive
    that holds them, see ``course_lib.corpora.archives``) and what to tell users about it."""

    name: str
    description: str
    licence: str
    citation: str
    files: tuple[CorpusFile, ...] = field(default_factory=tuple)
    archive: archives.RepositoryArchive | None = None

    def file(self, filename: str) -> CorpusFile:
        """The file whose relative path or base name is ``filename``."""
        for corpus_file in self.files:
            if filename in (corpus_file.path, Path(corpus_file.path).name):
                return corpus_file
        known = ", ".join(Path(f.path).name for f in self.files)
        raise ValueError(f"Corpus {self.name!r} has no file {filename!r}; its files: {known}.")


def _github(repo: str, commit: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


def expect_conllu_counts(sentences: int, words: int) -> Callable[[Path], None]:
    """A validator that accepts a CoNLL-U file with exactly these sentence and word counts."""

    def validate(local: Path) -> None:
        found = count_conllu(local)
        if found != (sentences, words):
            raise CorpusError(f"{local}: {found[0]:,} sentences and {found[1]:,} words, "
                              f"expected {sentences:,} and {words:,}.")

    return validate


_MULTI30K = "multi30k/dataset", "a3d2e0d26b56f3846f66a952536ffed4e401d05a"
_MULTI30K_SHA256 = {
    "test_2016_flickr.cs.gz": "200a4a74cc9560f051924abb9803be008d1908d77f747e9141aeb86dfd2797f1",
    "test_2016_flickr.de.gz": "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
    "test_2016_flickr.en.gz": "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
    "test_2016_flickr.fr.gz": "6d326e188d259fb1d04ac19eae3af956559b3a0b93d7635e56c90987c40c8b90",
    "train.cs.gz": "a65adb8b32e3bc664f21ecba7a6e7f6950fd1f405e135f7c312faabdb6255077",
    "train.de.gz": "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
    "train.en.gz": "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    "train.fr.gz": "622e75069e9f4c577425c4f277116ce66e63a2401c0a2312d90073cb12379a3c",
    "val.cs.gz": "b63226e05c4bd5dd6a42897d74b86a1b9d2c31498252c572b1ea7f7996927fcc",
    "val.de.gz": "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
    "val.en.gz": "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
    "val.fr.gz": "ca3106f1a72390591d25f6c45cb4cd39dec4cd3f123e099748a3ce5256c160e9",
}
_EWT = "UniversalDependencies/UD_English-EWT", "15d613d8447b3478787d4c278730a1e48a945efb"
_MR = "dennybritz/cnn-text-classification-tf", "18762b459e21d9c70e5c242f8d43fc4e6db37a0d"
_COARSEWSD20 = "danlou/bert-disambiguation", "d8728bc5f0bbd2a14cdeb19aa71844fb89a31cb6"
# The 20 ambiguous nouns of CoarseWSD-20, in the dataset's (alphabetical) order.
COARSEWSD20_WORDS = (
    "apple", "arm", "bank", "bass", "bow", "chair", "club", "crane", "deck", "digit", "hood",
    "java", "mole", "pitcher", "pound", "seal", "spring", "square", "trunk", "yard",
)
_COARSEWSD20_SHA256 = {  # path under data/CoarseWSD-20/ -> SHA-256
    "LICENSE": "4c568bd9cb11f06642065ea039ccd45112bf10cec592ec4d0ae9cd35775515b4",
    "README.txt": "8547149fb8a0937d48c16c8cdf01825601ade72904a0235a0fdb1e4aaaf2c834",
    "apple/classes_map.txt": "e64e645283dd7a4908539fc81c92fe307b5dcb83de32573fa769ab06a79c45de",
    "apple/test.data.txt": "3d9239b2abbcb88edb65f4c842f2aed9757c6433055006f9e0880ae905e0953d",
    "apple/test.gold.txt": "cf2364333316461ede6f0730270fc3fc5fa8ac60eded716a8e318b085dd06a68",
    "apple/train.data.txt": "fc3ceceecceecd450902dec43ed691a5f18aa414846147f41c3fab4af862c054",
    "apple/train.gold.txt": "ea6dbfb9d46ba516e768587717f934577fb28d7ec71befa3dd72cf689dc936d5",
    "arm/classes_map.txt": "7122ff7df7da6f7cb598dcaf86702757d64dbb42b1d789e360df0ca285e305be",
    "arm/test.data.txt": "218eafbd53e82219661d0db4808134965c50ba45b2e3234268b668ce38cc2067",
    "arm/test.gold.txt": "42e6c70af6d6fa88cbee4dc13da66471e8fc90261cce75381c8ae67419104d88",
    "arm/train.data.txt": "42773b0b5be1aba4d628d7e78171a69c5e5e1a959d6044db817d890fab394975",
    "arm/train.gold.txt": "4bc25eed0c2079033376fb102aefc48cf7384288793f4a22034f6f08132e1696",
    "bank/classes_map.txt": "097201695caf6cf3a67a32e871b23bcde5336e5b353122f176c77f6d1977416c",
    "bank/test.data.txt": "a22fe4fcf44866782265a47d283140ed38269d97f55cb8340bdba9ad05cc78bf",
    "bank/test.gold.txt": "229c322c16d1e3bdf41b1dee3a140bf58ec5647c11e361327a31107d4aa05bd0",
    "bank/train.data.txt": "8c3c081437902d4f42d6215185d711852eeaa915370ce51cea8cdd52180ab688",
    "bank/train.gold.txt": "8b0b81fd346df7eb510e53dbc46dc1458543e192cb066321290eb15fe6b309da",
    "bass/classes_map.txt": "03de24a757bb60b9179bd04cd97bb80d6aacd8c7d8cbebed5d8d5d6252f3cb08",
    "bass/test.data.txt": "95c28dec93d601642d2dad3f191747ccc4054ece23ecff8583b45534ff9c763d",
    "bass/test.gold.txt": "e6740d7851c24f7e79a7122c2369d0b8535ca5b54cf4a5b9bb207284b3ccb31c",
    "bass/train.data.txt": "95fe21d0c4823676698de937e5024a96e37554795d4ae36c703e188b1763a5d6",
    "bass/train.gold.txt": "e0db7d2252fc5a6ce2fbca43997507eac49dd2109391ae15995a05dbc57b9b80",
    "bow/classes_map.txt": "53d4bf0c73caaca1f29468d273132efd6bc33d36747c7d91f6e784a2c5f7c86a",
    "bow/test.data.txt": "09ca06d536ff3b0641f48ee7ff4c19394a81a2954d7d2224dda743e37c918fa6",
    "bow/test.gold.txt": "5208b13247e6be4cbf43b61c27d9532c337907287a7ab8d83b47f00f362512a3",
    "bow/train.data.txt": "839f0ce7ba537f9f57e0a07f2d181ee5467b62e92dff0d983da6aee10fb94288",
    "bow/train.gold.txt": "68dfd9b0d4e3762c4eb4183fb56083cdb702cc805ff9b93919e4c6847fa78669",
    "chair/classes_map.txt": "53f72f616ee8131fdf9b8649f7a8f6b0c4e1bd87f935f917e92983c518f057af",
    "chair/test.data.txt": "6998d0c2bc5fb516a853098749382a97c18a69b0703df226de54411550f67e30",
    "chair/test.gold.txt": "194b88d9e5c3b7afb101d9d74625cfc07532fbb4565577a4300a60e892f67b57",
    "chair/train.data.txt": "c9b6013d7cb3509f0166d46919de66febd30694372178a0c5ad57ec20681fa28",
    "chair/train.gold.txt": "664d9128a0735116a64e4fd2b343e65f5213632a81e6b3f23020d8fb5d02b456",
    "club/classes_map.txt": "efdf33808c7b4bfa9b46030d72951ed25a2391fb64628bb999178f8596f00ab4",
    "club/test.data.txt": "270102664cc993eb910051b807b8d0bc32ba96e80809592b171c039eedf0a111",
    "club/test.gold.txt": "e6da8b96d5b31a72f38dd3dd539d94c8a754f9bf767bb2df533e083b47325523",
    "club/train.data.txt": "cd27207555a9693ffc2c0950995f912404dd4c305eb26c7a77b2b13808bfaf68",
    "club/train.gold.txt": "64d630bc618692234f690fd31246951a39678009ea81cfbc42159780c8d05e1a",
    "crane/classes_map.txt": "b056b635255a5e399c2b642250e12ddd8eee2caadeabecc6be16d7b59979fd4c",
    "crane/test.data.txt": "5bdd171120127c0e7f77e60e4cfbed91ea212438edbd537daad747c2fab1a9ed",
    "crane/test.gold.txt": "e5db988f12083073ebc66461e0911461653c373f2fd506536b0da750fe2b3275",
    "crane/train.data.txt": "f512b5266a25bdd6625f40c6fdc80ba73621385d950c7476aaf39267d082b536",
    "crane/train.gold.txt": "a2e46c5fec462b2612856242c33462fcaa2f0d93ef0ce836a39fb1877b9d9709",
    "deck/classes_map.txt": "b1be6a848f6bbca6e907708b23dd9caaaddb414079eeaff9c079b6bf49dc7066",
    "deck/test.data.txt": "169a07a96a8303ed1745afaded7bbcfe8773857e7a258b6cf009942a8a5ae34f",
    "deck/test.gold.txt": "e04b687c7be18d177ae481b998b99517f898ebdfe8b8424088a68a30d4a9024b",
    "deck/train.data.txt": "3e9f01b75550ee6338f10f365e9f2972ab0493527c81b74db1a17ad10f4d731a",
    "deck/train.gold.txt": "650f953a1c9a791ef84659291dc8443f1fca7977c6b2cd0801c2b701304a9b84",
    "digit/classes_map.txt": "b6195d1be623a353367389f59a220e3e01d521f9b4cdca901f04c5189c7d7fa5",
    "digit/test.data.txt": "10ed61a937d59eec080598ddd82fced4250be4f5d453f6ad834de89ee7dd07d2",
    "digit/test.gold.txt": "68862028d144ee1c47d4fcd3ebf2aa8ce4f52f0b2b332e7420aa741a09b84509",
    "digit/train.data.txt": "6d0b17a5a99b145f00dc8e5d2ca6c281d4ec7233ed6d4578fd040c4a81882126",
    "digit/train.gold.txt": "6cf52d9f5a1a5b3ee9f0045da1e18ad6e8fb12444fd9a173d45bcbec60489859",
    "hood/classes_map.txt": "ef581e860e6c86afea757f14d2846d32ca8ea47ee1d6fb371e0c8b9fa1cdd77d",
    "hood/test.data.txt": "9013d9845a7c80ea46c954a15718639059da0b3b1c6b1ec914bd45aa954dc08b",
    "hood/test.gold.txt": "96ae7b2014ff70bf2c45c7bfa4897eebf650095fc2eefe8685888711a3232274",
    "hood/train.data.txt": "4e2d0a7ead809bc0477001b136030eea12be07a71a96fe356a4a3edf8992a077",
    "hood/train.gold.txt": "6358f0749e8f14f3c12f56b2ef6d45690198b7d130449daf59f184274f6abc05",
    "java/classes_map.txt": "8eec3c0f0c5a2127e145b709c298a760612f4b14e077ea452ec42929ebe0f8d6",
    "java/test.data.txt": "07dd4bab1d7e10abca96242d3d9e0b7be4b651abf9318d1d75af753df6e4e052",
    "java/test.gold.txt": "ab3e4b4d906ac2a393d33c4196d529ca67837358339976d1b4c8e77c1c289ef0",
    "java/train.data.txt": "424df8a514222ad42e937ce9fcddc3b2103851c5d01e63e96dffa6cb3683755c",
    "java/train.gold.txt": "2d5c5e9cf49b90142f1cdd497b69c12f4cc52ae06500fff21e14728569b8f30f",
    "mole/classes_map.txt": "2e4d2ab88430b8c762b0106edc3a42289374b10b5af38b9e644a1fe4b32a74bf",
    "mole/test.data.txt": "30999e9847c5d6b13e1de6f7c920beb350436136d836e165c3f6d62ae5111e14",
    "mole/test.gold.txt": "0641e34896e8595a65ae882ee3dcde3ba64a2a96d2d3bff6d563ba30af02879f",
    "mole/train.data.txt": "fedf166bd1e529f7bb0f030a79427f6fb6caf750517b24426993065e2f712ce2",
    "mole/train.gold.txt": "93fbfff59ce0584b9040b84f498b881664cfb86c2a7179ac1709d3ce76cd18e3",
    "pitcher/classes_map.txt": "4caf395fcf530e3d3dfbcd163e9472e75a328693599ddddf5497ae976266f6d5",
    "pitcher/test.data.txt": "4914c667adbadf8686461cd123e177557099ca6afd178e6cc7e924a5ea30aff1",
    "pitcher/test.gold.txt": "3676c1ed6b195f9c6f6c8b2824845369d63e0bc89e66079953e9d7b7fc1960b8",
    "pitcher/train.data.txt": "bd4f74675fb2c652534e9e2dc57aea8f0f527e583e3fc332041da28ab2cb05fe",
    "pitcher/train.gold.txt": "d32c4fdd8af875f3156e49e463ad0b418ba4b54ab13725f98f9f1fefa959f17e",
    "pound/classes_map.txt": "5a9e3e302f39bd7efa8ae5a540bd4e61de0bae4b292e832a8f52bb151b87d1e5",
    "pound/test.data.txt": "a9d88037e3b2fbeeabb1271050a58e58fe6bbc041b95b3c3a0dc2f77e3ccb846",
    "pound/test.gold.txt": "2085b1ac46ad9d2bc4baf71cd6994603a9f18be7eabc7f533b7c6d645f18fe12",
    "pound/train.data.txt": "877e57544877a01aef6d462dacc245afa81df43bf56deed8bfc0145b3ad349d9",
    "pound/train.gold.txt": "dc37b92d844aec65a325e2d14077eaf55939e3e0b532a1326b7bc7a8449c1beb",
    "seal/classes_map.txt": "7bb400cbd6077de38733336ccf9a77d603171039cf4350f7ce9d8accc461353c",
    "seal/test.data.txt": "084b420f5ac4fbf383145be1e6f93d087c41959a005405b182b2759a0510a865",
    "seal/test.gold.txt": "2514bbc04a95bada20d8ae0d7de962f7515086d56c2cb6d827560e4d22e9e19e",
    "seal/train.data.txt": "bce1108ef118310b8589bfb9bca95981107e4327c5253ed3532d1f231e714732",
    "seal/train.gold.txt": "8be932a363a1b287358376811e07229b8b0bbf482457b003494c707683abeb25",
    "spring/classes_map.txt": "721977ffb47e2ebe24cbb703748d387bbae0afc15e7b669863cd5bbc2a2ecaaf",
    "spring/test.data.txt": "f7a6110dbf27f10e8c476c3e286844e6acf42fa2d437f1b49b6860083dc07220",
    "spring/test.gold.txt": "f5741fea3e593180bdb54a80f4218d272f0568be870637d02344a185f3a5f2c0",
    "spring/train.data.txt": "a272e004a2c20c23f773ebbd4cb54c5b1be3257bb36a81c37f824ac860beb517",
    "spring/train.gold.txt": "4f41fd584e6f8a90dbd7527dc5ab5460397d6313e37a93d4572b54512f553245",
    "square/classes_map.txt": "89e115a625c74ad6e9eecfa4201ce8bf011bde66a2989f143edda38e63c9194c",
    "square/test.data.txt": "5a87b520e998e34dbcb712c88ed9ed62cd7eb24fc566a9479bdae91ca81957a4",
    "square/test.gold.txt": "61d5e73f1f4ac9124956121d892ae0366b472a52e0cc51cdb9c8a0334dc69ce8",
    "square/train.data.txt": "c528b7bf8021e56adc37c22df0973460c9963d2b5349391409e6e1862361ad64",
    "square/train.gold.txt": "bfa161dd987438497fd3dbb122a9e9a42f55be6f786b9becc9fea6ae6b289674",
    "trunk/classes_map.txt": "43e266d14c39cad10690cc31f571c617309c9eedce9af15c62462f7431e94657",
    "trunk/test.data.txt": "bf4bb3434fb549970201fc915ce6e79c4a1d75766db746f65ceb48692b8a89f3",
    "trunk/test.gold.txt": "698e7482594751f0c567ebd6946272c0e752aa1bc268f0684650061375afbc94",
    "trunk/train.data.txt": "09b091de1f2ea64f478737fd8b052d9136ddc03aa3c7b58f67a3271c8d0e47ed",
    "trunk/train.gold.txt": "bfe72a3f5160197698a9c1bacddbfc34ad38711626d872c70e73383037aef3f4",
    "yard/classes_map.txt": "5603ce7c1cda1d3ff427de064f0b57bb1abb067e40f767bda12e3b4bac4d7bc8",
    "yard/test.data.txt": "3dcbe128b193e1ddeb7366e347732b3ee6dac038338b44e5b04b5e9e6fcfb288",
    "yard/test.gold.txt": "278b6d8dce5aa6e237a36306e5c16794f424d1e008a58b9556527626e0292db8",
    "yard/train.data.txt": "47ffd402d9fca6fc7d3f999a3b4af18b60d5629a2a0d699779c236619c7907d7",
    "yard/train.gold.txt": "080f383314a850a308a664afef830cccbd13f5f57d2d5529bd33cf502a7a3862",
}

CORPORA: dict[str, Corpus] = {corpus.name: corpus for corpus in [
    Corpus(
        "tinyshakespeare",
        "Tiny Shakespeare: 1.1 MB of Shakespeare's plays, the character-level LM benchmark",
        "public-domain text",
        "Karpathy, A. (2015). char-rnn. https://github.com/karpathy/char-rnn",
        (CorpusFile("tinyshakespeare/input.txt", _github(
            "karpathy/char-rnn", "6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e",
            "data/tinyshakespeare/input.txt"),
            "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"),),
    ),
    Corpus(
        "names",
        "32,033 lowercase first names (US Social Security data), as used by makemore",
        "public data (US government)",
        "Karpathy, A. (2022). makemore. https://github.com/karpathy/makemore",
        (CorpusFile("names/names.txt", _github(
            "karpathy/makemore", "988aa59e4d8fefa526d06f3b453ad116258398d4", "names.txt"),
            "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"),),
    ),
    Corpus(
        "multi30k",
        "Multi30k task 1: image captions aligned in English, German, French and Czech (MT)",
        "research use; cite Elliott et al. 2016",
        "Elliott, D., Frank, S., Sima'an, K. and Specia, L. (2016). Multi30K: Multilingual "
        "English-German Image Descriptions. Proceedings of the 5th Workshop on Vision and "
        "Language, pp. 70-74.",
        tuple(CorpusFile(f"multi30k/{name}", _github(*_MULTI30K, f"data/task1/raw/{name}"), sha)
              for name, sha in _MULTI30K_SHA256.items()),
    ),
    Corpus(
        "ud_english_ewt",
        "Universal Dependencies English Web Treebank v2.16: sentences tagged with UPOS and PTB",
        "CC BY-SA 4.0",
        "Silveira, N. et al. (2014). A Gold Standard Dependency Corpus for English. "
        "Proceedings of LREC 2014.",
        (
            CorpusFile("ud_english_ewt/en_ewt-ud-train.conllu",
                       _github(*_EWT, "en_ewt-ud-train.conllu"),
                       # The mirror's copy was reassembled from the treebank's sources: same
                       # counts as the release, possibly different bytes. Check the counts.
                       validator=expect_conllu_counts(12_544, 204_577)),
            CorpusFile("ud_english_ewt/en_ewt-ud-dev.conllu", _github(*_EWT, "en_ewt-ud-dev.conllu"),
                       "531a54ff90d6ab12201c5a50c3e78e6ddac4de69abc4bce5d275d3cd29efe2b6"),
            CorpusFile("ud_english_ewt/en_ewt-ud-test.conllu",
                       _github(*_EWT, "en_ewt-ud-test.conllu"),
                       "e266e515a0a7547657ed3d90d9ba46487d6bd251f27ad4269d4e8a427c8555cd"),
            CorpusFile("ud_english_ewt/LICENSE.txt", _github(*_EWT, "LICENSE.txt"),
                       "b3d1b0f4c6ae151f7eb78738f46ebd5ee140f8a7f76501ba26af123140d35ae7"),
        ),
    ),
    Corpus(
        "mr",
        "MR movie-review sentence polarity v1.0: 5,331 positive + 5,331 negative sentences",
        "research use; cite Pang & Lee 2005",
        "Pang, B. and Lee, L. (2005). Seeing stars: Exploiting class relationships for "
        "sentiment categorization with respect to rating scales. Proceedings of ACL 2005.",
        (
            CorpusFile("rt_polarity/rt-polarity.pos",
                       _github(*_MR, "data/rt-polaritydata/rt-polarity.pos"),
                       "4134882974a28d0c7b5151256f0e33a6169984ee7372c279e673f1114f475d58"),
            CorpusFile("rt_polarity/rt-polarity.neg",
                       _github(*_MR, "data/rt-polaritydata/rt-polarity.neg"),
                       "2d11cfbc790f1cd96d78339f41ce53ced1efa83cd22d37d6788fa3fe3d17e2fd"),
        ),
    ),
    Corpus(
        "coarsewsd20",
        "CoarseWSD-20 v1.0: Wikipedia sentences for 20 ambiguous nouns, 2-5 coarse senses each",
        "CC BY-NC 4.0; cite Loureiro et al. 2021",
        "Loureiro, D., Rezaee, K., Pilehvar, M. T. and Camacho-Collados, J. (2021). Analysis "
        "and Evaluation of Language Models for Word Sense Disambiguation. Computational "
        "Linguistics 47(2), pp. 387-443.",
        tuple(CorpusFile(f"coarsewsd20/{name}", _github(*_COARSEWSD20, f"data/CoarseWSD-20/{name}"),
                         sha) for name, sha in _COARSEWSD20_SHA256.items()),
    ),
    Corpus(
        "fsdd",
        "Free Spoken Digit Dataset v1.0.10: 3,000 recordings of the digits 0-9, 6 speakers, "
        "8 kHz, and the speakers' metadata.py",
        "CC BY-SA 4.0",
        "Jackson, Z. et al. (2018). Free Spoken Digit Dataset (FSDD). "
        "https://github.com/Jakobovski/free-spoken-digit-dataset",
        # 3,001 small files: one archive download, every extracted file verified.
        archive=archives.RepositoryArchive(
            "fsdd", "https://codeload.github.com/Jakobovski/free-spoken-digit-dataset/tar.gz/"
            "26eb9aaf76e81b692f806f9140c2d2777410d7a1",
            ("recordings/", "metadata.py"), 3_001,
            "02eda117bdf3c0c4b44d9b81a7edb15caea74a5a899b90b7b2fe604bf1dbee38"),
    ),
    Corpus(
        "aeslc",
        "Annotated Enron Subject Line Corpus: 18,302 emails -> subject lines (summarisation)",
        "CC BY-NC-SA 4.0; cite Zhang & Tetreault 2019",
        "Zhang, R. and Tetreault, J. (2019). This Email Could Save Your Life: Introducing the "
        "Task of Email Subject Line Generation. Proceedings of ACL 2019, pp. 446-456.",
        # 18,302 files: one archive download, every extracted file verified (course_lib.corpora.archives).
        archive=archives.RepositoryArchive(
            "aeslc", "https://codeload.github.com/ryanzhumich/AESLC/tar.gz/"
            "7afc087a1cc234d07121f0d4a2d87102ddceabc2",
            ("enron_subject_line/", "README.md", "LICENSE.md"), 18_304,
            "6b619c26ede19bc6025380f3448ead8f78e3648c186c6e70507ac5fab9031cc5"),
    ),
]}



def sha256_of(local: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(local, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()

