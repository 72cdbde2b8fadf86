"""Contextual vectors and sense classifiers: oracles (the models' own outputs), hand-set models
with answers worked out by hand, and the classifiers' known answers and invariants."""

import math
from dataclasses import replace

import pytest
import torch

from course_lib import contextual, wsd
from course_lib.contextual import (
    BidirectionalLM,
    LogisticProbe,
    layer_states,
    macro_f1,
    nearest_centroid,
    sense_centroids,
    target_states,
    window_mean,
)
from course_lib.models.rnn import RNNLanguageModel
from course_lib.models.transformer import GPT
from course_lib.recipes import QUICK_WSD_LM_RECIPES, WSD_LM_RECIPES, frozen
from course_lib.text import Vocab

# --- Layers of real course models: oracles ---------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_rnn_layers_end_in_the_models_own_output_and_scratch_agrees(cell):
    torch.manual_seed(0)
    model = RNNLanguageModel(30, embed_dim=6, hidden_size=5, num_layers=3, cell=cell)
    tokens = torch.randint(30, (4, 9))
    states = layer_states(model, tokens)
    assert [tuple(s.shape) for s in states] == [(4, 9, 6)] + [(4, 9, 5)] * 3
    torch.testing.assert_close(states[0], model.embedding(tokens))
    torch.testing.assert_close(states[-1], model.rnn(model.embedding(tokens))[0])
    scratch = RNNLanguageModel(30, 6, 5, num_layers=3, cell=cell, scratch=True)
    scratch.load_state_dict(model.state_dict())
    for ours, theirs in zip(states, layer_states(scratch, tokens), strict=True):
        torch.testing.assert_close(ours, theirs)
    logits, _ = model(tokens)
    torch.testing.assert_close(model.head(contextual.hidden_states(model, tokens)), logits)


def test_gpt_layers_are_the_residual_stream_and_give_its_logits():
    torch.manual_seed(0)
    model = GPT(40, block_size=12, embed_dim=8, num_heads=2, num_layers=2)
    tokens = torch.randint(40, (3, 12))
    states = layer_states(model, tokens)
    assert len(states) == 3 and all(s.shape == (3, 12, 8) for s in states)
    torch.testing.assert_close(model.lm_head(model.norm(states[-1])), model(tokens))
    torch.testing.assert_close(model.lm_head(contextual.hidden_states(model, tokens)), model(tokens))


def test_layer_states_restores_training_mode_and_rejects_other_models():
    model = RNNLanguageModel(10, 4, 4, dropout=0.5)
    model.train()
    layer_states(model, torch.zeros(1, 3, dtype=torch.long))
    assert model.training
    with pytest.raises(TypeError, match="GPT or an RNNLanguageModel"):
        layer_states(torch.nn.Linear(2, 2), torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="LongTensor"):
        layer_states(model, torch.zeros(1, 3))


def test_last_token_states_batched_and_padded_equals_one_by_one():
    torch.manual_seed(0)
    model = RNNLanguageModel(20, 6, 6, num_layers=2)
    sequences = [[1, 5, 7], [2], [3, 4, 5, 6, 7, 8], [9, 9]]
    batched = contextual.last_token_states(model, sequences, batch_size=3)  # (N, L + 1, D)
    assert batched.shape == (4, 3, 6)
    for row, sequence in enumerate(sequences):
        alone = layer_states(model, torch.tensor([sequence]))
        for layer, states in enumerate(alone):
            torch.testing.assert_close(batched[row, layer], states[0, -1])
    with pytest.raises(ValueError, match="different widths"):
        contextual.last_token_states(RNNLanguageModel(20, 4, 6), sequences)


def test_last_token_states_crops_a_gpt_to_its_block_size():
    torch.manual_seed(0)
    model = GPT(20, block_size=4, embed_dim=8, num_heads=2, num_layers=1)
    long = [1, 2, 3, 4, 5, 6, 7]
    torch.testing.assert_close(contextual.last_token_states(model, [long]),
                               contextual.last_token_states(model, [long[-4:]]))


