"""course_lib.hmm: oracle tests against brute force, a hand-worked example, EM invariants."""

import itertools

import numpy as np
import pytest

from course_lib.hmm import (
    CategoricalHMM,
    backward,
    forward,
    forward_batch,
    logsumexp,
    viterbi,
    viterbi_batch,
)


def random_hmm(seed, n_components=3, n_features=4, sparse=False):
    rng = np.random.default_rng(seed)
    start = rng.dirichlet(np.ones(n_components))
    trans = rng.dirichlet(np.ones(n_components), size=n_components)
    emit = rng.dirichlet(np.ones(n_features), size=n_components)
    if sparse:  # some impossible transitions and emissions: log 0 = -inf must be handled
        trans[0, 1] = 0.0
        emit[1, 0] = 0.0
        trans /= trans.sum(1, keepdims=True)
        emit /= emit.sum(1, keepdims=True)
    return CategoricalHMM(startprob=start, transmat=trans, emissionprob=emit)


def joint_prob(model, x, z):
    """P(x, z) by the definition: a product of one start, T-1 transitions, T emissions."""
    p = model.startprob_[z[0]] * model.emissionprob_[z[0], x[0]]
    for t in range(1, len(x)):
        p *= model.transmat_[z[t - 1], z[t]] * model.emissionprob_[z[t], x[t]]
    return p


def all_paths(model, x):
    return itertools.product(range(model.n_components), repeat=len(x))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("sparse", [False, True])
def test_likelihood_and_viterbi_equal_brute_force(seed, sparse):
    model = random_hmm(seed, sparse=sparse)
    x = np.random.default_rng(100 + seed).integers(0, 4, size=5)
    probs = {z: joint_prob(model, x, z) for z in all_paths(model, x)}
    assert np.isclose(model.score(x), np.log(sum(probs.values())))
    best = max(probs, key=probs.get)
    logprob, path = model.decode(x)
    assert np.isclose(probs[tuple(path)], probs[best])  # paths may tie exactly: compare scores
    assert np.isclose(logprob, np.log(probs[best]))


@pytest.mark.parametrize("seed", range(4))
def test_posterior_marginals_equal_brute_force_and_sum_to_one(seed):
    model = random_hmm(seed, n_components=2, n_features=3)
    x = np.random.default_rng(seed).integers(0, 3, size=6)
    posterior = model.predict_proba(x)  # (T, K)
    assert posterior.shape == (6, 2)
    assert np.allclose(posterior.sum(axis=1), 1.0)
    expected = np.zeros((6, 2))
    for z in all_paths(model, x):
        expected[np.arange(6), z] += joint_prob(model, x, z)
    assert np.allclose(posterior, expected / expected.sum(axis=1, keepdims=True))


def test_forward_backward_agree_at_every_step():
    model = random_hmm(7)
    x = np.array([0, 3, 1, 1, 2, 0, 3])
    log_start, log_trans, log_emit = (np.log(p) for p in
                                      (model.startprob_, model.transmat_, model.emissionprob_))
    log_alpha = forward(log_start, log_trans, log_emit[:, x].T)
    log_beta = backward(log_trans, log_emit[:, x].T)
    per_step = logsumexp(log_alpha + log_beta, axis=1)  # log P(x) read at each t
    assert np.allclose(per_step, model.score(x))


def test_batches_of_different_lengths_equal_one_at_a_time():
    model = random_hmm(3, n_components=4, n_features=5)
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 5, size=n) for n in (3, 7, 1, 7, 4)]
    log_start, log_trans, log_emit = (np.log(p) for p in
                                      (model.startprob_, model.transmat_, model.emissionprob_))
    flat = log_emit[:, np.concatenate(seqs)].T
    _, loglik = forward_batch(log_start, log_trans, flat, [len(s) for s in seqs])
    logprob, states = viterbi_batch(log_start, log_trans, flat, [len(s) for s in seqs])
    paths = np.split(states, np.cumsum([len(s) for s in seqs])[:-1])
    for i, x in enumerate(seqs):
        assert np.isclose(loglik[i], model.score(x))
        one_logprob, one_path = viterbi(log_start, log_trans, log_emit[:, x].T)
        assert np.isclose(logprob[i], one_logprob)
        assert np.array_equal(paths[i], one_path)
    assert np.isclose(model.score(seqs), loglik.sum())


# Jason Eisner's ice-cream example as in Jurafsky & Martin, "Speech and Language Processing"
# (3rd ed. draft), Appendix A "Hidden Markov Models", Figs. A.2, A.5 and A.10: states HOT, COLD;
# observations = ice creams eaten (1, 2, 3); the sequence 3 1 3. The expected numbers below were
# computed by hand from those parameters (and match the brute-force test above):
#   alpha_1 = (.8*.4, .2*.1) = (.32, .02)
#   alpha_2(H) = .32*.6*.2 + .02*.5*.2 = .0404,  alpha_2(C) = .32*.4*.5 + .02*.5*.5 = .069
#   alpha_3(H) = (.0404*.6 + .069*.5)*.4 = .023496,  alpha_3(C) = (.0404*.4 + .069*.5)*.1 = .005066
#   P(3 1 3) = .028562
#   v_2(H) = max(.32*.6*.2, .02*.5*.2) = .0384,  v_2(C) = max(.32*.4*.5, .02*.5*.5) = .064
#   v_3(H) = max(.0384*.6, .064*.5)*.4 = .0128, best path HOT COLD HOT.
HOT, COLD = 0, 1
ICE_CREAM = CategoricalHMM(
    startprob=[0.8, 0.2],
    transmat=[[0.6, 0.4], [0.5, 0.5]],
    emissionprob=[[0.2, 0.4, 0.4], [0.5, 0.4, 0.1]],  # columns: 1, 2, 3 ice creams
)
THREE_ONE_THREE = np.array([3, 1, 3]) - 1


