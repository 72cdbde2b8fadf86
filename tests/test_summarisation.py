"""Summarisation on AESLC: the email parser, the baselines and ROUGE on hand-worked examples,
the subword data, and (with the mirror) the real corpus's counts."""

import os
import statistics
from dataclasses import replace

import pytest
from datasets import Dataset, DatasetDict

from course_lib.recipes import Optimisation, TranslationRecipe, frozen, train_encoder_decoder
from course_lib.summarisation import (
    build_summarisation_data,
    first_sentence,
    first_words,
    load_aeslc,
    most_frequent,
    parse_aeslc_email,
    rouge_f1,
    rouge_report,
    summarise,
    train_aeslc,
)
from course_lib.text import Vocab, bpe_tokens, train_bpe

ANNOTATED = ("Hi all,  the meeting moves to 3 pm.\nThanks,\n\n@subject\nMeeting moved\n\n"
             "@ann0\nmeeting time change\n\n@ann1\nmeeting moved to 3\n\n@ann2\nnew meeting time")


def test_parse_email_with_and_without_annotations():
    email = parse_aeslc_email(ANNOTATED)
    assert email == {"body": "Hi all,  the meeting moves to 3 pm.\nThanks,", "subject": "Meeting moved",
                     "annotations": ["meeting time change", "meeting moved to 3", "new meeting time"]}
    assert parse_aeslc_email("Body.\n\n@subject\nRe: lunch")["annotations"] == []


def test_parse_email_rejects_bad_files():
    with pytest.raises(ValueError, match="exactly one"):
        parse_aeslc_email("no subject line here")
    with pytest.raises(ValueError, match="@ann0, @ann1, @ann2"):
        parse_aeslc_email("Body\n\n@subject\nS\n\n@ann1\nonly one")


def test_baselines_known_answers():
    body = "Hi all,  the meeting moves\nto 3 pm today! Thanks."
    assert first_words(body, 3) == "Hi all, the"
    assert first_words(body, 100) == "Hi all, the meeting moves to 3 pm today! Thanks."
    assert first_sentence(body) == "Hi all, the meeting moves to 3 pm today!"
    assert first_sentence("At 3 p.m. today.") == "At 3 p.m."  # a simple rule: no abbreviations
    assert first_sentence("no end at all") == "no end at all"
    assert most_frequent(["Lunch", "Re: Budget", "lunch ", "budget"]) == "lunch"


def test_rouge_known_answers():
    # "the cat sat" vs "the cat sat on the mat": 3 shared unigrams, P = 3/3, R = 3/6, F = 2/3;
    # bigrams "the cat", "cat sat" shared: P = 2/2, R = 2/5, F = 4/7; LCS = 3 -> F = 2/3.
    scores = rouge_f1(["the cat sat"], [["the cat sat on the mat"]])
    assert scores == pytest.approx({"rouge1": 200 / 3, "rouge2": 400 / 7, "rougeL": 200 / 3})
    # Two references: the F1 per reference is 2/3 and 0; max and mean combine them.
    refs = [["the cat sat on the mat", "a dog ran"]]
    assert rouge_f1(["the cat sat"], refs, max)["rouge1"] == pytest.approx(200 / 3)
    assert rouge_f1(["the cat sat"], refs, statistics.mean)["rouge1"] == pytest.approx(100 / 3)
    assert rouge_f1(["Meetings"], [["meeting"]])["rouge1"] == pytest.approx(100)  # stemmed


def test_rouge_rejects_misaligned_or_unwrapped_references():
    with pytest.raises(ValueError, match="1 predictions, 2 reference lists"):
        rouge_f1(["a"], [["a"], ["b"]])
    with pytest.raises(TypeError, match="wrap single references"):
        rouge_f1(["a"], ["a"])


def test_rouge_report_against_original_and_annotations():
    split = {"subject": ["meeting moved"], "annotations": [["meeting moved", "x y", "z"]]}
    report = rouge_report(["meeting moved"], split)
    assert report["original"]["rouge1"] == pytest.approx(100)
    assert report["annotations max"]["rouge1"] == pytest.approx(100)
    assert report["annotations mean"]["rouge1"] == pytest.approx(100 / 3)
    assert set(rouge_report(["a"], {"subject": ["a"], "annotations": [[]]})) == {"original"}


