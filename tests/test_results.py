"""The results record (``course_lib.results``) and the README table generated from it."""

import json
import shutil
from pathlib import Path

import pytest

from course_lib import cli, results

FIXTURES = Path(__file__).parent / "fixtures" / "results"


def test_record_appends_lines_with_provenance_and_reads_them_back(tmp_path):
    path = tmp_path / "deeper" / "results.jsonl"
    assert results.read(path) == []  # no record yet: nothing, not an error
    first = results.record("LSTM, 2 x 256", "Tiny Shakespeare chars", "validation", "nats/char", 1.513,
                           chapter="06", parameters=800_000, train_seconds=270.0, path=path)
    results.record("LSTM, 2 x 256", "Tiny Shakespeare chars", "validation", "nats/char", 1.50,
                   chapter="06", path=path, date="2099-01-01 00:00 UTC")
    assert first.date.endswith("UTC") and first.device.startswith("torch ")
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["value"] == 1.513
    record = results.read(path)
    assert record[0] == first
    assert results.latest(record, model="LSTM, 2 x 256", split="validation").value == 1.50
    assert results.latest(record, model="GRU") is None


def test_bad_input_says_what_is_wrong(tmp_path):
    path = tmp_path / "results.jsonl"
    with pytest.raises(TypeError, match="unknown result fields \\['epochs'\\]"):
        results.record("m", "d", "s", "nats", 1.0, epochs=3, path=path)
    with pytest.raises(ValueError, match="value must be a number"):
        results.record("m", "d", "s", "nats", float("nan"), path=path)
    path.write_text('{"model": "m"}\n')
    with pytest.raises(ValueError, match="line 1: not a result"):
        results.read(path)
    with pytest.raises(ValueError, match="no results table"):
        results.update_readme("# no markers", [])


def test_quote_gives_the_figure_or_says_it_is_missing():
    record = results.read(FIXTURES / "record.jsonl")
    text = results.quote(record, model="modified Kneser-Ney, order 7", split="validation")
    assert text == "1.517 nats/char (chapter 01, 2026-12-05, commit bbbbbbb)"
    missing = results.quote(record, model="GRU", split="validation")
    assert missing.startswith("[not measured on this machine yet: GRU, validation. Run the chapter")
    # the chapter is part of a query: another chapter's figure for the same model is not it
    assert results.latest(record, **{**results.BEST_CHAR_NGRAM, "chapter": "14"}).value == 1.5165
    assert results.latest(record, **{**results.BEST_CHAR_NGRAM, "chapter": "02"}) is None
    assert results.latest(record, **results.BEST_CHAR_NGRAM).value == 1.517
    assert "Run chapter 14 in full mode" in results.quote(record, model="m", chapter="14")


def test_readme_table_is_regenerated_from_the_record_keeping_references():
    record = results.read(FIXTURES / "record.jsonl")
    text = results.update_readme((FIXTURES / "README.md").read_text(), record)
    lines = text.splitlines()
    rows = lines[lines.index(results.START) + 3 : lines.index(results.END)]
    # the record lacks the bigram: its row stays as written
    assert rows[0] == "| bigram, counted (ch 01) | names | 2.4540 nats/char | makemore: same |"
    # the record has the 7-gram: the newest figure replaces the typed one, the reference stays
    assert rows[1] == ("| modified Kneser-Ney, order 7 (ch 01) | Tiny Shakespeare chars | 1.517 "
                       "nats/char (validation) (trained 12 s; 2026-12-05, commit bbbbbbb) | KenLM: 1.5 |")
    # a new model gets a new row with an empty reference; the leaderboard's rows are not rows
    assert rows[2:] == ["| GPT, 3 x 256 (benchmarks/gpt_char_shakespeare.py) | Tiny Shakespeare chars | 1.49 "
                        "nats/char (test) (3,449 steps; 2026-12-05, commit ccccccc) | |"]
    # the race table: one row per model, each figure its newest, and the costs
    race = lines[lines.index(results.RACE_START) + 3 : lines.index(results.RACE_END)]
    assert race == [
        "| LSTM | Tiny Shakespeare chars | 1.612 nats/char (validation); 1.58 nats/char (test) | 812,345 | 10.0 min "
        "| 1.23e+14 | 2,346 characters/s |",
        "| Transformer | Multi30k de→en | BLEU greedy 30.12 | 9,000,000 | 10.0 min | 5.00e+15 | 41 sentences/s |",
    ]
    assert f"After the table.\n\n{results.RACE_START}\n{results.RACE_HEADER}\n| LSTM |" in text
    assert text.endswith(f"sentences/s |\n{results.RACE_END}\n\nThe end.\n")
    assert results.update_readme(text, record) == text  # regenerating again changes nothing
    # without race figures the race table stays as written
    no_race = [r for r in record if r.chapter != results.RACE]
    assert "(the race has not run yet)" in results.update_readme((FIXTURES / "README.md").read_text(), no_race)


def test_course_results_table_rewrites_the_readme(tmp_path, capsys):
    readme = tmp_path / "README.md"
    shutil.copy(FIXTURES / "README.md", readme)
    record = str(FIXTURES / "record.jsonl")
    assert cli.main(["results", "table", "--record", record, "--readme", str(readme)]) == 0
    assert "1.517 nats/char (validation)" in readme.read_text()
    assert cli.main(["results", "table", "--record", record]) == 0
    assert "| GPT, 3 x 256 (benchmarks/gpt_char_shakespeare.py) |" in capsys.readouterr().out
