"""course_lib.tagging: trigram Viterbi vs brute force, deleted interpolation, toy taggers."""

import itertools

import numpy as np
import pytest

from course_lib.tagging import (
    HMMTagger,
    MostFrequentTagTagger,
    UnknownWordModel,
    _deleted_interpolation,
    tagging_accuracy,
    viterbi_pairs,
    word_shape,
)


def brute_force_trigram(log_transitions, log_emissions, log_pair=None):
    """Best tag path of one sentence by scoring every path: boundary index K at both ends;
    ``log_pair[i, a, b]``: extra score of tag b at token i after tag a (K: the start)."""
    length, k = log_emissions.shape
    best = (-np.inf, None)
    for path in itertools.product(range(k), repeat=length):
        ids = [k, k, *path, k]
        score = sum(log_transitions[ids[i], ids[i + 1], ids[i + 2]] for i in range(length + 1))
        score += log_emissions[np.arange(length), path].sum()
        if log_pair is not None:
            score += log_pair[np.arange(length), ids[1:-2], path].sum()
        best = max(best, (score, path), key=lambda pair: pair[0])
    return best


@pytest.mark.parametrize("seed", range(4))
def test_trigram_viterbi_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    k = 3
    log_transitions = np.log(rng.dirichlet(np.ones(k + 1), size=(k + 1, k + 1)))
    lengths = [4, 1, 3, 2, 4]
    log_emissions = np.log(rng.random((sum(lengths), k)))
    if seed % 2:  # some impossible tags, as for known words
        log_emissions[rng.random(log_emissions.shape) < 0.3] = -np.inf
        log_emissions[np.arange(len(log_emissions)), rng.integers(0, k, len(log_emissions))] = 0
    log_pair = np.log(rng.random((sum(lengths), k + 1, k))) if seed >= 2 else None
    logprob, states = viterbi_pairs(
        log_transitions, log_emissions, lengths, log_pair_emissions=None if log_pair is None else (
            lambda rows, prev, cur: log_pair[rows[:, None, None], prev[:, :, None],
                                             cur[:, None, :]]))
    starts = np.cumsum([0, *lengths])
    for b, (lo, hi) in enumerate(itertools.pairwise(starts)):
        score, path = brute_force_trigram(log_transitions, log_emissions[lo:hi],
                                          None if log_pair is None else log_pair[lo:hi])
        assert np.isclose(logprob[b], score)
        assert tuple(states[lo:hi]) == path


def test_candidate_pruning_is_exact_when_tokens_have_few_tags():
    rng = np.random.default_rng(5)
    k = 5
    log_transitions = np.log(rng.dirichlet(np.ones(k + 1), size=(k + 1, k + 1)))
    log_emissions = np.full((12, k), -np.inf)
    for row in log_emissions:  # every token has at most 2 possible tags
        row[rng.choice(k, size=2, replace=False)] = np.log(rng.random(2))
    full = viterbi_pairs(log_transitions, log_emissions, [7, 5], max_candidates=k)
    pruned = viterbi_pairs(log_transitions, log_emissions, [7, 5], max_candidates=2)
    assert np.allclose(full[0], pruned[0]) and np.array_equal(full[1], pruned[1])


def test_deleted_interpolation_hand_example():
    # bigram counts over tags {0, 1}: f(0,0)=3, f(0,1)=1, f(1,0)=1, f(1,1)=0.
    # (0,0): bigram (3-1)/(4-1)=.667 > unigram (f(0)=4; (4-1)/(5-1)=.75)? no: unigram wins, 3 votes
    # (0,1): bigram 0/3=0, unigram (1-1)/4=0: tie -> unigram, 1 vote
    # (1,0): bigram (1-1)/(1-1) -> 0, unigram .75 -> 1 vote. So all 5 votes to the unigram.
    counts = np.array([[3.0, 1.0], [1.0, 0.0]])
    assert np.allclose(_deleted_interpolation(counts), [1.0, 0.0])
    # a deterministic chain 0 -> 1 -> 0 -> ...: the bigram estimate always wins
    counts = np.array([[0.0, 5.0], [5.0, 0.0]])
    assert np.allclose(_deleted_interpolation(counts), [0.0, 1.0])


