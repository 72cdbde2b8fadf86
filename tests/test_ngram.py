"""course_lib.ngram: normalisation, hand-worked answers, brute-force and NLTK oracles, errors."""

from __future__ import annotations

import math
import warnings
from collections import Counter

import numpy as np
import pytest
import torch

from course_lib.ngram import NgramLM
from course_lib.smoothing import DISCOUNT_FALLBACK, modified_kn_discounts, usable_discounts

PROPER = ["add_k", "interpolation", "kneser_ney", "modified_kneser_ney"]
TOY = [["a", "b"], ["b", "a", "b"]]  # the two-sentence corpus worked by hand below


def markov_corpus(seed: int = 0, sentences: int = 60) -> list[list[str]]:
    """Sentences from a random sparse bigram chain over 12 words (deterministic)."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(12)]
    successors = {w: rng.choice(12, size=3, replace=False) for w in words}
    corpus = []
    for _ in range(sentences):
        word, sentence = words[rng.integers(12)], []
        for _ in range(rng.integers(1, 9)):
            sentence.append(word)
            word = words[rng.choice(successors[word])]
        corpus.append(sentence)
    return corpus


def zipf_corpus(seed: int = 0, sentences: int = 2000, vocab_size: int = 1000) -> list[list[str]]:
    """Sentences of words drawn by Zipf's law: enough data for every modified-KN estimate."""
    rng = np.random.default_rng(seed)
    p = 1 / np.arange(1, vocab_size + 1)
    return [[f"w{i}" for i in rng.choice(vocab_size, size=rng.integers(2, 12), p=p / p.sum())]
            for _ in range(sentences)]


SMALL_DATA = pytest.mark.filterwarnings("ignore:modified Kneser-Ney:UserWarning")


def sampled_contexts(model: NgramLM, corpus, seed: int = 0, num: int = 25) -> list[list[str]]:
    """Contexts seen in training (from the corpus) and random, mostly unseen ones."""
    rng = np.random.default_rng(seed)
    width = max(model.order - 1, 1)
    seen = [s[max(0, i - width):i] for s in corpus for i in range(1, len(s))][:num]
    words = [t for t in model.vocab_.itos]
    unseen = [list(rng.choice(words + ["never-seen"], size=width)) for _ in range(num)]
    return seen + unseen + [[], [model.bos], [model.bos] * width]


@SMALL_DATA
# ---------------------------------------------------------------------------- invariants
@pytest.mark.parametrize("method", PROPER)
@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("pad", [True, False])
def test_next_token_distribution_sums_to_one(method, order, pad):
    corpus = markov_corpus()
    model = NgramLM(order, method, pad=pad).fit(corpus)
    for context in sampled_contexts(model, corpus):
        distribution = model.next_token_distribution(context)
        assert distribution.shape == (len(model.vocab_),)
        assert np.all(distribution >= 0)
        assert abs(distribution.sum() - 1) < 1e-9, (context, distribution.sum())


@SMALL_DATA
@pytest.mark.parametrize("method", PROPER + ["mle", "stupid_backoff"])
def test_dense_distribution_matches_pointwise_scores(method):
    corpus = markov_corpus(1)
    model = NgramLM(3, method).fit(corpus)
    for context in sampled_contexts(model, corpus, num=8):
        dense = model.next_token_scores(context)
        point = [model.token_score(token, context) for token in model.vocab_.itos]
        np.testing.assert_allclose(dense, point, rtol=1e-12, atol=1e-15)


def test_counts_match_brute_force():
    corpus = markov_corpus(2)
    model = NgramLM(4, "mle").fit(corpus)
    expected: Counter = Counter()
    for sentence in corpus:
        padded = ["<s>"] * 3 + sentence + ["</s>"]
        for n in range(1, 5):  # count n-grams that end at a predicted token
            expected.update(tuple(padded[i - n + 1:i + 1]) for i in range(3, len(padded)))
    for ngram, count in expected.items():
        assert model.count(ngram) == count
    assert model.count(("w0", "never-seen")) == 0