# --- A model set by hand: exact vectors, centroids and predictions ------------------------------

EOS, BANK, RIVER, MONEY = 1, 2, 3, 4


def hand_rnn() -> RNNLanguageModel:
    """h_t = tanh(x_t + h_{t-1}); embeddings: river (1, 0), money (0, 1), anything else 0."""
    model = RNNLanguageModel(5, embed_dim=2, hidden_size=2, num_layers=1, cell="rnn")
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        model.rnn.weight_ih_l0.copy_(torch.eye(2))
        model.rnn.weight_hh_l0.copy_(torch.eye(2))
        model.embedding.weight[RIVER] = torch.tensor([1.0, 0.0])
        model.embedding.weight[MONEY] = torch.tensor([0.0, 1.0])
    return model


def test_hand_set_model_gives_exact_vectors_centroids_and_senses():
    t1 = math.tanh(1.0)
    sentences = [[RIVER, BANK], [MONEY, BANK], [BANK, RIVER], [BANK, MONEY]]
    vectors = target_states(hand_rnn(), sentences, [1, 1, 0, 0], start_id=EOS)  # (N, 2, 2)
    # forward only: after "river bank" the state is (tanh(tanh 1), 0); "bank ..." sees nothing yet
    expected_top = torch.tensor([[math.tanh(t1), 0.0], [0.0, math.tanh(t1)], [0.0, 0.0], [0.0, 0.0]])
    torch.testing.assert_close(vectors[:, 1], expected_top)
    torch.testing.assert_close(vectors[:, 0], torch.zeros(4, 2))  # bank's own embedding

    both = target_states(BidirectionalLM(hand_rnn(), hand_rnn()), sentences, [1, 1, 0, 0], EOS)
    assert both.shape == (4, 2, 4)
    # the backward model reads "bank river" backwards: river first, so bank sees it
    torch.testing.assert_close(both[2, 1], torch.tensor([0.0, 0.0, math.tanh(t1), 0.0]))
    senses = torch.tensor([1, 0, 1, 0])  # river = 1, money = 0
    top = both[:, 1]
    centroids = sense_centroids(top, senses, 2)
    t2 = math.tanh(t1) / 2
    torch.testing.assert_close(centroids, torch.tensor([[0.0, t2, 0.0, t2], [t2, 0.0, t2, 0.0]]))
    test = target_states(BidirectionalLM(hand_rnn(), hand_rnn()),
                         [[MONEY, MONEY, BANK], [BANK, BANK, RIVER]], [2, 0], EOS)[:, 1]
    assert nearest_centroid(test, centroids).tolist() == [0, 1]


def test_target_states_checks_positions():
    with pytest.raises(ValueError, match="outside a sentence of 2 tokens"):
        target_states(hand_rnn(), [[RIVER, BANK]], [2], EOS)
    with pytest.raises(ValueError, match="one each"):
        target_states(hand_rnn(), [[RIVER, BANK]], [0, 1], EOS)


def test_window_mean_known_answer():
    vectors = torch.arange(12.0).view(6, 2)  # row i = (2i, 2i + 1)
    sentence = [5, 2, 3, 4, 1]
    out = window_mean(vectors, [sentence, [3]], [2, 0], radius=1, skip_ids=[4])
    torch.testing.assert_close(out[0], vectors[2])  # neighbours 2 and 4; 4 is skipped
    torch.testing.assert_close(out[1], torch.zeros(2))  # no neighbour at all
    out = window_mean(vectors, [sentence], [2], radius=2)
    torch.testing.assert_close(out[0], vectors[[5, 2, 4, 1]].mean(0))


# --- Classifiers and scores ------------------------------------------------------------------