TRAIN = [
    ("I can run .".split(), "PRON AUX VERB PUNCT".split()),
    ("you can walk .".split(), "PRON AUX VERB PUNCT".split()),
    ("the can is red .".split(), "DET NOUN AUX ADJ PUNCT".split()),
    ("a dog is running .".split(), "DET NOUN AUX VERB PUNCT".split()),
    ("the cat is sleeping .".split(), "DET NOUN AUX VERB PUNCT".split()),
    ("Anna saw the dog .".split(), "PROPN VERB DET NOUN PUNCT".split()),
    ("we saw Boris .".split(), "PRON VERB PROPN PUNCT".split()),
    ("they are walking .".split(), "PRON AUX VERB PUNCT".split()),
]
SENTENCES, TAGS = [s for s, _ in TRAIN], [t for _, t in TRAIN]


@pytest.mark.parametrize("order", [1, 2])
def test_taggers_resolve_ambiguity_from_context(order):
    tagger = HMMTagger(order=order, unknown_words=UnknownWordModel()).fit(SENTENCES, TAGS)
    assert tagger.predict([["you", "can", "run", "."], ["a", "can", "is", "red", "."]]) == [
        ["PRON", "AUX", "VERB", "PUNCT"], ["DET", "NOUN", "AUX", "ADJ", "PUNCT"]]
    assert np.isclose(tagger.lambdas_.sum(), 1.0)
    assert tagger.log_transitions_.shape == (len(tagger.tags_) + 1,) * (order + 1)


def test_unknown_words_by_suffix_and_shape():
    tagger = HMMTagger(order=2, unknown_words=UnknownWordModel()).fit(SENTENCES, TAGS)
    # "jumping" shares "-ing" with running/sleeping/walking; "Clara" is capitalised
    assert tagger.predict([["the", "dog", "is", "jumping", "."],
                           ["we", "saw", "Clara", "."]]) == [
        ["DET", "NOUN", "AUX", "VERB", "PUNCT"], ["PRON", "VERB", "PROPN", "PUNCT"]]


def test_lowercase_backoff_uses_the_lexicon():
    tagger = HMMTagger(order=1, unknown_words=UnknownWordModel()).fit(SENTENCES, TAGS)
    assert tagger.predict([["The", "dog", "is", "red", "."]])[0][0] == "DET"
    assert not tagger.is_known("The")


def test_bigram_tagger_is_exact_viterbi_over_its_own_scores():
    tagger = HMMTagger(order=1, unknown_words=UnknownWordModel()).fit(SENTENCES, TAGS)
    sentence = ["the", "dog", "saw", "Anna", "running"]
    log_em = tagger.log_emissions([sentence])
    lt, k = tagger.log_transitions_, len(tagger.tags_)
    best = max(itertools.product(range(k), repeat=len(sentence)),
               key=lambda p: lt[k, p[0]] + sum(lt[a, b] for a, b in itertools.pairwise(p))
               + lt[p[-1], k] + log_em[np.arange(len(p)), p].sum())
    assert tagger.predict([sentence])[0] == [tagger.tags_[i] for i in best]


def test_unseen_words_without_a_model_raise_and_lidstone_tags_them():
    with pytest.raises(KeyError, match="not seen in training"):
        HMMTagger(order=2).fit(SENTENCES, TAGS).predict([["the", "zebra", "."]])
    tagger = HMMTagger(order=1, emission_smoothing=0.1).fit(SENTENCES, TAGS)
    assert len(tagger.predict([["the", "zebra", "."]])[0]) == 3


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="order"):
        HMMTagger(order=3)
    with pytest.raises(ValueError, match="same number"):
        HMMTagger().fit(SENTENCES, TAGS[:-1])
    with pytest.raises(TypeError, match="list of sentences"):
        HMMTagger(unknown_words=UnknownWordModel()).fit(SENTENCES, TAGS).predict(["the", "dog"])
    with pytest.raises(RuntimeError, match="fit"):
        HMMTagger().predict([["the"]])