# ---------------------------------------------------------------------- known answers
def test_mle_on_a_toy_corpus():
    model = NgramLM(2, "mle", unk=None).fit(TOY)
    assert model.count(("a", "b")) == 2 and model.count(("b", "</s>")) == 2
    assert math.isclose(model.logprob("b", ["a"]), 0.0)  # a is always followed by b
    assert math.isclose(math.exp(model.logprob("</s>", ["b"])), 2 / 3)
    assert math.isclose(math.exp(model.logprob("a", ["b"])), 1 / 3)
    assert model.logprob("b", ["b"]) == -math.inf  # never seen: MLE gives 0
    unigram = NgramLM(1, "mle", unk=None).fit(TOY)  # targets: a a b b b </s> </s>
    assert math.isclose(math.exp(unigram.logprob("b")), 3 / 7)
    sentence = math.log(1 / 2) + math.log(1.0) + math.log(2 / 3)  # <s> a b </s>
    assert math.isclose(model.sequence_logprob(["a", "b"]), sentence)


def test_kneser_ney_worked_by_hand():
    # Bigrams: (<s>,a) (a,b) (b,</s>) | (<s>,b) (b,a) (a,b) (b,</s>); D = 0.75, V = 5.
    # Continuation counts N1+(. w): a 2 (<s>, b), b 2 (<s>, a), </s> 1, <s> 0, <unk> 0; 5 types.
    # Unigram: p1(w) = max(N1+ - D, 0)/5 + (D * 3/5) * 1/5 -> a, b 0.34; </s> 0.14; others 0.09.
    # After b: counts </s> 2, a 1 (c = 3), gamma(b) = D * 2/3 = 0.5.
    model = NgramLM(2, "kneser_ney", discount=0.75).fit(TOY)
    p1 = dict(zip(model.vocab_.itos, NgramLM(2, "kneser_ney").fit(TOY)
                  .next_token_distribution(["never-seen"]), strict=True))
    assert p1 == pytest.approx({"<unk>": 0.09, "<s>": 0.09, "</s>": 0.14, "a": 0.34, "b": 0.34})
    expected = {"a": 0.25 / 3 + 0.5 * 0.34, "b": 0.5 * 0.34, "</s>": 1.25 / 3 + 0.5 * 0.14}
    for word, p in expected.items():
        assert math.exp(model.logprob(word, ["b"])) == pytest.approx(p, rel=1e-12)
    assert math.exp(model.logprob("a", ["<s>"])) == pytest.approx(0.25 / 2 + 0.75 * 0.34)


def test_nltk_compatible_kneser_ney_worked_by_hand():
    # NLTK's unigram level is N1+(. w) / N1+(. .) undiscounted: a 2/5, </s> 1/5, <s> 0.
    model = NgramLM(2, "kneser_ney", nltk_compatible=True).fit(TOY)
    assert math.exp(model.logprob("a", ["b"])) == pytest.approx(0.25 / 3 + 0.5 * 0.4)
    assert model.next_token_distribution(["never-seen"])[model.vocab_.stoi["<s>"]] == 0.0


@SMALL_DATA
def test_modified_kneser_ney_discounts_follow_chen_goodman():
    counts = np.array([1] * 10 + [2] * 4 + [3] * 3 + [4] * 2 + [7] * 5)
    y = 10 / (10 + 2 * 4)
    expected = [1 - 2 * y * 4 / 10, 2 - 3 * y * 3 / 4, 3 - 4 * y * 2 / 3]
    np.testing.assert_allclose(modified_kn_discounts(counts), expected)
    assert usable_discounts(modified_kn_discounts(counts))
    model = NgramLM(3, "modified_kneser_ney").fit(markov_corpus(3, 300))
    top = model.counts_[3].count
    np.testing.assert_allclose(model.discounts_[-1], modified_kn_discounts(top[top > 0]))
    assert model.discounts_.shape == (3, 3)


@pytest.mark.parametrize("counts, why", [
    ([1, 1, 1, 3, 4], "n2 = 0 gives D1 = 1: singletons would get nothing"),
    ([1, 1, 2, 2, 4], "n3 = 0 gives D2 = NaN"),
    ([1, 2, 3, 5], "n4 = 0 gives D3+ = 3"),
    ([2, 2, 3, 4], "n1 = 0 gives NaN"),
])
def test_degenerate_count_of_counts_are_not_usable(counts, why):
    assert not usable_discounts(modified_kn_discounts(np.array(counts))), why