def test_ice_cream_forward_trellis():
    log_start, log_trans, log_emit = (np.log(p) for p in (
        ICE_CREAM.startprob_, ICE_CREAM.transmat_, ICE_CREAM.emissionprob_))
    alpha = np.exp(forward(log_start, log_trans, log_emit[:, THREE_ONE_THREE].T))
    assert np.allclose(alpha[0], [0.32, 0.02])
    assert np.round(alpha[1, HOT], 4) == 0.0404 and np.round(alpha[1, COLD], 3) == 0.069
    assert np.allclose(alpha[2], [0.023496, 0.005066])
    assert np.isclose(np.exp(ICE_CREAM.score(THREE_ONE_THREE)), 0.028562)


def test_ice_cream_viterbi():
    logprob, path = ICE_CREAM.decode(THREE_ONE_THREE)
    assert list(path) == [HOT, COLD, HOT]
    assert np.isclose(np.exp(logprob), 0.0128)


def test_baum_welch_never_decreases_likelihood_and_recovers_a_sharp_hmm():
    truth = CategoricalHMM(startprob=[0.5, 0.5], transmat=[[0.9, 0.1], [0.2, 0.8]],
                           emissionprob=[[0.8, 0.15, 0.05], [0.05, 0.15, 0.8]])
    X = [truth.sample(60, random_state=i)[0] for i in range(30)]
    model = CategoricalHMM(2, 3, n_iter=200, tol=1e-6, random_state=0).fit(X)
    history = np.array(model.history_)
    assert len(history) > 3
    assert np.all(np.diff(history) >= -1e-8)
    assert model.converged_
    assert model.score(X) >= truth.score(X) - 1.0  # EM reaches (at least) the truth's likelihood
    # up to a permutation of the two states, the emissions are close to the truth
    perm = [0, 1] if model.emissionprob_[0, 0] > model.emissionprob_[1, 0] else [1, 0]
    assert np.allclose(model.emissionprob_[perm], truth.emissionprob_, atol=0.1)


def test_baum_welch_many_random_restarts_are_monotone():
    rng = np.random.default_rng(1)
    X = [rng.integers(0, 5, size=n) for n in rng.integers(2, 12, size=20)]
    for seed in range(5):
        history = CategoricalHMM(3, 5, n_iter=30, tol=0, random_state=seed).fit(X).history_
        assert np.all(np.diff(history) >= -1e-8)


def test_supervised_counts_with_smoothing():
    X = [np.array([0, 1, 1]), np.array([1, 0])]
    Z = [np.array([0, 1, 1]), np.array([1, 0])]
    model = CategoricalHMM(2, 3).fit_supervised(X, Z)
    assert np.allclose(model.startprob_, [0.5, 0.5])
    assert np.allclose(model.transmat_, [[0, 1], [0.5, 0.5]])
    assert np.allclose(model.emissionprob_, [[1, 0, 0], [0, 1, 0]])
    smoothed = CategoricalHMM(2, 3, smoothing=1.0).fit_supervised(X, Z)
    assert np.allclose(smoothed.emissionprob_[0], [3 / 5, 1 / 5, 1 / 5])
    assert np.allclose(smoothed.transmat_[0], [1 / 3, 2 / 3])


def test_sampling_follows_the_parameters():
    symbols, states = ICE_CREAM.sample(20000, random_state=0)
    assert symbols.shape == states.shape == (20000,)
    hot_after_hot = np.mean(states[1:][states[:-1] == HOT] == HOT)
    assert abs(hot_after_hot - 0.6) < 0.02
    assert abs(np.mean(symbols[states == COLD] == 0) - 0.5) < 0.02


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"transmat": [[0.5, 0.4], [0.5, 0.5]]}, "sum to 1"),
        ({"emissionprob": [[1.2, -0.2, 0.0], [0.5, 0.4, 0.1]]}, "negative"),
        ({"startprob": [0.2, 0.3, 0.5]}, "shape"),
        ({"transmat": [[1.0]]}, "shape"),
    ],
)
def test_malformed_parameters_are_rejected(kwargs, message):
    params = {"startprob": [0.8, 0.2], "transmat": [[0.6, 0.4], [0.5, 0.5]],
              "emissionprob": [[0.2, 0.4, 0.4], [0.5, 0.4, 0.1]]} | kwargs
    with pytest.raises(ValueError, match=message):
        CategoricalHMM(**params)


def test_symbols_outside_the_vocabulary_are_rejected():
    with pytest.raises(ValueError, match="outside the vocabulary"):
        ICE_CREAM.score([0, 3])
    with pytest.raises(ValueError, match="integer"):
        ICE_CREAM.decode(np.array([0.5, 1.0]))
    with pytest.raises(RuntimeError, match="call fit"):
        CategoricalHMM(2, 3).score([0, 1])


def test_predict_concatenates_viterbi_paths():
    seqs = [np.array([2, 0, 2]), np.array([0]), np.array([1, 2])]
    expected = np.concatenate([ICE_CREAM.decode(x)[1] for x in seqs])
    assert np.array_equal(ICE_CREAM.predict(seqs), expected)