def test_bpe_ids_agree_with_the_vocab_and_round_trip():
    texts = ["the meeting is moved to friday", "lunch on friday", "the budget meeting"] * 20
    tokenizer = train_bpe(texts, 300)
    vocab = Vocab(bpe_tokens(tokenizer))
    assert len(vocab) == tokenizer.get_vocab_size()
    assert (vocab.pad_id, vocab.unk_id, vocab.bos_id, vocab.eos_id) == (0, 1, 2, 3)
    ids = tokenizer.encode("the friday meeting").ids
    assert tokenizer.decode(ids) == "the friday meeting"
    assert "".join(vocab.decode(ids)) == "".join(tokenizer.encode("the friday meeting").tokens)
    with pytest.raises(TypeError, match="iterable of texts"):
        train_bpe("one string", 300)
    with pytest.raises(ValueError, match="is not id 0"):
        bpe_tokens(train_bpe(texts, 300, specials=("<s>",)))


def test_summarisation_data_truncates_and_wraps():
    rows = {"body": ["Please review the BUDGET draft before friday noon"] * 4,
            "subject": ["Budget draft"] * 4, "annotations": [[]] * 4}
    dataset = DatasetDict({"train": Dataset.from_dict(rows), "validation": Dataset.from_dict(rows)})
    data, tokenizer = build_summarisation_data(dataset, vocab_size=300, max_source_len=5,
                                               max_target_len=2)
    src, tgt = data["validation"][0]
    assert len(src) == 6 and src[-1] == data.src_vocab.eos_id
    assert tgt[0] == data.tgt_vocab.bos_id and tgt[-1] == data.tgt_vocab.eos_id and len(tgt) <= 4
    assert data.src_vocab is data.tgt_vocab
    full, _ = build_summarisation_data(dataset, vocab_size=300)
    assert tokenizer.decode(full["train"][0][1][1:-1]) == "budget draft"  # lower-cased


@pytest.mark.skipif(not os.environ.get("COURSE_DATA_DIR"), reason="set COURSE_DATA_DIR to the corpus mirror")
def test_aeslc_counts_and_annotations():
    dataset = load_aeslc()
    assert {split: len(dataset[split]) for split in dataset} == {
        "train": 14_436, "validation": 1_960, "test": 1_906}
    first = dataset["validation"][0]
    assert first["subject"] == "Confirmation: Risk Management Simulation Meeting 10/30/01"
    assert first["annotations"] == ["meeting confimation - tues, 8/10", "meeting confirmation",
                                    "meeting confirmed"]
    assert all(row["body"] and row["subject"] for row in dataset["train"])


def test_train_recipe_learns_a_tiny_recipe_and_summarise_decodes_text():
    rows = {"body": ["please review the budget draft", "lunch on friday at noon"] * 4,
            "subject": ["budget draft", "friday lunch"] * 4, "annotations": [[]] * 8}
    dataset = DatasetDict({"train": Dataset.from_dict(rows), "validation": Dataset.from_dict(rows)})
    data, tokenizer = build_summarisation_data(dataset, vocab_size=300)
    recipe = TranslationRecipe("tiny", "13", "transformer",
                               frozen(embed_dim=32, num_heads=2, num_layers=1, ff_dim=64, dropout=0.0, max_len=64),
                               Optimisation(lr=3e-3), batch_size=2)
    lines = []
    model, history = train_encoder_decoder(recipe, data, steps=60, log=lines.append)
    assert history.steps[-1] == 60 and lines[0].endswith("training 60 steps = 15.0 epochs; bfloat16 on the CPU: False")
    losses = history.metric("val_loss")[1]
    assert losses[-1] < 0.5 * losses[0]
    outputs = summarise(model, data["validation"][:2], tokenizer, data.tgt_vocab, beam_size=2)
    assert outputs == ["budget draft", "friday lunch"]
    # a floor of 6 subwords (the decoder's exact rule is tested in test_beam_search) makes the
    # two-word subjects longer
    longer = summarise(model, data["validation"][:2], tokenizer, data.tgt_vocab, beam_size=2, min_len=6)
    assert all(len(text.split()) > len(short.split()) for text, short in zip(longer, outputs, strict=True))
    with pytest.raises(ValueError, match="use one of attention, pointer, transformer"):
        train_aeslc("gpt", data)
    with pytest.raises(ValueError, match="unknown model 'gpt'"):
        train_encoder_decoder(replace(recipe, model="gpt"), data)