@pytest.mark.parametrize("corpus, order", [
    (["a b"], 3),  # one string: the characters a, space, b
    ([["a", "b"]], 3),
    ([["a", "b"], ["a", "c"], ["b", "c", "c"]], 2),
    (TOY, 4),
])
def test_modified_kneser_ney_falls_back_on_tiny_data_and_stays_sensible(corpus, order):
    with pytest.warns(UserWarning, match="fallback discounts D1, D2, D3\\+ = 0.5, 1.0, 1.5"):
        model = NgramLM(order, "modified_kneser_ney").fit(corpus)
    for d in model.discounts_:
        assert usable_discounts(d) and d[0] <= d[1] <= d[2]
    assert any(np.array_equal(d, DISCOUNT_FALLBACK) for d in model.discounts_)
    for context in sampled_contexts(model, [list(s) for s in corpus]):
        distribution = model.next_token_distribution(context)
        assert abs(distribution.sum() - 1) < 1e-12, context
    top = model.counts_[order]
    assert np.all(model.levels_[-1].alpha[top.count == 1] > 0)  # singletons keep mass
    # Every n-gram seen once beats the tokens never seen after its context.
    first = [t for t in corpus[0]]
    after = model.next_token_distribution(first[:1])
    unseen = [i for i, t in enumerate(model.vocab_.itos) if model.count((first[0], t)) == 0]
    assert after[model.vocab_.stoi[first[1]]] > after[unseen].max()


def test_modified_kneser_ney_warns_once_per_fit_and_not_on_enough_data():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        NgramLM(3, "modified_kneser_ney").fit([["a", "b"]])
        NgramLM(3, "modified_kneser_ney").fit(zipf_corpus())
    assert len(caught) == 1 and "order 1" in str(caught[0].message)


def test_add_one_matches_makemore_bigram_counts():
    names = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia"]
    chars = sorted(set("".join(names)))
    stoi = {c: i + 1 for i, c in enumerate(chars)} | {".": 0}
    counts = torch.ones(len(stoi), len(stoi), dtype=torch.float64)  # add-one, brute force as in makemore
    pairs = [(stoi[a], stoi[b]) for name in names for a, b in zip("." + name, name + ".", strict=True)]
    for i, j in pairs:
        counts[i, j] += 1
    probs = counts / counts.sum(1, keepdim=True)
    expected = -np.mean([math.log(probs[i, j]) for i, j in pairs])
    model = NgramLM(2, "add_k", k=1.0, bos=".", eos=".", unk=None).fit(names)
    assert len(model.vocab_) == len(stoi)
    assert model.cross_entropy(names) == pytest.approx(expected, rel=1e-12)


def test_interpolation_weights_beat_other_weights_on_heldout():
    corpus = markov_corpus(4, 400)
    train, heldout = corpus[:300], corpus[300:]
    tuned = NgramLM(3, "interpolation").fit(train, heldout=heldout)
    assert tuned.lambdas_.shape == (3,) and np.all((tuned.lambdas_ > 0) & (tuned.lambdas_ < 1))
    best = tuned.cross_entropy(heldout)
    for lambdas in ([0.5, 0.5, 0.5], [0.9, 0.9, 0.9], [0.9, 0.5, 0.1]):
        other = NgramLM(3, "interpolation").fit(train, heldout=heldout)
        other.lambdas_ = np.array(lambdas)
        other._set_weights()
        assert best <= other.cross_entropy(heldout) + 1e-9


def test_stupid_backoff_is_a_score_not_a_probability():
    model = NgramLM(2, "stupid_backoff", backoff=0.4, unk=None).fit(TOY)
    assert model.token_score("b", ["a"]) == pytest.approx(1.0)
    assert model.token_score("b", ["b"]) == pytest.approx(0.4 * 3 / 7)  # 0.4 * c(b) / N
    assert model.next_token_scores(["a"]).sum() > 1
    with pytest.raises(ValueError, match="scores"):
        model.logprob("b", ["a"])
    with pytest.raises(ValueError, match="scores"):
        model.perplexity(TOY)


