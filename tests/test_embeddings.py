"""Words as vectors: known answers by hand, brute-force oracles, and a tiny trained skip-gram."""

import math

import numpy as np
import pytest
import torch

from course_lib.embeddings import (
    NegativeSampler,
    SkipGram,
    cooccurrence_matrix,
    nearest,
    ppmi,
    skipgram_pairs,
    tfidf_fit,
    tfidf_matrix,
    tfidf_transform,
    truncated_svd,
)

# ---------------------------------------------------------------- TF-IDF

DOCS = [["a", "b", "b"], ["a", "c"], ["c", "c", "d"]]


def test_tfidf_known_answer_smoothed_idf_and_l2_rows():
    matrix, terms = tfidf_matrix(DOCS)
    assert terms == ["a", "b", "c", "d"]
    # N = 3; df: a 2, b 1, c 2, d 1; idf = ln((1 + N) / (1 + df)) + 1.
    idf_2, idf_1 = math.log(4 / 3) + 1, math.log(4 / 2) + 1  # 1.2877, 1.6931
    raw = [
        [1 * idf_2, 2 * idf_1, 0, 0],
        [1 * idf_2, 0, 1 * idf_2, 0],
        [0, 0, 2 * idf_2, 1 * idf_1],
    ]
    expected = torch.tensor([[v / math.sqrt(sum(x * x for x in row)) for v in row] for row in raw])
    assert torch.allclose(matrix, expected, atol=1e-6)
    # The same numbers written out: doc 0 = (1.2877, 3.3863) / 3.6228.
    assert matrix[0, :2].tolist() == pytest.approx([0.355436, 0.934710], abs=1e-5)
    assert matrix[1, 0].item() == pytest.approx(1 / math.sqrt(2), abs=1e-6)
    assert torch.allclose(matrix.norm(dim=1), torch.ones(3))


def test_tfidf_min_df_given_vocab_and_errors():
    matrix, terms = tfidf_matrix(DOCS, min_df=2)
    assert terms == ["a", "c"] and matrix.shape == (3, 2)
    matrix, terms = tfidf_matrix(DOCS, vocab=["d", "zebra", "b"])
    assert terms == ["d", "zebra", "b"]
    assert torch.all(matrix[:, 1] == 0)  # unseen term: zero column
    assert matrix[1].norm() == 0  # doc 1 has none of these terms: stays zero, no NaN
    with pytest.raises(ValueError, match="empty vocabulary"):
        tfidf_matrix(DOCS, min_df=5)
    with pytest.raises(TypeError, match="token lists"):
        tfidf_matrix(["a b", "c"])


# ---------------------------------------------------------------- nearest neighbours


def test_nearest_cosine_exclude_batch_and_numpy():
    matrix = torch.tensor([[1.0, 0.0], [10.0, 1.0], [0.0, 1.0], [-1.0, 0.0], [0.0, 0.0]])
    indices, sims = nearest(torch.tensor([2.0, 0.0]), matrix, k=3)
    assert indices.tolist() == [0, 1, 4] or indices.tolist()[:2] == [0, 1]
    assert sims[0].item() == pytest.approx(1.0)
    assert sims[1].item() == pytest.approx(10 / math.sqrt(101), abs=1e-6)  # scale does not matter
    indices, _ = nearest(matrix[0], matrix, k=1, exclude=[0])
    assert indices.tolist() == [1]
    batch_indices, batch_sims = nearest(matrix[:2].numpy(), matrix.numpy(), k=2)
    assert batch_indices.shape == (2, 2) and batch_sims.dtype == torch.float32
    assert batch_indices[:, 0].tolist() == [0, 1]
    zero_sims = nearest(matrix[4], matrix, k=5)[1]  # a zero query is similar to nothing
    assert torch.all(zero_sims == 0)


def test_nearest_errors():
    matrix = torch.randn(4, 3)
    with pytest.raises(ValueError, match="k must be between 1 and 3"):
        nearest(matrix[0], matrix, k=4, exclude=[0])
    with pytest.raises(ValueError, match="query must be"):
        nearest(torch.randn(5), matrix)
    with pytest.raises(ValueError, match="outside"):
        nearest(matrix[0], matrix, k=1, exclude=[7])