def test_centroids_and_nearest_centroid_known_answers():
    vectors = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    centroids = sense_centroids(vectors, torch.tensor([0, 0, 1]), 2)
    torch.testing.assert_close(centroids, torch.tensor([[2.0, 0.0], [0.0, 2.0]]))
    queries = torch.tensor([[10.0, 1.0], [0.1, 5.0], [1.0, 1.0]])  # cosine: length is ignored
    assert nearest_centroid(queries, centroids).tolist() == [0, 1, 0]  # a tie goes to sense 0
    with pytest.raises(ValueError, match="cover every sense"):
        sense_centroids(vectors, torch.tensor([0, 0, 0]), 2)


def test_one_static_vector_gives_one_answer():
    """The same vector in every sentence: every centroid is that vector, so the nearest is
    always sense 0; the probe can only learn the prior, so it answers the majority sense."""
    vectors = torch.ones(10, 3)
    labels = torch.tensor([1] * 7 + [0] * 3)
    assert nearest_centroid(vectors, sense_centroids(vectors, labels, 2)).unique().tolist() == [0]
    assert LogisticProbe(2).fit(vectors, labels).predict(torch.ones(4, 3)).tolist() == [1] * 4


def test_logistic_probe_separates_and_reaches_its_optimum():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(60, 4, generator=generator)
    labels = (x @ torch.randn(4, 3, generator=generator)).argmax(1)  # linearly separable, 3 classes
    probe = LogisticProbe(3, weight_decay=1e-2, max_iter=200).fit(x, labels)
    assert (probe.predict(x) == labels).double().mean() > 0.9
    weight = probe.weight_.clone().requires_grad_()
    bias = probe.bias_.clone().requires_grad_()
    z = (x.double() - probe.mean_) / probe.std_
    loss = (torch.nn.functional.cross_entropy(z @ weight.T + bias, labels)
            + 0.5 * 1e-2 * (weight**2).sum())
    loss.backward()
    assert weight.grad.abs().max() < 1e-4 and bias.grad.abs().max() < 1e-4  # a minimum


def test_macro_f1_hand_worked():
    labels, predictions = [0, 0, 1, 1, 2], [0, 1, 1, 1, 0]
    # class 0: 2*1 / (2 + 2) = 0.5; class 1: 2*2 / (3 + 2) = 0.8; class 2: never predicted, 0
    assert macro_f1(predictions, labels) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert macro_f1([0, 0, 0], [0, 0, 0]) == 1.0
    # a class that is only predicted counts too (scikit-learn's labels = union)
    assert macro_f1([1, 0], [0, 0]) == pytest.approx((2 / 3 + 0.0) / 2)
    with pytest.raises(ValueError):
        macro_f1([0], [0, 1])


# --- The CoarseWSD-20 recipes on toy data ----------------------------------------------------


def toy_data() -> wsd.WSDData:
    vocab = Vocab(["bank", "river", "money", "the"])
    b, r, m, t = (vocab.stoi[w] for w in ("bank", "river", "money", "the"))
    train = wsd.Split(["bank"] * 4, [[r, b], [t, r, b], [m, b], [t, m, b]], [1, 2, 1, 2], [1, 1, 0, 0])
    test = wsd.Split(["bank"] * 3, [[r, r, b], [m, b], [b, m]], [2, 1, 0], [1, 0, 0])
    return wsd.WSDData(vocab, train, test, {"bank": ["bank_bank", "bank_bank_(geography)"]})


def test_sentence_stream_keeps_every_sentence_and_reverses_for_the_backward_model():
    sentences = [[5, 6], [7], [8, 9, 10]]
    stream = wsd.sentence_stream(sentences, end_id=3, seed=1).tolist()
    pieces = [p for p in " ".join(map(str, stream)).split(" 3") if p.strip()]
    assert sorted(list(map(int, p.split())) for p in pieces) == sorted(sentences)
    assert stream[-1] == 3 and len(stream) == 6 + 3
    backward = torch.tensor(stream).flip(0).tolist()
    assert backward[0] == 3  # each reversed sentence follows an end token