# ------------------------------------------------------------------------ NLTK oracle
@pytest.mark.parametrize("order", [2, 3])
def test_nltk_compatible_matches_nltk(order):
    lm = pytest.importorskip("nltk.lm")
    from nltk.lm.preprocessing import padded_everygram_pipeline

    corpus, test = markov_corpus(5, 80), markov_corpus(6, 10)
    ours = {
        "kn": NgramLM(order, "kneser_ney", discount=0.6, min_count=2, unk="<UNK>",
                      nltk_compatible=True).fit(corpus),
        "laplace": NgramLM(order, "add_k", min_count=2, unk="<UNK>",
                           nltk_compatible=True).fit(corpus),
    }
    theirs = {
        "kn": lm.KneserNeyInterpolated(order, discount=0.6, vocabulary=lm.Vocabulary(unk_cutoff=2)),
        "laplace": lm.Laplace(order, vocabulary=lm.Vocabulary(unk_cutoff=2)),
    }
    for name, model in theirs.items():
        model.fit(*padded_everygram_pipeline(order, corpus))
        expected = []
        for sentence in test:
            padded = ["<s>"] * (order - 1) + sentence + ["</s>"]
            expected += [model.score(padded[i], padded[i - order + 1:i])
                         for i in range(order - 1, len(padded))]
        np.testing.assert_allclose(np.exp(ours[name].token_logprobs(test)), expected, rtol=1e-12)


@SMALL_DATA
# ---------------------------------------------------------- streams, torch, generation
def test_character_stream_cross_entropy_and_perplexity():
    text = "the cat sat on the mat. the dog sat on the log. " * 20
    model = NgramLM(4, "modified_kneser_ney", pad=False, unk=None).fit([text])
    nats = model.cross_entropy(["the cat sat on the log."])
    assert model.cross_entropy(["the cat sat on the log."], unit="bits") == pytest.approx(
        nats / math.log(2))
    assert model.perplexity(["the cat sat on the log."]) == pytest.approx(math.exp(nats))
    assert len(model.token_logprobs(["the", "ca"])) == 5  # no padding, nothing across sequences
    assert nats < 1.0


@pytest.mark.parametrize("method", ["kneser_ney", "stupid_backoff", "add_k"])
def test_call_returns_log_probabilities_like_a_neural_lm(method):
    model = NgramLM(3, method).fit(markov_corpus(7))
    context = ["<s>", "w1", "w2", "w3"]
    tokens = torch.tensor([model.vocab_.encode(context)] * 2)  # (B, T)
    logprobs = model(tokens)
    assert logprobs.shape == (2, 4, len(model.vocab_)) and logprobs.dtype == torch.float32
    probs = torch.softmax(logprobs, dim=-1)
    for t in range(4):
        expected = model.next_token_scores(context[:t + 1])
        np.testing.assert_allclose(probs[0, t].numpy(), expected / expected.sum(), rtol=1e-5)
    with pytest.raises(ValueError, match="token ids"):
        model(torch.tensor([[len(model.vocab_)]]))


def test_course_decoder_can_generate_from_an_ngram_model():
    decoding = pytest.importorskip("course_lib.decoding")
    model = NgramLM(3, "kneser_ney").fit(markov_corpus(8))
    prompt = torch.tensor([model.vocab_.stoi["<s>"]])
    first = decoding.generate(model, prompt, 10, seed=3)
    assert first.shape == (11,) and torch.equal(first, decoding.generate(model, prompt, 10, seed=3))


def test_generate_is_reproducible_under_a_seed():
    model = NgramLM(3, "kneser_ney").fit(markov_corpus(9))
    samples = [model.generate(30, seed=s) for s in (1, 1, 2)]
    assert samples[0] == samples[1]
    assert all(t in model.vocab_.stoi for t in samples[0])
    stream = NgramLM(4, pad=False, unk=None).fit(["the cat sat. " * 30])
    assert len(stream.generate(40, seed=0)) == 40
    assert "".join(stream.generate(13, context="the", temperature=0.01)) == " cat sat. the"


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize("order", [0, -1, 2.0])
def test_bad_order_is_a_clear_error(order):
    with pytest.raises(ValueError, match="order must be an int >= 1"):
        NgramLM(order)


def test_empty_corpus_and_string_corpus_are_clear_errors():
    with pytest.raises(ValueError, match="empty corpus"):
        NgramLM(2).fit([])
    with pytest.raises(ValueError, match="empty corpus"):
        NgramLM(2).fit([[], ""])
    with pytest.raises(TypeError, match="not one string"):
        NgramLM(2).fit("hello world")