# ---------------------------------------------------------------- co-occurrence, PPMI, SVD

CORPUS = [[0, 1, 2, 1], [3, 0]]


def test_cooccurrence_known_answer_uniform_and_harmonic():
    counts = cooccurrence_matrix(CORPUS, vocab_size=4, window=2)
    assert counts.is_sparse and counts.dtype == torch.float32
    # d=1 pairs: (0,1) (1,2) (2,1) | (3,0); d=2 pairs: (0,2) (1,1); each counted both ways.
    expected = [[0, 1, 1, 1], [1, 2, 2, 0], [1, 2, 0, 0], [1, 0, 0, 0]]
    assert counts.to_dense().tolist() == expected
    harmonic = cooccurrence_matrix(CORPUS, vocab_size=4, window=2, weighting="harmonic")
    assert harmonic.to_dense().tolist() == [
        [0, 1, 0.5, 1],
        [1, 1, 2, 0],
        [0.5, 2, 0, 0],
        [1, 0, 0, 0],
    ]
    window_1 = cooccurrence_matrix(CORPUS, vocab_size=4, window=1)
    assert window_1.to_dense().tolist() == [[0, 1, 0, 1], [1, 0, 2, 0], [0, 2, 0, 0], [1, 0, 0, 0]]


def test_cooccurrence_ignore_ids_keep_distances():
    counts = cooccurrence_matrix(
        [[0, 1, 2]], vocab_size=3, window=2, weighting="harmonic", ignore_ids=[1]
    )
    assert counts.to_dense().tolist() == [[0, 0, 0.5], [0, 0, 0], [0.5, 0, 0]]


def test_cooccurrence_matches_brute_force_on_random_corpus():
    rng = np.random.default_rng(0)
    corpus = [rng.integers(0, 12, size=rng.integers(0, 15)).tolist() for _ in range(30)]
    for weighting in ("uniform", "harmonic"):
        expected = np.zeros((12, 12))
        for sentence in corpus:
            for i, center in enumerate(sentence):
                for j in range(max(0, i - 3), min(len(sentence), i + 4)):
                    if j != i:
                        expected[center, sentence[j]] += (
                            1 if weighting == "uniform" else 1 / abs(i - j)
                        )
        counts = cooccurrence_matrix(corpus, vocab_size=12, window=3, weighting=weighting)
        assert np.allclose(counts.to_dense().numpy(), expected, atol=1e-5)


def test_cooccurrence_errors():
    with pytest.raises(ValueError, match="window must be"):
        cooccurrence_matrix(CORPUS, 4, window=0)
    with pytest.raises(ValueError, match="vocab_size must be >= 1"):
        cooccurrence_matrix(CORPUS, 0)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        cooccurrence_matrix(CORPUS, 3)
    with pytest.raises(TypeError, match="list of id sequences"):
        cooccurrence_matrix([0, 1, 2], 3)
    with pytest.raises(ValueError, match="weighting"):
        cooccurrence_matrix(CORPUS, 4, weighting="gaussian")


def test_ppmi_known_answer_dense_and_sparse():
    counts = torch.tensor([[2.0, 1.0], [1.0, 0.0]])
    # total 4; P(w) = P(c) = (3/4, 1/4). PMI(0,0) = ln(0.5 / 0.5625) < 0 -> 0;
    # PMI(0,1) = PMI(1,0) = ln(0.25 / (0.75 * 0.25)) = ln(4/3); zero count -> 0.
    expected = torch.tensor([[0.0, math.log(4 / 3)], [math.log(4 / 3), 0.0]])
    assert torch.allclose(ppmi(counts), expected, atol=1e-6)
    assert torch.allclose(ppmi(counts.long()), expected, atol=1e-6)  # integer counts work too
    sparse = ppmi(counts.to_sparse())
    assert sparse.is_sparse and torch.allclose(sparse.to_dense(), expected, atol=1e-6)
    # Context smoothing: P_0.75(c1) = 1 / (3**0.75 + 1), so PMI(0,1) = ln((3**0.75 + 1) / 3).
    smoothed = ppmi(counts, alpha=0.75)
    assert smoothed[0, 1].item() == pytest.approx(math.log((3**0.75 + 1) / 3), abs=1e-6)