def test_most_frequent_sense_and_window_scores_on_toy_data():
    data = toy_data()
    mfs = wsd.most_frequent_sense(data)["bank"]  # a tie in train: max() takes sense 0 or 1
    assert mfs["accuracy"] in (pytest.approx(1 / 3), pytest.approx(2 / 3))
    vectors = torch.zeros(len(data.vocab), 2)
    vectors[data.vocab.stoi["river"]] = torch.tensor([1.0, 0.0])
    vectors[data.vocab.stoi["money"]] = torch.tensor([0.0, 1.0])
    train_x, test_x = wsd.static_features(vectors, data, radius=2)
    for classifier in wsd.CLASSIFIERS:
        scores = wsd.score_words(data, train_x, test_x, classifier)["bank"]
        assert scores == {"accuracy": 1.0, "macro_f1": 1.0}
    own_train, own_test = wsd.static_features(vectors, data, radius=None)
    assert (own_test == vectors[data.vocab.stoi["bank"]]).all()
    assert wsd.mean_scores({"a": {"f": 0.5}, "b": {"f": 1.0}}) == {"f": 0.75}


@pytest.mark.parametrize("kind", ["lstm", "gpt"])
def test_bidirectional_lm_trains_briefly_and_gives_features(kind):
    data = toy_data()
    stream = wsd.sentence_stream(data.train.ids * 20, data.vocab.eos_id)
    quick = QUICK_WSD_LM_RECIPES[kind]
    recipe = replace(quick, cutoffs=(4,), block_size=8, batch_size=4,
                     sizes=frozen(quick.sizes, **({"block_size": 8} if kind == "gpt" else {})))
    vectors = torch.randn(len(data.vocab), recipe.sizes["embed_dim"]) if recipe.static_inputs else None
    model, history = wsd.train_bidirectional_lm(kind, stream, len(data.vocab), minutes=0.02,
                                                recipe=recipe, static_vectors=vectors)
    assert history.steps and history.seconds < 60
    assert history.plan and history.plan[0][0] == 0  # a budgeted run: planned, and re-planned as it went
    train_x, test_x = wsd.contextual_features(model, data)
    layers = recipe.sizes["num_layers"] + 1
    assert train_x.shape[:2] == (4, layers) and test_x.shape[:2] == (3, layers)
    nats = wsd.held_out_nats(model, stream, 8)
    assert 0 < nats < 2 * math.log(len(data.vocab))
    with pytest.raises(ValueError, match="kind must be"):
        wsd.make_bidirectional_lm("cnn", 10, recipe)
    if recipe.static_inputs:  # the frozen inputs did not move, and are the scaled vectors
        expected = wsd.STATIC_INPUT_LENGTH * vectors / vectors.norm(dim=1, keepdim=True)
        for lm in (model.forward_lm, model.backward_lm):
            torch.testing.assert_close(lm.token_embedding.weight, expected)
        torch.testing.assert_close(train_x[:, 0, :100], expected[wsd.target_ids(data.train)]
                                   + model.forward_lm.positions.embedding.weight[[p + 1 for p in data.train.positions]])


def test_static_inputs_are_checked():
    gpt, lstm = QUICK_WSD_LM_RECIPES["gpt"], QUICK_WSD_LM_RECIPES["lstm"]
    assert gpt.static_inputs and not lstm.static_inputs
    model = wsd.make_bidirectional_lm("gpt", 30, gpt, torch.randn(30, 100))
    assert not model.forward_lm.token_embedding.weight.requires_grad
    assert all(p.requires_grad for n, p in model.named_parameters() if "token_embedding" not in n
               and "lm_head" not in n)
    with pytest.raises(ValueError, match="reads static vectors"):
        wsd.make_bidirectional_lm("gpt", 30, gpt)
    with pytest.raises(ValueError, match=r"must be \(vocab_size, embed_dim\) = \(30, 100\), got \(30, 64\)"):
        wsd.make_bidirectional_lm("gpt", 30, gpt, torch.randn(30, 64))
    with pytest.raises(ValueError, match="trains its own embeddings"):
        wsd.make_bidirectional_lm("lstm", 30, lstm, torch.randn(30, 64))