def test_most_frequent_tag_and_accuracy_report():
    baseline = MostFrequentTagTagger().fit(SENTENCES, TAGS)
    gold = [["PRON", "AUX", "VERB", "PUNCT"]]
    sentence = [["you", "can", "fly", "."]]
    predicted = baseline.predict(sentence)
    assert predicted == [["PRON", "AUX", "PUNCT", "PUNCT"]]  # unseen "fly" -> most frequent tag
    report = tagging_accuracy(gold, predicted, sentence, known_words={"you", "can", "."})
    assert report == {"accuracy": 0.75, "known": 1.0, "unknown": 0.0, "unknown_share": 0.25}


def test_word_shapes():
    assert word_shape("Paris") == "cap" and word_shape("Paris", first=True) == "cap^"
    assert word_shape("NASA") == "upper" and word_shape("well-known") == "lower-"
    assert word_shape("A4") == "upper#" and word_shape("Route66") == "cap#" and word_shape("1999") == "none#"


def test_capitalisation_states_let_transitions_see_capitals():
    # "run" follows the ADJ "Big" as a NOUN and the ADJ "big" as a VERB: only a tagger whose
    # states carry the capitalisation flag can tell the two contexts apart.
    sentences = [["a", "Big", "run", "."], ["a", "big", "run", "."]]
    tags = [["DET", "ADJ", "NOUN", "PUNCT"], ["DET", "ADJ", "VERB", "PUNCT"]]
    plain = HMMTagger(order=2, unknown_words=UnknownWordModel()).fit(sentences, tags)
    predicted = plain.predict(sentences)
    assert predicted[0][2] == predicted[1][2]  # same tag contexts, same emissions
    capital = HMMTagger(order=2, unknown_words=UnknownWordModel(),
                        capitalisation=True).fit(sentences, tags)
    assert capital.predict(sentences) == tags
    k = len(capital.tags_)
    assert capital.log_transitions_.shape == (2 * k + 1,) * 3


@pytest.mark.parametrize("order", [1, 2])
def test_capitalised_emissions_are_distributions_over_words_with_the_flag(order):
    # P(w | t, c) = c(w, t) / c(t, c): for every (tag, flag) state seen in training, the
    # emission probabilities of the training words sum to one.
    tagger = HMMTagger(order=order, unknown_words=UnknownWordModel(),
                       capitalisation=True).fit(SENTENCES, TAGS)
    words = list(tagger.vocab_)
    scores = tagger._capitalised_log_emissions(tagger.log_emissions([words]), words)  # (V, 2K)
    totals = np.exp(scores).sum(axis=0)
    pairs = {(t, w[0].isupper()) for ws, ts in zip(SENTENCES, TAGS, strict=True)
             for w, t in zip(ws, ts, strict=True)}
    assert np.allclose(totals[totals > 0], 1.0) and (totals > 0).sum() == len(pairs)
    assert np.all(np.isneginf(scores[tagger.vocab_["Anna"], :len(tagger.tags_)]))  # capitalised



def test_candidates_are_ranked_by_emission_plus_prior():
    # Token 1's best emission is tag 2 (a rare tag), but with the prior its most probable
    # tag is 0: with one candidate per token, the prior decides which tag survives.
    log_transitions = np.zeros((4, 4, 4))  # uniform: only emissions and candidates matter
    log_emissions = np.log([[0.8, 0.1, 0.1], [0.3, 0.1, 0.6]])
    log_prior = np.log([0.7, 0.2, 0.1])
    assert list(viterbi_pairs(log_transitions, log_emissions, [2], max_candidates=1)[1]) == [0, 2]
    assert list(viterbi_pairs(log_transitions, log_emissions, [2], max_candidates=1,
                              log_prior=log_prior)[1]) == [0, 0]
    exact = viterbi_pairs(log_transitions, log_emissions, [2], max_candidates=3)
    ranked = viterbi_pairs(log_transitions, log_emissions, [2], max_candidates=3,
                           log_prior=log_prior)
    assert np.allclose(exact[0], ranked[0]) and np.array_equal(exact[1], ranked[1])