def test_ppmi_of_cooccurrence_is_symmetric_and_non_negative():
    rng = np.random.default_rng(1)
    corpus = [rng.integers(0, 20, size=10).tolist() for _ in range(50)]
    values = ppmi(cooccurrence_matrix(corpus, 20, window=2)).to_dense()
    assert torch.all(values >= 0) and torch.allclose(values, values.T, atol=1e-6)


def test_truncated_svd_exact_and_randomized_agree():
    gen = torch.Generator().manual_seed(0)
    low_rank = torch.randn(40, 3, generator=gen) @ torch.randn(3, 30, generator=gen)
    matrix = low_rank + 0.01 * torch.randn(40, 30, generator=gen)
    U, S, V = truncated_svd(matrix, 3)
    assert U.shape == (40, 3) and S.shape == (3,) and V.shape == (30, 3)
    assert torch.allclose(S, torch.linalg.svdvals(matrix)[:3], atol=1e-4)
    assert torch.allclose(U.T @ U, torch.eye(3), atol=1e-5)
    assert (U @ torch.diag(S) @ V.T - matrix).norm() < 0.05 * matrix.norm()
    U2, S2, V2 = truncated_svd(matrix.to_sparse(), 3)  # randomised, sparse input
    assert torch.allclose(S2, S, atol=1e-3)
    assert torch.allclose(U2, U, atol=1e-3) and torch.allclose(V2, V, atol=1e-3)  # same signs
    with pytest.raises(ValueError, match="dim must be between 1 and 30"):
        truncated_svd(matrix, 31)


# ---------------------------------------------------------------- skip-gram with negative sampling


def test_skipgram_pairs_known_answer_and_boundaries():
    center, context = skipgram_pairs([[0, 1, 2], [3, 4]], window=1)
    assert center.dtype == torch.long
    pairs = sorted(zip(center.tolist(), context.tolist(), strict=True))
    assert pairs == [(0, 1), (1, 0), (1, 2), (2, 1), (3, 4), (4, 3)]  # never (2, 3)
    center, _ = skipgram_pairs([list(range(10))], window=3)
    assert len(center) == 2 * (9 + 8 + 7)
    with pytest.raises(TypeError, match="list of id sequences"):
        skipgram_pairs([0, 1, 2], window=1)
    with pytest.raises(ValueError, match="window must be"):
        skipgram_pairs([[0, 1]], window=0)


def test_skipgram_subsampling_drops_frequent_words_reproducibly():
    # Word 0 is 900 of 1,100 tokens (keep probability sqrt(0.01 / 0.82) = 0.11); the pair
    # words i and i + 100 have f = 1/1100 < t, so they are always kept and stay adjacent.
    corpus = [[0] * 9 + [i, i + 100] for i in range(1, 101)]
    full_center, _ = skipgram_pairs(corpus, window=2)
    runs = [
        skipgram_pairs(
            corpus, window=2, subsample_t=0.01, generator=torch.Generator().manual_seed(3)
        )
        for _ in range(2)
    ]
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    center, context = runs[0]
    assert (full_center == 0).float().mean() > 0.85
    assert (center == 0).float().mean() < 0.5
    pairs = set(zip(center.tolist(), context.tolist(), strict=True))
    assert all((i, i + 100) in pairs for i in range(1, 101))
    with pytest.raises(ValueError, match="subsample_t must be > 0"):
        skipgram_pairs(corpus, window=2, subsample_t=0)


def test_negative_sampler_frequencies_match_unigram_power():
    counts = torch.tensor([100.0, 10.0, 1.0, 0.0, 50.0])
    sampler = NegativeSampler(counts, power=0.75)
    expected = counts**0.75 / (counts**0.75).sum()
    assert torch.allclose(sampler.probs, expected.double())
    draws = sampler.sample(1000, 200, generator=torch.Generator().manual_seed(0))
    assert draws.shape == (1000, 200) and draws.dtype == torch.long
    empirical = torch.bincount(draws.flatten(), minlength=5).double() / draws.numel()
    assert torch.allclose(empirical, expected.double(), atol=0.003)
    assert (draws == 3).sum() == 0  # count 0: never drawn
    again = sampler.sample(1000, 200, generator=torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)
    with pytest.raises(ValueError, match="non-negative"):
        NegativeSampler([0, 0])