def test_prepare_builds_ids_and_caps_sentences_per_word():
    from datasets import Dataset

    def rows(n):
        return Dataset.from_dict({"word": ["bank"] * n + ["java"] * n,
                                  "tokens": [["the", "bank", "of", "the", "river"]] * n
                                  + [["java", "coffee"]] * n,
                                  "position": [1] * n + [0] * n, "label": [1] * n + [0] * n,
                                  "sense": ["river"] * n + ["island"] * n})

    senses = {"bank": ["money", "river"], "java": ["island", "language"]}
    data = wsd.prepare({"train": rows(4), "test": rows(3)}, senses, min_freq=4)
    assert data.vocab.itos[4:6] == ["the", "bank"]  # "the" 8 times, the others 4
    assert data.train.ids[0] == [4, 5, 6, 4, 7]
    assert wsd.target_ids(data.train)[:1] == [5] and data.test.rows_of("java") == [3, 4, 5]
    rare = wsd.prepare({"train": rows(4), "test": rows(3)}, senses, min_freq=5)
    assert rare.vocab.itos[4:] == ["the"] and rare.train.ids[0][1] == rare.vocab.unk_id
    capped = wsd.prepare({"train": rows(4), "test": rows(3)}, senses, max_per_word=(2, 1))
    assert capped.train.words == ["bank", "bank", "java", "java"] and len(capped.test.ids) == 2


def test_adaptive_softmax_cutoffs_fit_a_small_vocabulary():
    model = wsd.make_bidirectional_lm("lstm", 50, QUICK_WSD_LM_RECIPES["lstm"])  # cutoffs 2000, 6000
    assert model.forward_head.cutoffs == [25, 50]


@pytest.mark.parametrize("kind", ["lstm", "gpt"])
def test_full_lm_recipe_starts_near_uniform_and_trains_two_steps(kind):
    """The benchmark's recipe at the benchmark's vocabulary size (15,502 words)."""
    from course_lib.training import TrainConfig, train

    recipe, vocab_size = WSD_LM_RECIPES[kind], 15_502
    torch.manual_seed(0)
    vectors = torch.randn(vocab_size, recipe.sizes["embed_dim"]) if recipe.static_inputs else None
    model = wsd.make_bidirectional_lm(kind, vocab_size, recipe, vectors)
    stream = torch.randint(vocab_size, (2_000,))
    T, B = recipe.block_size, 2
    batch = (stream[:T].repeat(B, 1), stream[1 : T + 1].repeat(B, 1),
             stream[T : 2 * T].repeat(B, 1), stream[T + 1 : 2 * T + 1].repeat(B, 1))
    first = wsd.bidirectional_loss(model, batch).item()
    # Untrained, the adaptive softmax is about uniform over its head (2,000 words + 2 clusters),
    # then uniform within a cluster (4,000 and 9,502 words).
    head, (a, b) = 2_002, recipe.cutoffs

    def uniform_nats(targets):
        sizes = torch.where(targets < a, 1, torch.where(targets < b, b - a, vocab_size - b))
        return (math.log(head) + sizes.double().log()).mean().item()

    expected = 0.5 * (uniform_nats(batch[1]) + uniform_nats(batch[3]))
    assert abs(first - expected) < 0.5, (first, expected)
    history = train(model, wsd.bidirectional_loss, [batch],
                    TrainConfig(max_steps=2, progress=False, **recipe.optimisation.kwargs()))
    assert all(math.isfinite(loss) for loss in history.train_loss)