def test_lexicon_smoothing_mixes_the_suffix_guess_into_known_words():
    beta = 2.0
    plain = HMMTagger(order=2, unknown_words=UnknownWordModel()).fit(SENTENCES, TAGS)
    smooth = HMMTagger(order=2, unknown_words=UnknownWordModel(),
                       lexicon_smoothing=beta).fit(SENTENCES, TAGS)
    row = smooth.vocab_["running"]  # seen once, as VERB
    assert np.isinf(plain.log_emissions_[row]).sum() == len(plain.tags_) - 1
    prior = smooth.tag_prior_
    posterior = np.exp(smooth.log_emissions_[row]) * prior  # P(t | running), a distribution
    assert np.isclose(posterior.sum(), 1.0) and np.all(posterior > 0)
    guess = np.exp(smooth.unknown_words.log_scores("running")) * prior
    expected = (np.eye(len(prior))[smooth.tags_.index("VERB")] + beta * guess / guess.sum()) / (
        1 + beta)
    assert np.allclose(posterior, expected)
    assert smooth.predict([["the", "dog", "is", "running", "."]]) == [
        ["DET", "NOUN", "AUX", "VERB", "PUNCT"]]
    with pytest.raises(ValueError, match="lexicon_smoothing"):
        HMMTagger(lexicon_smoothing=-1.0)


def test_previous_tag_emissions_hand_example_and_limits():
    # "can" is AUX twice, both times after a PRON; P(PRON | AUX) = 3/6 (I can, you can, they
    # are; is x3 follows NOUNs). With m = 1: P(PRON | can, AUX) = (2 + 0.5) / (2 + 1) = 5/6.
    tagger = HMMTagger(order=2, unknown_words=UnknownWordModel(), previous_tag_smoothing=1.0,
                       previous_tag_min_count=1).fit(SENTENCES, TAGS)
    tag = tagger.tags_.index
    row = tagger.previous_tag_words_["can"]
    assert np.isclose(tagger.log_previous_tag_[row, tag("PRON"), tag("AUX")], np.log(5 / 3))
    assert np.isclose(tagger.log_previous_tag_[row, tag("DET"), tag("NOUN")], 0.0)  # P(DET|NOUN)=1
    assert not tagger.log_previous_tag_[0].any()  # words below the min count: no correction
    # exact Viterbi over its own scores: emissions plus the previous-tag term
    sentence = ["you", "can", "run", "."]
    lt = tagger.log_transitions_
    log_pair = tagger.log_previous_tag_[[tagger.previous_tag_words_.get(w, 0) for w in sentence]]
    score, path = brute_force_trigram(lt, tagger.log_emissions([sentence]), log_pair)
    logprob, predicted = tagger.decode([sentence])
    assert np.isclose(logprob[0], score) and predicted[0] == [tagger.tags_[i] for i in path]
    # huge smoothing: P(a | w, t) -> P(a | t), the plain trigram tagger
    plain = HMMTagger(order=2, unknown_words=UnknownWordModel()).fit(SENTENCES, TAGS)
    flat = HMMTagger(order=2, unknown_words=UnknownWordModel(), previous_tag_smoothing=1e12,
                     previous_tag_min_count=1).fit(SENTENCES, TAGS)
    sentences = [sentence, ["the", "can", "is", "red", "."]]
    assert np.allclose(flat.decode(sentences)[0], plain.decode(sentences)[0])
    with pytest.raises(ValueError, match="order=2"):
        HMMTagger(order=1, previous_tag_smoothing=1.0)