def test_sgns_loss_equals_brute_force():
    torch.manual_seed(0)
    model = SkipGram(vocab_size=7, embed_dim=4)
    torch.nn.init.normal_(model.out_embed.weight)
    torch.nn.init.normal_(model.in_embed.weight)
    center, context = torch.tensor([0, 3, 5]), torch.tensor([1, 2, 6])
    negatives = torch.tensor([[2, 4], [0, 0], [1, 5]])
    v, u = model.in_embed.weight.tolist(), model.out_embed.weight.tolist()

    def log_sigmoid(x):
        return -math.log(1 + math.exp(-x))

    total = 0.0
    for c, o, negs in zip(center.tolist(), context.tolist(), negatives.tolist(), strict=True):
        total -= log_sigmoid(sum(a * b for a, b in zip(u[o], v[c], strict=True)))
        for k in negs:
            total -= log_sigmoid(-sum(a * b for a, b in zip(u[k], v[c], strict=True)))
    assert model.loss(center, context, negatives).item() == pytest.approx(total / 3, rel=1e-5)
    assert torch.equal(model(center, context, negatives), model.loss(center, context, negatives))
    with pytest.raises(ValueError, match=r"\(B, K\)"):
        model.loss(center, context, negatives[:2])


def test_skipgram_learns_two_topics():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    topics = [list(range(0, 6)), list(range(6, 12))]
    corpus = [
        [topics[s % 2][i] for i in torch.randint(0, 6, (8,), generator=gen).tolist()]
        for s in range(300)
    ]
    center, context = skipgram_pairs(corpus, window=2)
    sampler = NegativeSampler(torch.bincount(torch.tensor(sum(corpus, [])), minlength=12))
    model = SkipGram(vocab_size=12, embed_dim=16)
    for _ in range(3):  # plain SGD, written out (torch.optim's first import costs seconds)
        order = torch.randperm(len(center), generator=gen)
        for batch in order.split(256):
            negatives = sampler.sample(len(batch), 5, generator=gen)
            model.zero_grad()
            model.loss(center[batch], context[batch], negatives).backward()
            with torch.no_grad():
                for parameter in model.parameters():
                    parameter -= 5.0 * parameter.grad
    vectors = torch.nn.functional.normalize(model.word_vectors(), dim=1)
    cosine = vectors @ vectors.T
    same = torch.tensor([[(i < 6) == (j < 6) and i != j for j in range(12)] for i in range(12)])
    cross = torch.tensor([[(i < 6) != (j < 6) for j in range(12)] for i in range(12)])
    assert cosine[same].mean() > cosine[cross].mean() + 0.5
    for word in range(12):  # every word's nearest neighbour shares its topic
        (neighbour,), _ = nearest(
            model.word_vectors()[word], model.word_vectors(), k=1, exclude=[word]
        )
        assert (neighbour < 6) == (word < 6)


def test_tfidf_fitted_on_one_split_applies_to_another():
    terms, idf = tfidf_fit([["a", "b"], ["a"]])  # N = 2: idf(a) = ln(3/3) + 1, idf(b) = ln(3/2) + 1
    assert terms == ["a", "b"]
    torch.testing.assert_close(idf, torch.tensor([1.0, math.log(1.5) + 1]))
    matrix = tfidf_transform([["b", "b", "c"], ["a", "b"], []], terms, idf)  # c is not a column
    assert matrix.is_sparse and matrix.shape == (3, 2)
    a, b = 1.0, math.log(1.5) + 1
    expected = torch.tensor([[0.0, 1.0], [a / math.hypot(a, b), b / math.hypot(a, b)], [0.0, 0.0]])
    torch.testing.assert_close(matrix.to_dense(), expected)