def test_unseen_token_under_mle_says_what_to_do():
    model = NgramLM(2, "mle").fit(TOY)
    with pytest.raises(ValueError, match="smoothing='add_k' or 'kneser_ney'"):
        model.logprob("zebra", ["a"])
    with pytest.raises(ValueError, match="min_count=2"):
        model.perplexity([["a", "zebra"]])
    rare = NgramLM(2, "mle", min_count=2).fit(TOY + [["c"]])  # "c" trains <unk>
    assert rare.logprob("zebra", ["<s>"]) == pytest.approx(math.log(1 / 3))


def test_other_clear_errors():
    with pytest.raises(RuntimeError, match="fit"):
        NgramLM(2).logprob("a")
    with pytest.raises(ValueError, match="smoothing must be one of"):
        NgramLM(2, "good_turing")
    with pytest.raises(ValueError, match="no unk token"):
        NgramLM(2, unk=None).fit(TOY).logprob("zebra", ["a"])
    with pytest.raises(ValueError, match="temperature"):
        NgramLM(2).fit(TOY).generate(5, temperature=0)
    with pytest.raises(ValueError, match="unit"):
        NgramLM(2).fit(TOY).cross_entropy(TOY, unit="dB")


# ------------------------------------------------------------------- odd input, clearly
def test_a_stream_shorter_than_the_order_is_refused_at_fit():
    with pytest.raises(ValueError, match="no sequence has 4 tokens.*order <= 2.*pad=True"):
        NgramLM(4, pad=False, unk=None).fit(["ab"])
    with pytest.raises(ValueError, match="no sequence has 3 tokens"):
        NgramLM(3, pad=False).fit([["a", "b"], ["c"]])
    padded = NgramLM(4).fit([["a", "b"]])  # padding makes every sequence long enough
    assert math.isfinite(padded.perplexity([["a", "b"]]))
    # One sequence long enough is enough; the short ones still count their lower orders.
    mixed = NgramLM(3, pad=False, unk=None).fit([["a", "b", "c"], ["b"]])
    assert mixed.count(("a", "b", "c")) == 1 and mixed.count(("b",)) == 2
    # Interpolation tunes on the last 10%: its training part ("ab") holds no trigram.
    tuned = NgramLM(3, "interpolation", pad=False, unk=None).fit(["abc"])
    assert math.isfinite(tuned.perplexity(["abc"]))


def test_scoring_nothing_is_a_clear_error():
    model = NgramLM(2).fit(TOY)
    for empty in ([], [""]):
        stream = NgramLM(2, pad=False, unk=None).fit(["abab"])
        with pytest.raises(ValueError, match="nothing to score"):
            stream.perplexity(empty)
        with pytest.raises(ValueError, match="nothing to score"):
            stream.cross_entropy(empty)
    with pytest.raises(ValueError, match="nothing to score"):
        model.perplexity([])
    assert model.token_logprobs([]).shape == (0,)
    assert model.perplexity([[]]) == pytest.approx(1 / model.token_score("</s>", ["<s>"]))


@pytest.mark.parametrize("k", [float("nan"), float("inf"), 0.0, -1.0])
def test_add_k_needs_a_finite_positive_k(k):
    with pytest.raises(ValueError, match="k must be a finite number > 0"):
        NgramLM(2, "add_k", k=k)


@pytest.mark.parametrize("corpus, where", [
    ([["a", 1, "b"]], "token 1 \\(int\\) at sequence 0, position 1"),
    ([["a"], ["b", None]], "token None \\(NoneType\\) at sequence 1, position 1"),
    ([[("a", "b"), "c"]], "token \\('a', 'b'\\) \\(tuple\\) at sequence 0, position 0"),
    ([[b"a", b"b"]], "token b'a' \\(bytes\\) at sequence 0, position 0.*decode"),
    ([b"some bytes"], "sequence 0 is bytes b'some bytes'.*decode"),
    ([["a"], 7], "sequence 1 is int 7"),
    ([[1, 2, 3]], "token 1 \\(int\\) at sequence 0, position 0"),
])
def test_tokens_that_are_not_strings_are_a_clear_type_error(corpus, where):
    with pytest.raises(TypeError, match=where):
        NgramLM(2).fit(corpus)
    with pytest.raises(TypeError, match=where.replace("fit", "")):
        NgramLM(2).fit(TOY).token_logprobs(corpus)


def test_string_subclasses_are_tokens():
    tokens = list(np.array(["a", "b", "a"]))  # numpy.str_ is a str
    assert NgramLM(2, "mle").fit([tokens]).count(("a", "b")) == 1


