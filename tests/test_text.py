"""Vocab and tokenizers: deterministic ids, specials first, exact round trips, clear errors."""

import pytest

from course_lib.text import BOS, EOS, PAD, UNK, Vocab, char_tokenize, word_tokenize


def test_char_tokenize_keeps_every_character():
    assert char_tokenize("a b\nc") == ["a", " ", "b", "\n", "c"]


def test_word_tokenize_known_answers():
    assert word_tokenize("Hello, World! It's 2 o'clock.") == [
        "hello", ",", "world", "!", "it", "'", "s", "2", "o", "'", "clock", "."]
    assert word_tokenize("The Cat", lowercase=False) == ["The", "Cat"]


def test_build_orders_by_count_then_first_appearance():
    vocab = Vocab.build([["b", "a", "c"], ["a", "d", "c", "a"]])
    # counts: a 3, c 2, b 1, d 1; b was seen before d.
    assert vocab.itos == [PAD, UNK, BOS, EOS, "a", "c", "b", "d"]


def test_specials_take_ids_zero_to_three():
    vocab = Vocab.build([["x"]])
    assert (vocab.pad_id, vocab.unk_id, vocab.bos_id, vocab.eos_id) == (0, 1, 2, 3)
    assert vocab.stoi["x"] == 4 and len(vocab) == 5 and "x" in vocab


def test_min_freq_and_max_size():
    sequences = [list("aaabbc")]
    assert Vocab.build(sequences, min_freq=2).itos[4:] == ["a", "b"]
    assert Vocab.build(sequences, max_size=1).itos[4:] == ["a"]
    assert Vocab.build(sequences, min_freq=4).itos == [PAD, UNK, BOS, EOS]
    with pytest.raises(ValueError, match="min_freq"):
        Vocab.build(sequences, min_freq=0)


def test_specials_in_the_corpus_are_not_duplicated():
    vocab = Vocab.build([[BOS, "a", EOS]])
    assert vocab.itos == [PAD, UNK, BOS, EOS, "a"]


def test_encode_decode_round_trip_with_bos_and_eos():
    tokens = word_tokenize("the cat sat on the mat")
    vocab = Vocab.build([tokens])
    ids = vocab.encode(tokens, add_bos=True, add_eos=True)
    assert ids[0] == vocab.bos_id and ids[-1] == vocab.eos_id
    assert vocab.decode(ids) == tokens
    assert vocab.decode(ids, skip_specials=False) == [BOS, *tokens, EOS]


def test_unknown_tokens_map_to_unk():
    vocab = Vocab.build([["a"]])
    assert vocab.encode(["a", "zebra"]) == [4, vocab.unk_id]
    assert vocab.decode(vocab.encode(["zebra"]), skip_specials=False) == [UNK]


def test_unknown_token_without_unk_raises():
    vocab = Vocab.build([["a"]], specials=(PAD,))
    with pytest.raises(KeyError, match="zebra"):
        vocab.encode(["zebra"])
    with pytest.raises(KeyError, match="<bos>"):
        _ = vocab.bos_id


def test_decode_of_an_id_outside_the_vocab_raises():
    vocab = Vocab.build([["a"]])
    with pytest.raises(IndexError, match="outside"):
        vocab.decode([5])
    with pytest.raises(IndexError, match="outside"):
        vocab.decode([-1])


def test_encode_of_a_string_raises_type_error():
    vocab = Vocab.build([["a"]])
    with pytest.raises(TypeError, match="tokenize"):
        vocab.encode("a")
    with pytest.raises(TypeError, match="not one string"):
        Vocab.build("some text")


def test_save_load_round_trip(tmp_path):
    vocab = Vocab.build([word_tokenize("Zürich, naïve café — ok")], specials=(PAD, UNK))
    vocab.save(tmp_path / "vocab.json")
    loaded = Vocab.load(tmp_path / "vocab.json")
    assert loaded.itos == vocab.itos and loaded.specials == vocab.specials
    assert loaded.stoi == vocab.stoi


def test_duplicate_tokens_are_refused():
    with pytest.raises(ValueError, match="unique"):
        Vocab(["a", "a"])