def test_order_is_any_integral_number_but_not_a_bool():
    assert NgramLM(np.int64(3)).order == 3 and type(NgramLM(np.int64(3)).order) is int
    assert NgramLM(np.int64(2)).fit(TOY).count(("a", "b")) == 2
    for order in (True, False, 3.0, "3"):
        with pytest.raises(ValueError, match="order must be an int >= 1"):
            NgramLM(order)


@pytest.mark.parametrize("symbol, sequence, position", [
    ("<s>", ["a", "<s>", "b"], 1),
    ("</s>", ["a", "b", "</s>"], 2),
])
def test_literal_padding_symbols_in_the_data_are_a_clear_error(symbol, sequence, position):
    corpus = [["a", "b"], sequence]
    message = f"token '{symbol}' at sequence 1, position {position} is the padding symbol"
    with pytest.raises(ValueError, match=message + ".*bos='<bos>'.*pad=False"):
        NgramLM(2).fit(corpus)
    with pytest.raises(ValueError, match=message):
        NgramLM(2).fit(TOY).token_logprobs(corpus)
    # Without padding, or with other padding symbols, they are ordinary tokens.
    assert NgramLM(2, pad=False).fit(corpus).count((sequence[1], sequence[2])) == 1
    assert NgramLM(2, bos="<bos>", eos="<eos>").fit(corpus).count(("<bos>", "a")) == 2
    # Characters: a one-character BOS/EOS (makemore's ".") must not occur in the text.
    with pytest.raises(ValueError, match="token '.' at sequence 0, position 2"):
        NgramLM(2, bos=".", eos=".", unk=None).fit(["ab.c"])
    assert NgramLM(2).fit(["a<s>b"]).count(("<", "s")) == 1  # "<s>" is 3 characters here


# ---------------------------------------------------------------- one sampler for all
def test_generate_draws_what_the_course_sampler_draws_from_the_model():
    decoding = pytest.importorskip("course_lib.decoding")
    stream = NgramLM(4, pad=False, unk=None).fit(["the cat sat on the mat. " * 20])
    prompt = torch.tensor(stream.vocab_.encode(list("the ")))
    for seed, temperature in [(0, 1.0), (5, 0.7), (9, 1.5)]:
        ours = stream.generate(60, context="the ", seed=seed, temperature=temperature)
        theirs = decoding.generate(stream, prompt, 60, seed=seed, temperature=temperature)
        assert ours == stream.vocab_.decode(theirs[len(prompt):].tolist())

    # A padded model: the same draws as decoding.generate on a model that cannot say BOS.
    model = NgramLM(3, "kneser_ney").fit(markov_corpus(10))
    bos, eos = model.vocab_.stoi["<s>"], model.vocab_.stoi["</s>"]

    def without_bos(tokens):
        return model(tokens).index_fill(-1, torch.tensor([bos]), float("-inf"))

    without_bos.block_size = model.block_size
    for seed in range(5):
        ours = model.generate(30, seed=seed)
        theirs = decoding.generate(without_bos, torch.tensor([bos]), 30, seed=seed, eos_id=eos)
        theirs = model.vocab_.decode(theirs[1:].tolist())
        if "</s>" in theirs:
            theirs = theirs[:theirs.index("</s>")]
        assert ours == theirs
        assert "<s>" not in ours and "</s>" not in ours


def test_generate_from_nothing_and_from_a_unigram_model():
    stream = NgramLM(3, pad=False, unk=None).fit(["abcabcabc"])
    assert "".join(stream.generate(9, seed=0, temperature=0.01)) in ("abcabcabc", "bcabcabca",
                                                                    "cabcabcab")
    unigram = NgramLM(1, "mle", unk=None).fit([["a", "a", "a", "b"]])
    draws = unigram.generate(2000, seed=0)  # stops at </s>, which has probability 1/5
    assert set(draws) <= {"a", "b"} and len(draws) < 2000


def test_generate_ends_names_when_bos_and_eos_are_one_symbol():
    names = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia"]
    model = NgramLM(2, "add_k", k=1.0, bos=".", eos=".", unk=None).fit(names)
    samples = ["".join(model.generate(20, seed=seed)) for seed in range(20)]
    assert all("." not in s for s in samples)
    assert sum(len(s) < 20 for s in samples) >= 15  # P("." | "a") = (7 + 1) / (10 + 12): most end
